package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onecharge/onecharge/server/config"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoad(t *testing.T) {
	t.Run("Defaults", func(t *testing.T) {
		c, err := config.Load(envOf(nil))
		require.NoError(t, err)
		assert.Equal(t, 8080, c.Port)
		assert.Equal(t, 24*time.Hour, c.KeyTTL)
		assert.Equal(t, 5*time.Minute, c.ReapInterval)
		assert.Equal(t, 720*time.Hour, c.Retention)
		assert.Empty(t, c.DatabaseURL)
		assert.Empty(t, c.StripeSecretKey)
		assert.True(t, c.SessionSecretRandom)
		assert.Len(t, c.SessionSecret, 32)
	})
	t.Run("OK", func(t *testing.T) {
		c, err := config.Load(envOf(map[string]string{
			"PORT": "9090", "DATABASE_URL": "postgres://u@localhost:5432/db", "STRIPE_SECRET_KEY": "sk_test_123",
			"STRIPE_WEBHOOK_SECRET": "whsec_abc", "STRIPE_API_BASE": "http://localhost:12111/", "SESSION_SECRET": strings.Repeat("s", 32),
			"KEY_TTL": "90m", "STRIPE_PUBLISHABLE_KEY": "pk_test_1", "REAP_INTERVAL": "30s", "RETENTION": "72h",
		}))
		require.NoError(t, err)
		assert.Equal(t, 9090, c.Port)
		assert.Equal(t, "http://localhost:12111", c.StripeAPIBase)
		assert.Equal(t, 90*time.Minute, c.KeyTTL)
		assert.Equal(t, 30*time.Second, c.ReapInterval)
		assert.Equal(t, 72*time.Hour, c.Retention)
		assert.False(t, c.SessionSecretRandom)
	})
	bad := map[string]map[string]string{
		"PORT":                   {"PORT": "http"},
		"PORTRange":              {"PORT": "70000"},
		"DATABASE_URL":           {"DATABASE_URL": "postgres://%zz"},
		"STRIPE_SECRET_KEY":      {"STRIPE_SECRET_KEY": "pk_live_x"},
		"STRIPE_PUBLISHABLE_KEY": {"STRIPE_PUBLISHABLE_KEY": "sk_test_x"},
		"STRIPE_WEBHOOK_SECRET":  {"STRIPE_WEBHOOK_SECRET": "secret"},
		"STRIPE_API_BASE":        {"STRIPE_SECRET_KEY": "sk_test_1", "STRIPE_API_BASE": "localhost:12111"},
		"STRIPE_API_BASEAlone":   {"STRIPE_API_BASE": "http://localhost:12111"},
		"SESSION_SECRET":         {"SESSION_SECRET": "short"},
		"KEY_TTL":                {"KEY_TTL": "1 day"},
		"KEY_TTLNegative":        {"KEY_TTL": "-1h"},
		"REAP_INTERVAL":          {"REAP_INTERVAL": "often"},
		"REAP_INTERVALRange":     {"REAP_INTERVAL": "10ms"},
		"RETENTION":              {"RETENTION": "30"},
		"RETENTIONRange":         {"RETENTION": "71h"},
	}
	for name, env := range bad {
		t.Run("Err"+name, func(t *testing.T) {
			_, err := config.Load(envOf(env))
			require.Error(t, err)
			assert.NotContains(t, err.Error(), "\n", "start-up errors are one line")
			assert.Contains(t, err.Error(), strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "Range"), "Alone"), "Negative"))
		})
	}
	t.Run("ErrDatabaseURLHidesPassword", func(t *testing.T) {
		_, err := config.Load(envOf(map[string]string{"DATABASE_URL": "postgres://u:hunter2@host:notaport/db"}))
		require.Error(t, err)
		assert.NotContains(t, err.Error(), "hunter2")
	})
	t.Run("RetentionMessage", func(t *testing.T) {
		_, err := config.Load(envOf(map[string]string{"RETENTION": "1h"}))
		require.EqualError(t, err, `RETENTION="1h": want at least 72h`)
	})
}
