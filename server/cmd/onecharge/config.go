package main

import (
	"crypto/rand"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// config is the server's configuration, read from the environment only.
type config struct {
	Port                 int
	DatabaseURL          string // "" = in-memory store
	StripeSecretKey      string // "" = embedded simulator
	StripePublishableKey string
	StripeWebhookSecret  string
	StripeAPIBase        string
	SessionSecret        []byte
	SessionSecretRandom  bool // true when SESSION_SECRET was unset
	KeyTTL               time.Duration
}

// configVars lists every variable the server reads.
var configVars = []string{"PORT", "DATABASE_URL", "STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY",
	"STRIPE_WEBHOOK_SECRET", "STRIPE_API_BASE", "SESSION_SECRET", "KEY_TTL"}

// loadConfig reads and checks the environment. Its errors are one line,
// naming the variable.
func loadConfig(getenv func(string) string) (config, error) {
	c := config{Port: 8080, KeyTTL: 24 * time.Hour}
	if v := getenv("PORT"); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 0 || p > 65535 {
			return c, fmt.Errorf("PORT=%q: want a port number 0..65535", v)
		}
		c.Port = p
	}
	if v := getenv("DATABASE_URL"); v != "" {
		if _, err := pgxpool.ParseConfig(v); err != nil {
			return c, fmt.Errorf("DATABASE_URL: not a PostgreSQL connection string: %s", oneLine(err.Error()))
		}
		c.DatabaseURL = v
	}
	if v := getenv("STRIPE_SECRET_KEY"); v != "" {
		if !strings.HasPrefix(v, "sk_") && !strings.HasPrefix(v, "rk_") {
			return c, fmt.Errorf("STRIPE_SECRET_KEY: want a secret key starting sk_ or rk_")
		}
		c.StripeSecretKey = v
	}
	if v := getenv("STRIPE_PUBLISHABLE_KEY"); v != "" {
		if !strings.HasPrefix(v, "pk_") {
			return c, fmt.Errorf("STRIPE_PUBLISHABLE_KEY: want a publishable key starting pk_")
		}
		c.StripePublishableKey = v
	}
	if v := getenv("STRIPE_WEBHOOK_SECRET"); v != "" {
		if !strings.HasPrefix(v, "whsec_") {
			return c, fmt.Errorf("STRIPE_WEBHOOK_SECRET: want a signing secret starting whsec_")
		}
		c.StripeWebhookSecret = v
	}
	if v := getenv("STRIPE_API_BASE"); v != "" {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return c, fmt.Errorf("STRIPE_API_BASE=%q: want an absolute http(s) URL", v)
		}
		if c.StripeSecretKey == "" {
			return c, fmt.Errorf("STRIPE_API_BASE is set but STRIPE_SECRET_KEY is not: the embedded simulator needs neither")
		}
		c.StripeAPIBase = strings.TrimRight(v, "/")
	}
	if v := getenv("SESSION_SECRET"); v != "" {
		if len(v) < 32 {
			return c, fmt.Errorf("SESSION_SECRET: want at least 32 characters, got %d", len(v))
		}
		c.SessionSecret = []byte(v)
	} else {
		c.SessionSecret = make([]byte, 32)
		if _, err := rand.Read(c.SessionSecret); err != nil {
			return c, fmt.Errorf("SESSION_SECRET: cannot draw a random one: %v", err)
		}
		c.SessionSecretRandom = true
	}
	if v := getenv("KEY_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("KEY_TTL=%q: want a positive duration such as 24h or 90m", v)
		}
		c.KeyTTL = d
	}
	return c, nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
