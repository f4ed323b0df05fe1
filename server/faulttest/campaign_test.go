package faulttest

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onecharge/onecharge/server/postgres"
)

// campaign is the shape of one run of TestFaultCampaign.
type campaign struct {
	Shoppers    int
	Chaos       time.Duration // faults are injected this long
	Quiet       time.Duration // then every shopper must finish its checkout within this
	KillEvery   time.Duration
	PGRestarts  []time.Duration // offsets into the chaos phase
	ToxicEvery  time.Duration
	MaxToxics   int // at once
	MaxAttempts int // keyflow.Client.MaxAttempts
}

// campaignFor returns the campaign of `make test`, or with ONECHARGE_SOAK
// set (a duration, as `make soak` sets it) a longer one of that length.
func campaignFor(t testing.TB) campaign {
	c := campaign{
		Shoppers: 16, Chaos: 50 * time.Second, Quiet: 45 * time.Second,
		KillEvery: 9 * time.Second, PGRestarts: []time.Duration{17 * time.Second, 38 * time.Second},
		ToxicEvery: 2500 * time.Millisecond, MaxToxics: 2,
		// Raised from keyflow's default 4, so that one validation rides
		// out a PostgreSQL restart (its backoff reaches 4 s); a checkout
		// that still fails is clicked again by the shopper and counted.
		MaxAttempts: 8,
	}
	if v := os.Getenv("ONECHARGE_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Minute {
			t.Fatalf("ONECHARGE_SOAK=%q: want a duration of at least 1m", v)
		}
		c.Shoppers, c.Chaos = 24, d
		c.PGRestarts = nil
		for at := 20 * time.Second; at < d-10*time.Second; at += 40 * time.Second {
			c.PGRestarts = append(c.PGRestarts, at)
		}
	}
	return c
}

// chaosFigures is what the campaign did to the system.
type chaosFigures struct {
	kills, killsNoKeyInFlight int
	pgRestarts                int
	pgRestartTook, recovery   []time.Duration
	toxics                    map[string]int
	probeRequests             atomic.Int64

	mu      sync.Mutex
	toReady []time.Duration // relaunched replicas: from the start to /readyz 200
}

// timeToReady polls a relaunched replica's /readyz (at most 30 s).
func (ch *chaosFigures) timeToReady(r *Replica, started time.Time) {
	base, _ := r.BaseURL()
	c := &http.Client{Timeout: 2 * time.Second}
	for time.Since(started) < 30*time.Second {
		if resp, err := c.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				ch.mu.Lock()
				ch.toReady = append(ch.toReady, time.Since(started))
				ch.mu.Unlock()
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFaultCampaign: three bin/onecharge replicas on one PostgreSQL, the
// standalone simulator, toxiproxy on every replica's links to both; many
// shoppers doing whole checkouts with the real client lifecycle while
// replicas are SIGKILLed mid-request, PostgreSQL is restarted in
// immediate mode and the links suffer latency, resets and timeouts. Then
// a quiet period in which every shopper must finish, and the invariants
// I1–I6 checked from PostgreSQL and the simulator's list.
func TestFaultCampaign(t *testing.T) {
	cfg := campaignFor(t)
	began := time.Now()
	pg := startCluster(t)
	proxies := newToxics()
	events := newEventLog()
	const nReplicas = 3
	relays := make([]*relay, nReplicas)
	hooks := make([]string, nReplicas)
	for i := range relays {
		relays[i] = newRelay(t, events)
		hooks[i] = relays[i].URL()
	}
	sim := startSim(t, hooks)
	simHost := strings.TrimPrefix(sim.URL, "http://")

	type replicaLinks struct{ pg, stripe *link }
	links := make([]replicaLinks, nReplicas)
	replicas := make([]*Replica, nReplicas)
	for i := range replicas {
		links[i] = replicaLinks{pg: proxies.Link(t, fmt.Sprintf("pg-%d", i), pg.Addr()), stripe: proxies.Link(t, fmt.Sprintf("stripe-%d", i), simHost)}
		// Launched together: they migrate one at a time (advisory lock).
		replicas[i] = launchReplica(t, fmt.Sprintf("replica-%d", i), map[string]string{
			"DATABASE_URL":           "postgres://postgres@" + links[i].pg.Addr() + "/postgres?sslmode=disable",
			"SESSION_SECRET":         "faulttest-session-secret-0123456789abcdef",
			"STRIPE_SECRET_KEY":      sim.SecretKey,
			"STRIPE_API_BASE":        "http://" + links[i].stripe.Addr(),
			"STRIPE_PUBLISHABLE_KEY": sim.PublishableKey,
			"STRIPE_WEBHOOK_SECRET":  sim.WebhookSecret,
			// The reaper's passes (its advisory lock, its queries) run
			// through the faults too.
			"REAP_INTERVAL": "2s",
		})
		relays[i].To(replicas[i].BaseURL)
	}
	for _, r := range replicas {
		r.WaitReady(t, 90*time.Second)
	}
	// Started together on an empty database, they migrated one at a
	// time: each migration was applied once, by one of them.
	applied := 0
	for _, r := range replicas {
		applied += strings.Count(r.logs.String(), `msg="applying migration"`)
	}
	if want := migrationCount(t); applied != want {
		t.Errorf("%d migrations applied by the replicas started together, want %d (each once)", applied, want)
	}
	allLinks := func() []*link {
		var out []*link
		for _, l := range links {
			out = append(out, l.pg, l.stripe)
		}
		return out
	}
	t.Logf("set-up: %v (cluster, simulator, %d replicas, %d links)", time.Since(began).Round(time.Millisecond), nReplicas, 2*nReplicas)

	fl := &fleet{replicas: replicas}
	c := &counters{}
	tr := newTracker()
	shoppers := make([]*shopper, cfg.Shoppers)
	for i := range shoppers {
		shoppers[i] = newShopper(i, fl, sim, c, tr, cfg.MaxAttempts)
	}

	// Shoppers check out until the chaos ends, then finish the checkout
	// they are in within the quiet period; one that cannot is stuck.
	chaosEnd := time.Now().Add(cfg.Chaos)
	hardEnd := chaosEnd.Add(cfg.Quiet)
	var stopping atomic.Bool
	var stuck []string
	var stuckMu sync.Mutex
	var wg sync.WaitGroup
	for _, sh := range shoppers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stopping.Load() {
				ctx, cancel := context.WithDeadline(context.Background(), hardEnd)
				err := sh.checkout(ctx)
				cancel()
				if err != nil && time.Now().After(hardEnd) {
					stuckMu.Lock()
					stuck = append(stuck, fmt.Sprintf("shopper %d: %v", sh.ID, err))
					stuckMu.Unlock()
					return
				}
				time.Sleep(time.Duration(200+rand.IntN(800)) * time.Millisecond)
			}
		}()
	}

	// The chaos, from this goroutine: a few faults at a time.
	ch := &chaosFigures{toxics: map[string]int{}}
	var toxicsActive atomic.Int32
	var down *Replica
	var downUntil time.Time
	nextKill := time.Now().Add(cfg.KillEvery / 2)
	nextToxic := time.Now().Add(time.Second)
	restarts := slices.Clone(cfg.PGRestarts)
	chaosStart := time.Now()
	for time.Now().Before(chaosEnd) {
		now := time.Now()
		if down != nil && now.After(downUntil) {
			down.Relaunch(t)
			go ch.timeToReady(down, time.Now())
			down = nil
		}
		if now.After(nextToxic) && int(toxicsActive.Load()) < cfg.MaxToxics {
			all := allLinks()
			l := all[rand.IntN(len(all))]
			tx := randomToxic()
			if err := l.Add(tx); err == nil {
				ch.toxics[tx.Type]++
				toxicsActive.Add(1)
				hold := time.Duration(1000+rand.IntN(3000)) * time.Millisecond
				t.Logf("%6.1fs toxic %s on %s for %v", time.Since(chaosStart).Seconds(), tx, l.Name, hold)
				time.AfterFunc(hold, func() { _ = l.Remove(tx.Name); toxicsActive.Add(-1) })
			}
			nextToxic = now.Add(cfg.ToxicEvery/2 + time.Duration(rand.Int64N(int64(cfg.ToxicEvery))))
		}
		if down == nil && now.After(nextKill) {
			i := rand.IntN(nReplicas)
			held := killMidRequest(t, replicas[i], links[i].stripe, tr, chaosStart)
			ch.kills++
			if held == 0 {
				ch.killsNoKeyInFlight++
			}
			down, downUntil = replicas[i], time.Now().Add(time.Duration(500+rand.IntN(1500))*time.Millisecond)
			nextKill = time.Now().Add(cfg.KillEvery/2 + time.Duration(rand.Int64N(int64(cfg.KillEvery))))
		}
		if len(restarts) > 0 && time.Since(chaosStart) >= restarts[0] {
			restarts = restarts[1:]
			took, rec, err := restartPostgres(pg, fl, ch)
			if err != nil {
				t.Errorf("PostgreSQL restart: %v", err)
			} else {
				ch.pgRestarts++
				ch.pgRestartTook, ch.recovery = append(ch.pgRestartTook, took), append(ch.recovery, rec)
				t.Logf("%6.1fs PostgreSQL restarted in immediate mode: pg_ctl %v, first validation 200 after %v", time.Since(chaosStart).Seconds(), took.Round(time.Millisecond), rec.Round(time.Millisecond))
			}
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Quiet: no more faults; every replica up; every shopper finishes.
	for _, l := range allLinks() {
		l.Reset()
	}
	if down != nil {
		down.Relaunch(t)
	}
	stopping.Store(true)
	quietStart := time.Now()
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(time.Until(hardEnd) + 30*time.Second):
		t.Errorf("shoppers did not return within the quiet period")
	}
	quietTook := time.Since(quietStart)
	for _, r := range replicas {
		r.WaitReady(t, 30*time.Second)
	}
	// Webhooks retried by the simulator land within its backoff.
	waitWebhooks(events, 20*time.Second)

	rep := check(t, pg, sim, events, fl, shoppers, c)
	for _, s := range stuck {
		t.Errorf("stuck: %s", s)
	}
	for _, sh := range shoppers {
		sh.mu.Lock()
		for _, e := range sh.errs {
			t.Errorf("%s", e)
		}
		sh.mu.Unlock()
	}

	// The figures.
	tr.mu.Lock()
	var blocked []time.Duration
	for _, bl := range tr.blocked {
		t.Logf("key blocked %v (clean %v): %s", bl.d.Round(time.Millisecond), bl.clean, bl.trail)
		blocked = append(blocked, bl.d)
		if bl.clean && bl.d >= 5*time.Second {
			t.Errorf("a key stayed blocked %v after its replica was killed, with no other fault in the way (contract rule 7: within 5 s): %s", bl.d.Round(time.Millisecond), bl.trail)
		}
	}
	free := tr.free
	pendingWatches := len(tr.watches)
	tr.mu.Unlock()
	slices.Sort(blocked)
	var b strings.Builder
	fmt.Fprintf(&b, "faulttest campaign (%v of faults, quiet %v, total %v):\n", cfg.Chaos, quietTook.Round(time.Second), time.Since(began).Round(time.Second))
	fmt.Fprintf(&b, "  shoppers %d, checkouts %d (%d hosted; orders paid %d, needs_review %d), requests %d (validations %d, 200 %d), probe requests %d\n",
		cfg.Shoppers, c.checkouts.Load(), c.hosted.Load(), c.paid.Load(), c.needsReview.Load(), c.requests.Load(), c.validates.Load(), c.validate200.Load(), ch.probeRequests.Load())
	fmt.Fprintf(&b, "  keyflow retries %d (MaxAttempts %d), checkouts clicked again after keyflow gave up %d; network errors %d, 5xx %d, request_in_progress %d\n",
		c.keyflowRetries.Load(), cfg.MaxAttempts, c.checkoutRetries.Load(), c.networkErrors.Load(), c.status5xx.Load(), c.inProgress.Load())
	ch.mu.Lock()
	toReady := slices.Clone(ch.toReady)
	ch.mu.Unlock()
	slices.Sort(toReady)
	readyText := "none relaunched"
	if len(toReady) > 0 {
		readyText = fmt.Sprintf("ready (/readyz 200) after median %v, max %v", toReady[len(toReady)/2].Round(time.Millisecond), toReady[len(toReady)-1].Round(time.Millisecond))
	}
	fmt.Fprintf(&b, "  kills %d (%d with no keyed validation in flight; relaunched replicas %s), PostgreSQL restarts %d, toxics %d %v\n",
		ch.kills, ch.killsNoKeyInFlight, readyText, ch.pgRestarts, sum(ch.toxics), ch.toxics)
	ids, deliveries, failedDeliveries := events.snapshot()
	fmt.Fprintf(&b, "  webhooks: %d events, %d deliveries to replicas (%d failed, retried by the simulator), %d given up\n",
		len(ids), deliveries, failedDeliveries, sim.GivenUp())
	fmt.Fprintf(&b, "  failures: %d stuck shoppers, %d shopper errors, %d invariant violations; orphan PaymentIntents %d (first validations without a 200: %d)\n",
		len(stuck), countErrs(shoppers), rep.violations, rep.orphans, c.firstCallsLost.Load())
	if len(blocked) > 0 {
		fmt.Fprintf(&b, "  key blocked after SIGKILL of the replica holding it (kill → sending of the shopper's request that got through): median %v, max %v over %d keys held by killed requests (%d more keys in flight were free at once; %d never re-validated)\n",
			blocked[len(blocked)/2].Round(time.Millisecond), blocked[len(blocked)-1].Round(time.Millisecond), len(blocked), free, pendingWatches)
	} else {
		fmt.Fprintf(&b, "  key blocked after SIGKILL: no kill hit a held key (%d free at once)\n", free)
	}
	for i := range ch.recovery {
		fmt.Fprintf(&b, "  PostgreSQL restart %d: pg_ctl restart -m immediate took %v; first validation 200 %v after the restart began\n",
			i+1, ch.pgRestartTook[i].Round(time.Millisecond), ch.recovery[i].Round(time.Millisecond))
	}
	for _, line := range rep.notes {
		fmt.Fprintf(&b, "  note: %s\n", line)
	}
	report(t, b.String())
}

// killMidRequest SIGKILLs r while it holds a validation in the middle of
// its Stripe call: latency on r's Stripe link keeps calls in flight, and
// the kill comes once a validation carrying a key has been in flight on r
// for a while (or after 5 s regardless). It returns how many keyed
// validations were in flight.
func killMidRequest(t *testing.T, r *Replica, stripe *link, tr *tracker, t0 time.Time) int {
	t.Helper()
	lag := toxic{Name: "kill-lag", Type: "latency", Stream: "downstream", Attributes: map[string]any{"latency": 1500}}
	_ = stripe.Add(lag)
	defer func() { _ = stripe.Remove(lag.Name) }()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && len(tr.candidates(r, 300*time.Millisecond)) == 0 {
		time.Sleep(20 * time.Millisecond)
	}
	at := time.Now()
	// The tracker watches the keys in flight before the process dies, so
	// that no answer for them is missed.
	n := tr.killed(r, at)
	r.Kill()
	t.Logf("%6.1fs SIGKILL %s with %d keyed validations in flight", time.Since(t0).Seconds(), r.Name, n)
	return n
}

// randomToxic draws a toxic: latency, a reset, or a timeout, either way.
func randomToxic() toxic {
	stream := []string{"upstream", "downstream"}[rand.IntN(2)]
	name := fmt.Sprintf("t%d", rand.Int64())
	switch rand.IntN(3) {
	case 0:
		return toxic{Name: name, Type: "latency", Stream: stream, Attributes: map[string]any{"latency": 100 + rand.IntN(1100), "jitter": rand.IntN(200)}}
	case 1:
		return toxic{Name: name, Type: "reset_peer", Stream: stream, Attributes: map[string]any{"timeout": rand.IntN(300)}}
	}
	return toxic{Name: name, Type: "timeout", Stream: stream, Attributes: map[string]any{"timeout": 300 + rand.IntN(1700)}}
}

// restartPostgres restarts the cluster in immediate mode while a probe
// sends cash-on-delivery validations (the store only, no Stripe) round
// robin to the replicas every 50 ms. The recovery time is from the
// restart's start to the first 200 of a probe sent after the outage was
// seen (or after pg_ctl returned).
func restartPostgres(pg *cluster, fl *fleet, ch *chaosFigures) (took, recovery time.Duration, err error) {
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	body := `{"items":[{"product_id":"mug","quantity":1}],"payment_method":"CASH_ON_DELIVERY"}`
	start := time.Now()
	var outageSeen, pgBack atomic.Bool
	firstOK := make(chan time.Time, 1)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			eligible := outageSeen.Load() || pgBack.Load()
			_, base := fl.pick()
			ch.probeRequests.Add(1)
			resp, err := client.Post(base+"/api/orders/validate", "application/json", strings.NewReader(body))
			ok := err == nil && resp.StatusCode == http.StatusOK
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode >= 500 {
					outageSeen.Store(true)
				}
			}
			if ok && eligible {
				firstOK <- time.Now()
				return
			}
		}
	}()
	took, err = pg.RestartImmediate()
	if err != nil {
		return 0, 0, err
	}
	pgBack.Store(true)
	select {
	case at := <-firstOK:
		return took, at.Sub(start), nil
	case <-time.After(60 * time.Second):
		return took, 0, fmt.Errorf("no validation answered 200 within 60 s of the restart")
	}
}

// waitWebhooks waits until no delivery happened for 3 s (bounded).
func waitWebhooks(ev *eventLog, within time.Duration) {
	deadline := time.Now().Add(within)
	_, last, _ := ev.snapshot()
	quietSince := time.Now()
	for time.Now().Before(deadline) && time.Since(quietSince) < 3*time.Second {
		time.Sleep(200 * time.Millisecond)
		if _, n, _ := ev.snapshot(); n != last {
			last, quietSince = n, time.Now()
		}
	}
}

// reportFile collects the figures of this test binary's run: TestMain
// empties it, report appends; scripts/test.sh prints it after the suites
// (go test hides the output of a package that passes).
func reportFile() string {
	root, err := moduleRoot()
	if err != nil {
		return ""
	}
	return filepath.Join(root, "bin", "faulttest-report.txt")
}

// report prints figures (stdout, shown by go test -v and make soak) and
// appends them to reportFile.
func report(t testing.TB, text string) {
	t.Log("\n" + text)
	fmt.Print(text)
	if p := reportFile(); p != "" {
		_ = os.MkdirAll(filepath.Dir(p), 0o755)
		if f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			_, _ = f.WriteString(text)
			_ = f.Close()
		}
	}
}

func migrationCount(t testing.TB) int {
	entries, err := fs.ReadDir(postgres.Migrations(), ".")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func countErrs(shoppers []*shopper) int {
	n := 0
	for _, sh := range shoppers {
		sh.mu.Lock()
		n += len(sh.errs)
		sh.mu.Unlock()
	}
	return n
}
