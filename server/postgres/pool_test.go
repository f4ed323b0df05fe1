package postgres_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onecharge/onecharge/server/postgres"
	"github.com/onecharge/onecharge/server/postgres/migrate"
	"github.com/onecharge/onecharge/server/postgres/pgtest"
)

// The pool connects lazily: its size is known without a database.
func TestPoolSize(t *testing.T) {
	const url = "postgres://u@127.0.0.1:1/db?sslmode=disable"
	for _, c := range []struct {
		name string
		cfg  postgres.Config
		want int32
	}{
		{"Default", postgres.Config{URL: url}, postgres.DefaultMaxConns},
		{"URL", postgres.Config{URL: url + "&pool_max_conns=3"}, 3},
		{"Config", postgres.Config{URL: url + "&pool_max_conns=3", MaxConns: 5}, 5},
	} {
		t.Run(c.name, func(t *testing.T) {
			db, err := postgres.Open(context.Background(), c.cfg)
			require.NoError(t, err)
			defer db.Close()
			assert.Equal(t, c.want, postgres.PoolMaxConns(db))
		})
	}
}

// DATABASE_URL may carry the pool's parameters: the store's pool takes
// them, and migrating over the same URL does not send them to the server
// as settings.
func TestPoolParamsMigrate(t *testing.T) {
	url := pgtest.URL(t)
	if strings.Contains(url, "?") {
		url += "&pool_max_conns=7"
	} else {
		url += "?pool_max_conns=7"
	}
	require.NoError(t, migrate.Up(context.Background(), url, nil))
	db, err := postgres.Open(context.Background(), postgres.Config{URL: url})
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.Ping(context.Background()))
	assert.Equal(t, int32(7), postgres.PoolMaxConns(db))
}
