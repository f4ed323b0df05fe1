package faulttest

// The links of the campaign: toxiproxy (github.com/Shopify/toxiproxy/v2,
// run in-process as a library) between each replica and PostgreSQL and
// between each replica and the simulator; and the webhook relays, one
// per replica, through which the simulator reaches it at an address that
// outlives the replica's restarts (and which see every event id the
// simulator sends).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/onecharge/onecharge/server/testenv"
)

// toxics is the in-process toxiproxy server.
type toxics struct {
	srv *toxiproxy.ApiServer
}

func newToxics() *toxics {
	return &toxics{srv: toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())}
}

// link is one proxy: clients dial Addr, it dials upstream.
type link struct {
	Name string
	p    *toxiproxy.Proxy
}

// Link starts a proxy on a free loopback port, stopped when the test ends.
func (x *toxics) Link(t testing.TB, name, upstream string) *link {
	t.Helper()
	p := toxiproxy.NewProxy(x.srv, name, "127.0.0.1:0", upstream)
	if err := x.srv.Collection.Add(p, true); err != nil {
		t.Fatalf("toxiproxy %s: %v", name, err)
	}
	t.Cleanup(func() { _ = x.srv.Collection.Remove(name) })
	return &link{Name: name, p: p}
}

// Addr is where clients connect.
func (l *link) Addr() string { return l.p.Listen }

// toxic is one toxic as toxiproxy's API takes it.
type toxic struct {
	Name       string         `json:"name"`
	Type       string         `json:"type"` // latency, reset_peer, timeout, ...
	Stream     string         `json:"stream"`
	Toxicity   float32        `json:"toxicity"`
	Attributes map[string]any `json:"attributes"`
}

func (tx toxic) String() string {
	return fmt.Sprintf("%s %s %v", tx.Type, tx.Stream, tx.Attributes)
}

// Add adds a toxic to the link: new and open connections suffer it.
func (l *link) Add(tx toxic) error {
	if tx.Toxicity == 0 {
		tx.Toxicity = 1
	}
	b, err := json.Marshal(tx)
	if err != nil {
		return err
	}
	_, err = l.p.Toxics.AddToxicJson(bytes.NewReader(b))
	return err
}

// Remove removes a toxic by name.
func (l *link) Remove(name string) error {
	return l.p.Toxics.RemoveToxic(context.Background(), name)
}

// Reset removes every toxic.
func (l *link) Reset() { l.p.Toxics.ResetToxics(context.Background()) }

// relay forwards the simulator's webhook deliveries to a replica's current
// address and records the event ids. A delivery to a replica that is down
// answers 502, so the simulator retries it, as it would against the dead
// replica itself.
type relay struct {
	srv    *httptest.Server
	client *http.Client
	ev     *eventLog

	mu     sync.Mutex
	target func() (string, bool) // the replica's URL and whether it runs
}

// To sets the replica the relay delivers to.
func (r *relay) To(target func() (string, bool)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.target = target
}

// eventLog is what the relays saw, for invariant I5.
type eventLog struct {
	mu         sync.Mutex
	ids        map[string]string // event id → type
	deliveries int
	failed     int
}

func newEventLog() *eventLog { return &eventLog{ids: map[string]string{}} }

func (e *eventLog) record(id, typ string, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if id != "" {
		e.ids[id] = typ
	}
	e.deliveries++
	if !ok {
		e.failed++
	}
}

func (e *eventLog) snapshot() (ids map[string]string, deliveries, failed int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ids = make(map[string]string, len(e.ids))
	for k, v := range e.ids {
		ids[k] = v
	}
	return ids, e.deliveries, e.failed
}

func newRelay(t testing.TB, ev *eventLog) *relay {
	t.Helper()
	r := &relay{client: &http.Client{Timeout: 15 * time.Second}, ev: ev, target: func() (string, bool) { return "", false }}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *relay) URL() string { return r.srv.URL + "/api/stripe/webhook" }

func (r *relay) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	var ev struct{ ID, Type string }
	_ = json.Unmarshal(body, &ev)
	r.mu.Lock()
	target := r.target
	r.mu.Unlock()
	base, up := target()
	if !up {
		r.ev.record(ev.ID, ev.Type, false)
		http.Error(w, "replica down", http.StatusBadGateway)
		return
	}
	out, _ := http.NewRequestWithContext(req.Context(), http.MethodPost, base+"/api/stripe/webhook", bytes.NewReader(body))
	for _, h := range []string{"Content-Type", "Stripe-Signature", "User-Agent"} {
		out.Header.Set(h, req.Header.Get(h))
	}
	resp, err := r.client.Do(out)
	if err != nil {
		r.ev.record(ev.ID, ev.Type, false)
		http.Error(w, "replica unreachable", http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r.ev.record(ev.ID, ev.Type, resp.StatusCode/100 == 2)
	w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(b)
}

// simProcess is a running bin/stripesim.
type simProcess struct {
	URL, SecretKey, WebhookSecret, PublishableKey string
	logs                                          *testenv.SyncBuffer
}

var simListening = regexp.MustCompile(`stripesim listening on (\S+)`)

// startSim starts bin/stripesim delivering webhooks to hooks, killed when
// the test ends.
func startSim(t testing.TB, hooks []string) *simProcess {
	t.Helper()
	s := &simProcess{
		SecretKey:      "sk_test_faulttest_" + randomToken(16),
		WebhookSecret:  "whsec_faulttest_" + randomToken(16),
		PublishableKey: "pk_test_faulttest",
		logs:           &testenv.SyncBuffer{},
	}
	cmd := exec.Command(simBin)
	cmd.Env = []string{"PORT=0", "STRIPESIM_SECRET_KEY=" + s.SecretKey, "STRIPESIM_WEBHOOK_SECRET=" + s.WebhookSecret,
		"STRIPESIM_PUBLISHABLE_KEY=" + s.PublishableKey, "STRIPESIM_WEBHOOK_URL=" + strings.Join(hooks, ",")}
	cmd.Stderr = s.logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("--- stripesim log (last 8 KiB):\n%s", tail(s.logs.String(), 8192))
		}
	})
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			fmt.Fprintln(s.logs, sc.Text())
			if m := simListening.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case s.URL = <-urls:
	case <-done:
		t.Fatalf("stripesim exited at start-up:\n%s", s.logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("stripesim did not listen within 30s:\n%s", s.logs.String())
	}
	return s
}

// GivenUp counts the webhook deliveries the simulator abandoned.
func (s *simProcess) GivenUp() int { return strings.Count(s.logs.String(), "webhook given up") }
