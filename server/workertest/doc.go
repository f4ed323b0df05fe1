// Package workertest runs onecharge's Cloudflare Worker under workerd
// (`wrangler dev --local`, offline) against a throwaway PostgreSQL and a
// Stripe simulator, and runs the HTTP contract suite (server/contracttest)
// against the Worker's URL; webhooks are delivered to the Worker.
//
// [Start] builds the Worker with scripts/worker.sh into a temporary
// directory, provisions the pinned wrangler with `npm ci` when
// node_modules is missing (scripts/wrangler.sh), writes a wrangler config
// of its own (absolute paths, so nothing in the tree changes), and starts
// `wrangler dev` on free loopback ports in a process group of its own,
// killed when the test ends. The database is pgtest's (a copy of the
// template that migrate.Up built), reached through the Hyperdrive
// binding's local connection string.
//
// A missing tool (node, npm, PostgreSQL) skips the tests, except under
// CI=true, where it fails them: make test never skips this suite.
package workertest
