// Command stripesim runs the Stripe simulator (package stripesim) as a
// server of its own, so that several onecharge replicas share one
// simulated Stripe: its API at /v1/, its hosted pages (3D Secure
// challenges, Checkout) at their paths, webhooks to every replica.
// Configuration is environment only:
//
//	PORT                       default 12111; 0 picks a free port
//	STRIPESIM_SECRET_KEY       sk_test_…; default drawn at random and printed
//	STRIPESIM_PUBLISHABLE_KEY  pk_test_…; default pk_test_simulator
//	STRIPESIM_WEBHOOK_SECRET   whsec_…; default drawn at random and printed
//	STRIPESIM_WEBHOOK_URL      one or more absolute http(s) URLs, comma separated
//
// Each replica then runs with STRIPE_SECRET_KEY, STRIPE_API_BASE (the URL
// printed on start-up), STRIPE_PUBLISHABLE_KEY and STRIPE_WEBHOOK_SECRET,
// as with Stripe. The last line printed at start-up is
// "stripesim listening on http://localhost:PORT".
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/onecharge/onecharge/server/internal/serve"
	"github.com/onecharge/onecharge/server/stripesim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "stripesim: %v\n", err)
		os.Exit(1)
	}
}

// run starts the simulator and serves until ctx is done, then shuts down
// gracefully.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("unexpected arguments %q: configuration is environment only (%s)", args, strings.Join(configVars, ", "))
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	a, err := start(cfg, logger)
	if err != nil {
		return err
	}
	if cfg.SecretKeyRandom {
		fmt.Fprintf(stdout, "stripesim secret key (random, set STRIPESIM_SECRET_KEY to choose it): %s\n", cfg.SecretKey)
	}
	if cfg.WebhookSecretRandom {
		fmt.Fprintf(stdout, "stripesim webhook secret (random, set STRIPESIM_WEBHOOK_SECRET to choose it): %s\n", cfg.WebhookSecret)
	}
	fmt.Fprintf(stdout, "stripesim publishable key: %s\n", cfg.PublishableKey)
	if len(cfg.WebhookURLs) == 0 {
		fmt.Fprintln(stdout, "stripesim webhook endpoints: none (set STRIPESIM_WEBHOOK_URL)")
	} else {
		fmt.Fprintf(stdout, "stripesim webhook endpoints: %s\n", strings.Join(cfg.WebhookURLs, ", "))
	}
	fmt.Fprintf(stdout, "stripesim listening on %s\n", a.URL())
	return a.Wait(ctx)
}

// app is a started simulator.
type app struct {
	ln   net.Listener
	http *serve.Server

	Sim *stripesim.Sim
}

// start opens the listener (its error is returned here, synchronously) and
// serves the simulator at the root.
func start(cfg config, logger *slog.Logger) (*app, error) {
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(cfg.Port))
	if err != nil {
		return nil, fmt.Errorf("PORT=%d: %w", cfg.Port, err)
	}
	a := &app{ln: ln}
	a.Sim = stripesim.New(stripesim.Config{
		SecretKey:      cfg.SecretKey,
		PublishableKey: cfg.PublishableKey,
		WebhookSecret:  cfg.WebhookSecret,
		WebhookURLs:    cfg.WebhookURLs,
		PathPrefix:     "/",
		Logger:         logger,
	})
	a.http = serve.Start(ln, a.Sim, logger)
	logger.Info("listening", "url", a.URL(), "webhook_endpoints", len(cfg.WebhookURLs))
	return a, nil
}

// URL is the simulator's base URL (STRIPE_API_BASE), on loopback.
func (a *app) URL() string { return serve.URL(a.ln) }

// Wait serves until ctx is done, then shuts down: in-flight requests get
// serve.ShutdownGrace to finish, then webhook deliveries still pending are
// abandoned.
func (a *app) Wait(ctx context.Context) error {
	err := a.http.Wait(ctx)
	a.Sim.Close()
	return err
}
