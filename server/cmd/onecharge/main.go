// Command onecharge is the onecharge server: the checkout API, the Stripe
// webhook, the storefront in web/ and, without STRIPE_SECRET_KEY, the
// embedded Stripe simulator under /_stripe. Configuration is environment
// only (see README.md).
//
// `onecharge migrate` applies the PostgreSQL migrations to DATABASE_URL and
// exits (the Cloudflare Worker never migrates; the server also migrates at
// start-up, in the background: it listens at once and, while the database
// is unreachable, answers /readyz with 503 and retries; see database.go).
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/onecharge/onecharge/server/checkoutsvc"
	"github.com/onecharge/onecharge/server/config"
	"github.com/onecharge/onecharge/server/httpapi"
	"github.com/onecharge/onecharge/server/internal/serve"
	"github.com/onecharge/onecharge/server/memstore"
	"github.com/onecharge/onecharge/server/metrics"
	"github.com/onecharge/onecharge/server/postgres/migrate"
	"github.com/onecharge/onecharge/server/stripepay"
	"github.com/onecharge/onecharge/server/stripesim"
	"github.com/onecharge/onecharge/shared/checkout"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "onecharge: %v\n", err)
		os.Exit(1)
	}
}

// run starts the server and serves until ctx is done, then shuts down
// gracefully.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "migrate" {
		return runMigrate(ctx, args[1:], getenv, stdout, stderr)
	}
	flags := flag.NewFlagSet("onecharge", flag.ContinueOnError)
	flags.SetOutput(stderr)
	webDir := flags.String("web", "web", "directory of the storefront served at /")
	if err := flags.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	a, err := start(ctx, cfg, *webDir, logger)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "onecharge listening on %s\n", a.URL())
	return a.Wait(ctx)
}

// runMigrate is `onecharge migrate`: apply the migrations to DATABASE_URL
// and exit.
func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("migrate: unexpected argument %q (configuration is DATABASE_URL only)", args[0])
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	if cfg.DatabaseURL == "" {
		return errors.New("migrate: DATABASE_URL is not set")
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := migrate.Up(ctx, cfg.DatabaseURL, logger); err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	fmt.Fprintln(stdout, "onecharge: migrations applied")
	return nil
}

// app is a started server.
type app struct {
	ln      net.Listener
	http    *serve.Server
	closers []func()

	Service *checkoutsvc.Service
	Sim     *stripesim.Sim // nil with real Stripe
}

// URL is the server's base URL, on loopback.
func (a *app) URL() string { return serve.URL(a.ln) }

// Wait serves until ctx is done, then shuts down (in-flight requests get
// serve.ShutdownGrace to finish) and closes what start opened.
func (a *app) Wait(ctx context.Context) error {
	err := a.http.Wait(ctx)
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	return err
}

// start opens the store, the payment gateway and the listener. A listen
// error is returned here, synchronously.
func start(ctx context.Context, cfg config.Config, webDir string, logger *slog.Logger) (_ *app, err error) {
	a := &app{}
	defer func() {
		if err != nil {
			for i := len(a.closers) - 1; i >= 0; i-- {
				a.closers[i]()
			}
		}
	}()
	if cfg.SessionSecretRandom {
		logger.Warn("SESSION_SECRET is unset: using a random one, so sessions end when the server restarts")
	}

	a.ln, err = net.Listen("tcp", ":"+strconv.Itoa(cfg.Port))
	if err != nil {
		return nil, fmt.Errorf("PORT=%d: %w", cfg.Port, err)
	}
	a.closers = append(a.closers, func() { a.ln.Close() })
	port := a.ln.Addr().(*net.TCPAddr).Port

	var store checkoutsvc.Store
	if cfg.DatabaseURL != "" {
		// Listening comes first: the migrations are applied in the
		// background, retried until the database answers (database.go).
		db, err := openDatabase(ctx, cfg.DatabaseURL, logger)
		if err != nil {
			return nil, fmt.Errorf("DATABASE_URL: %w", err)
		}
		a.closers = append(a.closers, db.Close)
		store = db.DB
	} else {
		store = memstore.New()
		logger.Info("store: in memory (set DATABASE_URL for PostgreSQL)")
	}

	stripeCfg := checkout.StripeConfig{PublishableKey: cfg.StripePublishableKey, APIBase: "https://api.stripe.com"}
	payCfg := stripepay.Config{SecretKey: cfg.StripeSecretKey, WebhookSecret: cfg.StripeWebhookSecret, APIBase: cfg.StripeAPIBase, Logger: logger}
	var simHandler http.Handler
	if cfg.StripeSecretKey == "" {
		// The simulator is mounted on this very server; stripe-go reaches
		// it over loopback exactly as it would reach Stripe.
		secret := cfg.StripeWebhookSecret
		if secret == "" {
			secret = "whsec_" + randomHex(24)
		}
		local := "http://127.0.0.1:" + strconv.Itoa(port)
		a.Sim = stripesim.New(stripesim.Config{
			WebhookSecret: secret,
			WebhookURL:    local + "/api/stripe/webhook",
			Logger:        logger,
		})
		a.closers = append(a.closers, func() { a.Sim.Close() })
		simHandler = a.Sim
		payCfg = stripepay.Config{SecretKey: a.Sim.SecretKey(), WebhookSecret: secret, APIBase: local + "/_stripe", Logger: logger}
		stripeCfg = checkout.StripeConfig{PublishableKey: a.Sim.PublishableKey(), APIBase: "/_stripe", Simulated: true}
		logger.Info("payments are simulated: embedded Stripe simulator at /_stripe (set STRIPE_SECRET_KEY for Stripe)")
	} else {
		if cfg.StripeAPIBase != "" {
			stripeCfg.APIBase = cfg.StripeAPIBase
		}
		if cfg.StripeWebhookSecret == "" {
			logger.Warn("STRIPE_WEBHOOK_SECRET is unset: every webhook will be rejected; payments are then learned only by re-reading PaymentIntents")
		}
	}
	gateway, err := stripepay.New(payCfg)
	if err != nil {
		return nil, fmt.Errorf("stripe: %w", err)
	}

	m := metrics.New()
	a.Service = checkoutsvc.New(checkoutsvc.Service{Store: store, Gateway: gateway, Logger: logger, Metrics: m, KeyTTL: cfg.KeyTTL})
	// The reaper runs on every replica; the store's lock lets one reap at
	// a time.
	reapCtx, stopReaper := context.WithCancel(context.WithoutCancel(ctx))
	reaper := &checkoutsvc.Reaper{Service: a.Service, Interval: cfg.ReapInterval, Retention: cfg.Retention}
	reaped := make(chan struct{})
	go func() { defer close(reaped); reaper.Run(reapCtx) }()
	a.closers = append(a.closers, func() { stopReaper(); <-reaped })
	handler := httpapi.NewHandler(httpapi.Config{
		Service:        a.Service,
		Auth:           &httpapi.CookieAuth{Secret: cfg.SessionSecret},
		Logger:         logger,
		Web:            os.DirFS(webDir),
		Stripe:         stripeCfg,
		StripeSim:      simHandler,
		Metrics:        m,
		MetricsHandler: m.Handler(),
	})
	if _, err := os.Stat(webDir); err != nil {
		logger.Warn("storefront directory missing: / serves nothing until `make build` creates the bundle", "dir", webDir)
	}
	a.http = serve.Start(a.ln, handler, logger)
	logger.Info("listening", "url", a.URL())
	return a, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
