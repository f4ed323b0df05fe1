// Package worker assembles onecharge's HTTP handler for one Cloudflare
// Worker request: the same router (httpapi), service (checkoutsvc),
// PostgreSQL store (postgres) and Stripe adapter (stripepay) as the native
// server, configured by the same loader (config.Load) from the Worker's
// env vars and secrets.
//
// Every request runs in a fresh Go instance (github.com/syumai/workers
// starts the WebAssembly module per request), so nothing lives in memory
// between requests: there is no memory store and no Stripe simulator, the
// pool holds one connection, opened on the first query and closed when
// the request ends. What differs from the native server:
//
//   - The database is the Hyperdrive binding's connection string when the
//     Worker has one, else the DATABASE_URL secret. Without either, every
//     route but /healthz answers 503 not_configured, saying so.
//   - STRIPE_SECRET_KEY and SESSION_SECRET are required (a random session
//     secret would end every session with its request); other invalid
//     configuration also answers 503, with the one-line reason in the
//     Worker's log.
//   - Migrations are never applied here: run `onecharge migrate`.
//   - The storefront is served by Workers static assets, not by Go.
//
// The package is plain Go (the Workers runtime is reached through the
// Env's functions), so it is tested natively; cmd/onecharge-worker wires
// it to syumai/workers.
package worker

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/onecharge/onecharge/server/checkoutsvc"
	"github.com/onecharge/onecharge/server/config"
	"github.com/onecharge/onecharge/server/httpapi"
	"github.com/onecharge/onecharge/server/postgres"
	"github.com/onecharge/onecharge/server/stripepay"
	"github.com/onecharge/onecharge/shared/checkout"
)

// CodeNotConfigured is the error code of the 503 a Worker without a usable
// configuration answers.
const CodeNotConfigured checkout.Code = "not_configured"

// Messages of the 503 answers.
const (
	MessageNoDatabase    = "No database is configured: bind a Hyperdrive configuration as HYPERDRIVE or set the DATABASE_URL secret (see README, Deploying to Cloudflare Workers)."
	MessageMisconfigured = "The server is misconfigured; the Worker's log says why."
)

// Env is what one request's Worker instance offers.
type Env struct {
	// Getenv reads the Worker's env vars and secrets.
	Getenv func(string) string
	// HyperdriveURL is the Hyperdrive binding's connection string, "" when
	// the Worker has no binding. It takes precedence over DATABASE_URL.
	HyperdriveURL string
	// Configure adjusts the PostgreSQL connection configuration (the
	// Worker dials through cloudflare:sockets, cfsocket.Configure).
	Configure func(*pgconn.Config)
	// HTTPClient sends the Stripe API requests (the Workers fetch client:
	// Go's own transport does not work in workerd).
	HTTPClient *http.Client
	Logger     *slog.Logger
}

// New returns the handler for one request and the function that releases
// what it holds (the database connection), to be called when the response
// is complete. It never fails: a configuration that cannot serve becomes
// a handler that answers 503.
func New(ctx context.Context, env Env) (http.Handler, func()) {
	logger := env.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	getenv := env.Getenv
	if env.HyperdriveURL != "" {
		getenv = func(name string) string {
			if name == "DATABASE_URL" {
				return env.HyperdriveURL
			}
			return env.Getenv(name)
		}
	}
	cfg, err := config.Load(getenv)
	if err == nil {
		err = required(cfg)
	}
	if err != nil {
		logger.Error("configuration: " + err.Error())
		return unavailable(MessageMisconfigured), func() {}
	}
	if cfg.DatabaseURL == "" {
		logger.Error("configuration: no database (HYPERDRIVE binding or DATABASE_URL secret)")
		return unavailable(MessageNoDatabase), func() {}
	}

	db, err := postgres.Open(ctx, postgres.Config{URL: cfg.DatabaseURL, MaxConns: 1, Logger: logger, Configure: env.Configure})
	if err != nil {
		logger.Error("database: " + err.Error())
		return unavailable(MessageMisconfigured), func() {}
	}
	gateway, err := stripepay.New(stripepay.Config{
		SecretKey:     cfg.StripeSecretKey,
		WebhookSecret: cfg.StripeWebhookSecret,
		APIBase:       cfg.StripeAPIBase,
		HTTPClient:    env.HTTPClient,
		Logger:        logger,
	})
	if err != nil {
		db.Close()
		logger.Error("stripe: " + err.Error())
		return unavailable(MessageMisconfigured), func() {}
	}
	stripeCfg := checkout.StripeConfig{PublishableKey: cfg.StripePublishableKey, APIBase: "https://api.stripe.com"}
	if cfg.StripeAPIBase != "" {
		stripeCfg.APIBase = cfg.StripeAPIBase
	}
	svc := checkoutsvc.New(checkoutsvc.Service{Store: db, Gateway: gateway, Logger: logger, KeyTTL: cfg.KeyTTL})
	h := httpapi.NewHandler(httpapi.Config{
		Service: svc,
		Auth:    &httpapi.CookieAuth{Secret: cfg.SessionSecret},
		Logger:  logger,
		Stripe:  stripeCfg,
	})
	return h, db.Close
}

// required checks what the Worker needs beyond config.Load's rules.
func required(cfg config.Config) error {
	switch {
	case cfg.StripeSecretKey == "":
		return errors.New("STRIPE_SECRET_KEY is required on Workers (no simulator runs in a Worker)")
	case cfg.SessionSecretRandom:
		return errors.New("SESSION_SECRET is required on Workers (a random one would end every session with its request)")
	}
	return nil
}

// unavailable answers every route but /healthz with 503 not_configured.
func unavailable(message string) http.Handler {
	body, _ := json.Marshal(checkout.ErrorBody{Error: checkout.ErrorDetail{Code: CodeNotConfigured, Message: message}})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if r.URL.Path == "/healthz" {
			w.WriteHeader(http.StatusOK)
			w.Write([]byte(`{"status":"ok"}` + "\n"))
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write(append(body, '\n'))
	})
}
