package postgres_test

// Benchmarks of the lean replay path against its floor: pgbench running
// the very same statements (postgres.Statements) with the same
// concurrency against the same PostgreSQL, on a fresh migrated database
// (pgtest). `make bench` prints the ratio.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onecharge/onecharge/server/checkoutsvc"
	"github.com/onecharge/onecharge/server/postgres"
	"github.com/onecharge/onecharge/server/postgres/pgtest"
	"github.com/onecharge/onecharge/shared/checkout"
)

// benchClients is the concurrency of both sides.
const benchClients = 4

// replayFixture is one issued key with its PaymentIntent, replayed by
// every client: the hot-key case of many retries of one checkout.
type replayFixture struct {
	db   *postgres.DB
	url  string
	rec  checkoutsvc.KeyRecord
	cart []checkout.Item
	now  time.Time
}

func newReplayFixture(b *testing.B) *replayFixture {
	if os.Getenv(pgtest.EnvURL) == "" {
		b.Fatal("TEST_DATABASE_URL is not set: run make bench, which starts a throwaway PostgreSQL cluster")
	}
	raw := pgtest.URL(b) // a fresh copy of the migrated template
	ctx := context.Background()
	db, err := postgres.Open(ctx, postgres.Config{URL: raw, MaxConns: benchClients})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(db.Close)
	user := "6f1c1a2e-0d3b-4c55-9b8e-5a7f0c2d4e61"
	key, _ := checkout.NewKey()
	lines := []checkout.Line{{ProductID: "mug", Name: "Onecharge Mug", Quantity: 2, UnitAmount: 1200}}
	cart := []checkout.Item{{ProductID: "mug", Quantity: 2}}
	now := time.Now().UTC().Truncate(time.Microsecond)
	if _, err := db.ClaimKey(ctx, checkoutsvc.ClaimInput{UserID: user, Cart: cart, Now: now}, func(checkoutsvc.Claim) checkoutsvc.Decision {
		return checkoutsvc.Decision{Kind: checkoutsvc.DecideInsert, Record: checkoutsvc.KeyRecord{
			Key: key, UserID: user, PaymentMethod: checkout.MethodCard, Items: lines, Amount: 2400, Currency: "usd",
			CreateAmount: 2400, CreateCurrency: "usd", LockToken: "tok"}}
	}); err != nil {
		b.Fatal(err)
	}
	rec, err := db.RecordKey(ctx, key, checkoutsvc.RecordInput{Token: "tok", PI: checkoutsvc.PaymentIntent{ID: "pi_bench_" + key[3:13], ClientSecret: "cs", Status: checkoutsvc.StatusRequiresPaymentMethod, Amount: 2400, Currency: "usd"}, Now: now})
	if err != nil {
		b.Fatal(err)
	}
	return &replayFixture{db: db, url: raw, rec: rec, cart: cart, now: now}
}

// BenchmarkReplayPath is what a replayed validation costs the database:
// Store.Lookup (one pipelined batch) and Store.ReplayKey (one statement).
func BenchmarkReplayPath(b *testing.B) {
	f := newReplayFixture(b)
	ctx := context.Background()
	ids := []string{"mug"}
	b.ResetTimer()
	runClients(b, benchClients, func() error {
		if _, _, err := f.db.Lookup(ctx, ids, f.rec.Key); err != nil {
			return err
		}
		ok, err := f.db.ReplayKey(ctx, f.rec, f.cart, f.now)
		if err == nil && !ok {
			err = fmt.Errorf("replay did not match")
		}
		return err
	})
}

// BenchmarkReplayPathFloorPgbench runs the same statements through
// pgbench (-M prepared, the batch as a pipeline) with the same
// concurrency; its ns/op is 1e9/tps.
func BenchmarkReplayPathFloorPgbench(b *testing.B) {
	f := newReplayFixture(b)
	pgbench, err := exec.LookPath("pgbench")
	if err != nil {
		b.Fatal("pgbench not found: install the Debian package postgresql (make test does)")
	}
	items, _ := json.Marshal(f.rec.Items)
	cart, _ := json.Marshal(f.cart)
	args := map[string]string{
		"ids": "{mug}", "key": f.rec.Key,
		// sqlReplayKey's $1..$12
		"p1": f.rec.Key, "p2": f.rec.UserID, "p3": string(f.rec.PaymentMethod), "p4": f.rec.PaymentIntentID,
		"p5": f.rec.PIStatus, "p6": strconv.FormatInt(f.rec.PIAmount, 10), "p7": f.rec.PICurrency,
		"p8": strconv.FormatInt(f.rec.Amount, 10), "p9": f.rec.Currency, "p10": string(items),
		"p11": f.now.Format(time.RFC3339Nano), "p12": string(cart),
	}
	sql := postgres.Statements()
	script := strings.Join([]string{
		`\startpipeline`,
		pgbenchSQL(sql.ProductsByID, "ids"),
		pgbenchSQL(sql.KeyByID, "key"),
		`\endpipeline`,
		pgbenchSQL(sql.ReplayKey, "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9", "p10", "p11", "p12"),
	}, "\n") + "\n"
	file := filepath.Join(b.TempDir(), "replay.sql")
	if err := os.WriteFile(file, []byte(script), 0o644); err != nil {
		b.Fatal(err)
	}
	// pgbench runs for a time, not a count: give it as long as b.N
	// operations of ours would take at ~1ms each, at least one second.
	secs := max(1, b.N/1000)
	cmdArgs := []string{"-n", "-M", "prepared", "-c", strconv.Itoa(benchClients), "-j", "2", "-T", strconv.Itoa(secs), "-f", file}
	for k, v := range args {
		cmdArgs = append(cmdArgs, "-D", k+"="+v)
	}
	cmdArgs = append(cmdArgs, f.url)
	b.ResetTimer()
	out, err := exec.Command(pgbench, cmdArgs...).CombinedOutput()
	b.StopTimer()
	if err != nil {
		b.Fatalf("pgbench: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`tps = ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		b.Fatalf("pgbench printed no tps:\n%s", out)
	}
	tps, _ := strconv.ParseFloat(string(m[1]), 64)
	b.ReportMetric(1e9/tps, "ns/op")
}

// pgbenchSQL turns $N placeholders into pgbench variables, one line.
func pgbenchSQL(sql string, vars ...string) string {
	for i := len(vars); i >= 1; i-- { // $12 before $1
		sql = strings.ReplaceAll(sql, "$"+strconv.Itoa(i), ":"+vars[i-1])
	}
	return strings.Join(strings.Fields(sql), " ") + ";"
}

// runClients runs b.N calls of op spread over n goroutines.
func runClients(b *testing.B, n int, op func() error) {
	var wg sync.WaitGroup
	var next sync.Mutex
	left := b.N
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				next.Lock()
				if left == 0 {
					next.Unlock()
					return
				}
				left--
				next.Unlock()
				if err := op(); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
