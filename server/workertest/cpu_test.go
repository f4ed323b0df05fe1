package workertest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/onecharge/onecharge/server/postgres/pgtest"
	"github.com/onecharge/onecharge/server/workertest"
	"github.com/onecharge/onecharge/shared/checkout"
)

// TestWorkerCPU is the Worker's half of make bench (scripts/bench-worker.sh,
// ONECHARGE_WORKER_BENCH=1): the CPU time workerd spends per request on the
// Go Worker against a plain-JS Worker (testdata/plain.js) doing the
// equivalent trivial work, both under the same wrangler dev, measured from
// the workerd processes' own run time (/proc/PID/task/*/schedstat).
// Each round sends WORKER_BENCH_REQUESTS sequential requests per route to
// each Worker; the median of WORKER_BENCH_ROUNDS rounds is printed.
func TestWorkerCPU(t *testing.T) {
	if os.Getenv("ONECHARGE_WORKER_BENCH") != "1" {
		t.Skip("a benchmark: make bench runs it (ONECHARGE_WORKER_BENCH=1)")
	}
	requests := envInt("WORKER_BENCH_REQUESTS", 20)
	rounds := envInt("WORKER_BENCH_ROUNDS", 5)
	plain, err := filepath.Abs("testdata/plain.js")
	if err != nil {
		t.Fatal(err)
	}
	ws := workertest.StartAll(t, workertest.Options{DatabaseURL: pgtest.URL(t), Stripe: true}, workertest.Options{Main: plain})
	goW, jsW := ws[0], ws[1]

	// One shopper with a validated key: the replay is the hot path.
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	body := func(key string) []byte {
		b, _ := json.Marshal(checkout.ValidateRequest{Items: []checkout.Item{{ProductID: "mug", Quantity: 2}}, PaymentMethod: checkout.MethodCard, IdempotencyKey: key})
		return b
	}
	first := send(t, client, goW.URL, route{"POST", "/api/orders/validate", body("")})
	var v checkout.ValidateResponse
	if err := json.Unmarshal(first, &v); err != nil || v.IdempotencyKey == "" {
		t.Fatalf("first validation: %v: %s", err, first)
	}
	routes := []route{
		{"GET", "/healthz", nil},
		{"GET", "/api/products", nil},
		{"POST", "/api/orders/validate", body(v.IdempotencyKey)},
	}
	names := []string{"GET /healthz (no database)", "GET /api/products", "POST /api/orders/validate (replay)"}

	measure := func(w *workertest.Worker, r route) time.Duration {
		for i := 0; i < 3; i++ { // warm
			send(t, client, w.URL, r)
		}
		before, err := w.CPU()
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < requests; i++ {
			send(t, client, w.URL, r)
		}
		after, err := w.CPU()
		if err != nil {
			t.Fatal(err)
		}
		return (after - before) / time.Duration(requests)
	}
	fmt.Printf("\nWorker CPU per request under workerd (wrangler dev --local), median of %d rounds of %d requests:\n", rounds, requests)
	fmt.Printf("  %-38s %12s %12s %8s\n", "route", "Go Worker", "plain JS", "ratio")
	for i, r := range routes {
		var goCPU, jsCPU []time.Duration
		for k := 0; k < rounds; k++ {
			goCPU = append(goCPU, measure(goW, r))
			jsCPU = append(jsCPU, measure(jsW, r))
		}
		g, j := median(goCPU), median(jsCPU)
		fmt.Printf("  %-38s %9.2f ms %9.3f ms %7.0fx\n", names[i], ms(g), ms(j), float64(g)/float64(j))
	}
	if os.Getenv("WORKER_BENCH_LOG") != "" {
		os.WriteFile(os.Getenv("WORKER_BENCH_LOG"), []byte(goW.Log()), 0o644)
	}
	if node, err := goW.NodeCPU(); err == nil {
		fmt.Printf("  (wrangler's Node.js process is not counted: %.0f ms in all for the Go Worker's dev server)\n", ms(node))
	}
}

type route struct {
	method, path string
	body         []byte
}

func send(t *testing.T, c *http.Client, base string, r route) []byte {
	t.Helper()
	req, err := http.NewRequest(r.method, base+r.path, bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %d %s", r.method, r.path, resp.StatusCode, b)
	}
	return b
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}
