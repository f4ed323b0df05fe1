// Package modeltest holds the model-based randomized test of onecharge
// (pgregory.net/rapid, state-machine style: rapid.T.Repeat). The package
// has no code outside its tests.
//
// Each rapid check builds the whole server with testenv (the memory store
// or a fresh PostgreSQL database, the Stripe simulator behind stripe-go,
// the fake clock), two or three shoppers (each its own cookie jar, so its
// own user; each with a raw tab and, drawn, a tab driven by the real client
// lifecycle of shared/keyflow), and then draws a sequence of steps:
// validations with and without key or nonce, edited carts, both card
// methods, other users' keys, unknown and stale keys, bad requests,
// concurrent duplicates, PUT /api/cart, hosted checkouts and their payment,
// confirmations at the simulator (visa, declined, 3-D Secure completed or
// failed), back-office status changes, webhooks delivered in order, out of
// order, late, twice or never (a relay holds every event the simulator
// sends), the simulator's own webhook modes, Stripe faults (5xx, dropped
// responses, latency), clock jumps past KEY_TTL, the lock lease and the
// 5 s liveness bound, requests killed before or after a Stripe call, and a
// request overtaken while it waits on Stripe. After every step it checks
// the invariants I1–I6 of CONTRACT.md 5a against the store (read directly
// through inspect_test.go), the simulator and the HTTP API, plus the rules
// of section 5 that a single answer can break (rules 1, 3, 4, 5 and 7).
//
// Running it:
//
//	go test ./server/modeltest/                       # memory; PostgreSQL needs TEST_DATABASE_URL
//	scripts/with-postgres.sh go test -count=1 ./server/modeltest/
//	make soak SOAK=10m                                # each store for SOAK, with -v
//	go test ./server/modeltest/ -rapid.checks=200 -rapid.steps=80
//
// Bounded (make test): 30 checks on memory and 20 on PostgreSQL, about 40
// steps each (-rapid.checks and -rapid.steps, or RAPID_CHECKS and
// RAPID_STEPS, override them). ONECHARGE_SOAK=10m runs checks in batches
// until that time has passed, on each store. Both print (-v) how many
// checks and steps ran. A failure prints the shrunk sequence of steps and
// the -rapid.seed (or fail file under testdata/rapid/) that replays it.
//
// ONECHARGE_MODEL_ONLY and ONECHARGE_MODEL_WITHOUT (comma-separated
// action names) narrow the draw, to look past a defect already found; the
// checks stay the same. Nothing sets them by default.
package modeltest
