// Package workertest runs onecharge's Cloudflare Worker under workerd
// (`wrangler dev --local`, offline) against a throwaway PostgreSQL and the
// standalone Stripe simulator (server/cmd/stripesim), and runs the HTTP
// contract suite (server/contracttest) against the Worker's URL; the
// simulator delivers its signed webhooks to the Worker.
//
// [Build] builds the Worker with scripts/worker.sh and the simulator with
// go build into one temporary directory (so a stale bin/stripesim is never
// used), and provisions the pinned wrangler with `npm ci` when
// node_modules is missing (scripts/wrangler.sh). [Start] writes a wrangler
// config of its own (absolute paths, so nothing in the tree changes) and
// starts `wrangler dev` on free loopback ports; with Options.Stripe it
// first starts a simulator of the Worker's own (PORT=0, secrets drawn for
// it, STRIPESIM_WEBHOOK_URL the Worker's webhook) and gives the Worker its
// URL, keys and webhook secret. The suite reaches the simulator over HTTP
// only ([Stripe] embeds contracttest.API): it counts PaymentIntents with
// stripe-go's PaymentIntents.List and the secret key, and pays with the
// publishable key and the client secret, as a browser does. The database
// is pgtest's (a copy of the template that migrate.Up built), reached
// through the Hyperdrive binding's local connection string.
//
// Every child (wrangler, workerd, stripesim) runs in a process group led
// by a small shell that kills the group when a pipe from the test binary
// closes: when the test ends, and when the test binary dies however it
// dies (see superviseScript).
//
// A missing tool (node, npm, PostgreSQL) skips the tests, except under
// CI=true, where it fails them: make test never skips this suite.
package workertest
