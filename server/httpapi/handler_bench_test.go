package httpapi_test

// The handler's own CPU and allocations per request, in process (no
// network, memory store, production-like logger and metrics): where the
// end-to-end benchmark (make bench, tools/serverbench) spends the
// server's share of the CPU. cpu-ns/op is the process's CPU time per
// request (garbage collection included), steadier than ns/op on a busy
// machine. No floor: benchreport prints no ratio for these; compare runs
// with benchstat.

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/onecharge/onecharge/server/httpapi"
	"github.com/onecharge/onecharge/server/metrics"
	"github.com/onecharge/onecharge/server/testenv"
	"github.com/onecharge/onecharge/shared/checkout"
)

func BenchmarkHandler(b *testing.B) {
	env := testenv.New(b, testenv.Options{})
	c := env.NewClient(b)
	first, r := c.Validate(mugCard)
	if r.Status != http.StatusOK {
		b.Fatalf("validate: %d %s", r.Status, r.Body)
	}
	u, _ := url.Parse(env.URL)
	var cookie string
	for _, ck := range c.HTTP.Jar.Cookies(u) {
		if ck.Name == httpapi.SessionCookie {
			cookie = ck.Name + "=" + ck.Value
		}
	}
	// testenv's handler, with the server's logger and metrics.
	h := httpapi.NewHandler(httpapi.Config{
		Service: env.Service, Auth: &httpapi.CookieAuth{Secret: []byte(strings.Repeat("k", 32))},
		Logger:  slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Metrics: metrics.New(),
	})
	run := func(b *testing.B, method, path string, body []byte) {
		b.ReportAllocs()
		cpu := cpuTime()
		for b.Loop() {
			req := httptest.NewRequest(method, path, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Cookie", cookie)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body)
			}
		}
		if d := cpuTime() - cpu; d > 0 {
			b.ReportMetric(float64(d.Nanoseconds())/float64(b.N), "cpu-ns/op")
		}
	}
	replay, _ := json.Marshal(withKey(mugCard, first.IdempotencyKey))
	cart, _ := json.Marshal(checkout.CartRequest{Items: mugCard.Items})
	b.Run("ValidateReplay", func(b *testing.B) { run(b, http.MethodPost, "/api/orders/validate", replay) })
	b.Run("PutCart", func(b *testing.B) { run(b, http.MethodPut, "/api/cart", cart) })
}
