package workertest_test

import (
	"os"
	"testing"
	"time"

	"github.com/onecharge/onecharge/server/checkoutsvc"
	"github.com/onecharge/onecharge/server/contracttest"
	"github.com/onecharge/onecharge/server/postgres/pgtest"
	"github.com/onecharge/onecharge/server/workertest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	workertest.Cleanup()
	os.Exit(code)
}

// TestWorker runs the contract suite against the Worker under workerd,
// with PostgreSQL through the Hyperdrive binding and the standalone
// simulator (bin/stripesim, built from this tree) delivering webhooks to
// it; a second Worker without a database answers 503.
func TestWorker(t *testing.T) {
	start := time.Now()
	url := pgtest.URL(t)

	ws := workertest.StartAll(t, workertest.Options{DatabaseURL: url, Stripe: true}, workertest.Options{})
	worker, nodb := ws[0], ws[1]
	t.Logf("two Workers and the simulator ready in %s", time.Since(start).Round(100*time.Millisecond))

	contracttest.Run(t, contracttest.Target{
		BaseURL:       worker.URL,
		Stripe:        worker.Stripe,
		NoDatabaseURL: nodb.URL,
		// Replays older than this re-read the PaymentIntent (a GET through
		// the Workers fetch client).
		StaleAfter: checkoutsvc.DefaultStaleAfter,
	})
	t.Logf("Worker suite: %s in all", time.Since(start).Round(100*time.Millisecond))
}
