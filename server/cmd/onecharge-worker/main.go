//go:build js && wasm && workers

// Command onecharge-worker is onecharge on Cloudflare Workers: the server's
// router, PostgreSQL store and Stripe adapter compiled for GOOS=js
// GOARCH=wasm and served through github.com/syumai/workers. Build it with
// `make worker`; package server/worker documents what it does and how it
// differs from the native server, README.md how to deploy it.
//
// The runtime starts this program once per request: main builds the
// handler from the request's env, serves that one request, then closes
// the database connection.
package main

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"syscall/js"

	"github.com/syumai/workers"
	"github.com/syumai/workers/cloudflare"
	"github.com/syumai/workers/cloudflare/fetch"

	"github.com/onecharge/onecharge/server/postgres/cfsocket"
	"github.com/onecharge/onecharge/server/worker"
)

// hyperdriveBinding is the name of the Hyperdrive binding in wrangler.toml.
const hyperdriveBinding = "HYPERDRIVE"

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h, release := worker.New(context.Background(), worker.Env{
		Getenv:        cloudflare.Getenv,
		HyperdriveURL: hyperdriveURL(),
		Configure:     cfsocket.Configure,
		HTTPClient:    stripeClient(),
		Logger:        logger,
	})
	workers.Serve(worker.JoinSplitHeaders(h))
	release()
}

// stripeClient sends stripe-go's requests through the Workers fetch API
// (Go's own transport panics in workerd with "Illegal invocation").
func stripeClient() *http.Client {
	c := fetch.NewClient().HTTPClient(fetch.RedirectModeFollow)
	c.Transport = worker.NoBodyOnGet(c.Transport)
	return c
}

// hyperdriveURL is the Hyperdrive binding's connection string, "" without one.
func hyperdriveURL() string {
	b := cloudflare.GetBinding(hyperdriveBinding)
	if b.Type() != js.TypeObject {
		return ""
	}
	s := b.Get("connectionString")
	if s.Type() != js.TypeString {
		return ""
	}
	return s.String()
}
