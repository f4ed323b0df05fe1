package migrate_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/onecharge/onecharge/server/postgres"
	"github.com/onecharge/onecharge/server/postgres/migrate"
	"github.com/onecharge/onecharge/server/postgres/pgtest"
	"github.com/onecharge/onecharge/server/storetest"
)

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func schemaVersion(t *testing.T, conn *pgx.Conn) int {
	t.Helper()
	var v int
	require.NoError(t, conn.QueryRow(context.Background(), "select version from "+postgres.VersionTable).Scan(&v))
	return v
}

func TestUp(t *testing.T) {
	ctx := context.Background()
	t.Run("MigrateTwice", func(t *testing.T) {
		t.Parallel()
		url := pgtest.URL(t) // a copy of the migrated template
		conn := connect(t, url)
		want := schemaVersion(t, conn)
		require.GreaterOrEqual(t, want, 2)
		for i := 0; i < 2; i++ {
			require.NoError(t, migrate.Up(ctx, url, nil), "applying the migrations again is a no-op")
		}
		assert.Equal(t, want, schemaVersion(t, conn))
		var n int
		require.NoError(t, conn.QueryRow(ctx, "select count(*) from products").Scan(&n))
		assert.Equal(t, len(storetest.Catalog()), n, "the catalog is inserted once")
	})
	t.Run("ConcurrentStart", func(t *testing.T) {
		t.Parallel()
		url := pgtest.URL(t)
		conn := connect(t, url)
		want := schemaVersion(t, conn)
		// Back to an empty database, then five processes start together.
		_, err := conn.Exec(ctx, "drop schema public cascade; create schema public")
		require.NoError(t, err)
		var g errgroup.Group
		for i := 0; i < 5; i++ {
			g.Go(func() error { return migrate.Up(ctx, url, nil) })
		}
		require.NoError(t, g.Wait())
		assert.Equal(t, want, schemaVersion(t, conn))
		var n int
		require.NoError(t, conn.QueryRow(ctx, "select count(*) from products").Scan(&n))
		assert.Equal(t, len(storetest.Catalog()), n)
		// The store opens on the result.
		db, err := postgres.Open(ctx, postgres.Config{URL: url})
		require.NoError(t, err)
		defer db.Close()
		_, err = db.Products(ctx)
		require.NoError(t, err)
	})
	t.Run("ErrInvalidURL", func(t *testing.T) {
		err := migrate.Up(ctx, "postgres://u:secret@host:notaport/db", nil)
		require.Error(t, err)
		assert.NotContains(t, err.Error(), "secret")
	})
	t.Run("ErrUnavailable", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		err := migrate.Up(ctx, "postgres://u:secret@127.0.0.1:1/db?connect_timeout=5", nil)
		require.Error(t, err)
		assert.NotContains(t, err.Error(), "secret")
		var perr *postgres.Error
		assert.True(t, errors.As(err, &perr))
	})
}
