// Package config reads onecharge's configuration (CONTRACT.md section 1)
// from one source, a getenv function: the process environment for the
// native server (os.Getenv), the Worker's env vars and secrets on
// Cloudflare Workers. Both binaries call [Load], so a variable means the
// same thing, with the same defaults and checks, wherever it is read.
//
// Every error is one line naming the variable; a value that is set but
// invalid is an error, never silently replaced by a default.
package config

import (
	"crypto/rand"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Defaults and bounds.
const (
	DefaultPort         = 8080
	DefaultKeyTTL       = 24 * time.Hour
	DefaultReapInterval = 5 * time.Minute
	DefaultRetention    = 720 * time.Hour
	// MinRetention: Stripe retries a webhook for three days, so an
	// applied event id must be kept at least that long.
	MinRetention = 72 * time.Hour
)

// Vars lists every variable Load reads.
var Vars = []string{"PORT", "DATABASE_URL", "STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY",
	"STRIPE_WEBHOOK_SECRET", "STRIPE_API_BASE", "SESSION_SECRET", "KEY_TTL", "REAP_INTERVAL", "RETENTION"}

// Config is onecharge's configuration.
type Config struct {
	Port                 int
	DatabaseURL          string // "" = no database (in-memory store on the native server)
	StripeSecretKey      string // "" = embedded simulator on the native server
	StripePublishableKey string
	StripeWebhookSecret  string
	StripeAPIBase        string // without a trailing slash; "" = Stripe
	SessionSecret        []byte
	SessionSecretRandom  bool // true when SESSION_SECRET was unset
	KeyTTL               time.Duration
	ReapInterval         time.Duration
	Retention            time.Duration
}

// Load reads and checks the configuration from getenv.
func Load(getenv func(string) string) (Config, error) {
	c := Config{Port: DefaultPort, KeyTTL: DefaultKeyTTL, ReapInterval: DefaultReapInterval, Retention: DefaultRetention}
	if v := getenv("PORT"); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 0 || p > 65535 {
			return c, fmt.Errorf("PORT=%q: want a port number 0..65535", v)
		}
		c.Port = p
	}
	if v := getenv("DATABASE_URL"); v != "" {
		if _, err := pgxpool.ParseConfig(v); err != nil {
			// pgconn's message quotes the URL with its password masked.
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
	var err error
	if c.KeyTTL, err = duration(getenv, "KEY_TTL", c.KeyTTL, time.Nanosecond); err != nil {
		return c, err
	}
	if c.ReapInterval, err = duration(getenv, "REAP_INTERVAL", c.ReapInterval, time.Second); err != nil {
		return c, err
	}
	if c.Retention, err = duration(getenv, "RETENTION", c.Retention, MinRetention); err != nil {
		return c, err
	}
	return c, nil
}

// duration reads a duration of at least min; unset is def.
func duration(getenv func(string) string, name string, def, min time.Duration) (time.Duration, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s=%q: want a positive duration such as %s", name, v, example(def))
	}
	if d < min {
		return 0, fmt.Errorf("%s=%q: want at least %s", name, v, example(min))
	}
	return d, nil
}

// example prints a duration the way a person would write it (24h, 5m).
func example(d time.Duration) string {
	s := d.String()
	s = strings.TrimSuffix(s, "0s")
	s = strings.TrimSuffix(s, "0m")
	if s == "" {
		return d.String()
	}
	return s
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
