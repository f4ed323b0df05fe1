package modeltest

import (
	"context"
	"flag"
	"fmt"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"
	"pgregory.net/rapid"

	"github.com/onecharge/onecharge/server/checkoutsvc"
	"github.com/onecharge/onecharge/server/memstore"
	"github.com/onecharge/onecharge/server/postgres/pgtest"
	"github.com/onecharge/onecharge/server/stripepay"
	"github.com/onecharge/onecharge/server/testenv"
	"github.com/onecharge/onecharge/shared/checkout"
	"github.com/onecharge/onecharge/shared/keyflow"
)

// Feature switches: checks written against the contract for what is not on
// this branch yet. The lead flips each when the feature is merged.
const (
	// featureNonce: the first-call nonce (an Idempotency-Key request header
	// on a validation without a key) binds the issued key to (user, nonce):
	// a repeat answers with the same key and PaymentIntent.
	featureNonce = true
	// featureListEndpoint: the simulator answers GET /v1/payment_intents;
	// the checks then list PaymentIntents through stripe-go with the
	// simulator's secret key (simSecretKey) instead of Sim.PaymentIntents.
	featureListEndpoint = true
)

// simSecretKey is the secret key of env's simulator. Today's simulator
// accepts any sk_test_ key; once it draws its own, return env.Sim.SecretKey().
func simSecretKey(env *testenv.Env) string { return env.Sim.SecretKey() }

// Bounded runs (make test). The counts keep each store's run well under a
// minute on the project's 2-core machine: measured on full-length checks,
// memory 30 checks (about 1,100 steps) in 3–6 s, 28 s under -race;
// PostgreSQL 20 checks (450–800 steps) in 17 s, 23 s under -race.
const (
	defaultChecksMemory   = 30
	defaultChecksPostgres = 20
	defaultSteps          = 40
	// EnvSoak, set to a duration ("10m"), runs checks on each store until it
	// has passed (make soak).
	EnvSoak = "ONECHARGE_SOAK"
	// soakBatch is how many checks one rapid.Check call makes in a soak.
	soakBatch = 10
)

// Service timings the actions jump past.
const (
	keyTTL = checkoutsvc.DefaultKeyTTL
	// leaseJump passes the lock lease (today's 30 s lock timeout, and the
	// 3 s lease coming with issue 9).
	leaseJump = 31 * time.Second
	// liveness is how soon a key held by a dead request must be usable
	// again (contract rule 7).
	liveness = 5 * time.Second
)

func TestModel(t *testing.T) {
	for _, store := range testenv.Stores {
		t.Run(store, func(t *testing.T) {
			if store == testenv.Postgres && os.Getenv(pgtest.EnvURL) == "" {
				if os.Getenv("CI") == "true" {
					t.Fatalf("%s is not set: run through scripts/with-postgres.sh", pgtest.EnvURL)
				}
				t.Skipf("%s is not set: run through scripts/with-postgres.sh", pgtest.EnvURL)
			}
			runModel(t, store)
		})
	}
}

type stats struct{ checks, steps atomic.Int64 }

func runModel(t *testing.T, store string) {
	checks := defaultChecksMemory
	if store == testenv.Postgres {
		checks = defaultChecksPostgres
	}
	setRapidFlag(t, "rapid.checks", "RAPID_CHECKS", checks)
	setRapidFlag(t, "rapid.steps", "RAPID_STEPS", defaultSteps)

	var st stats
	prop := func(rt *rapid.T) {
		w := newWorld(rt, store, &st)
		w.run()
		st.checks.Add(1)
	}
	start := time.Now()
	defer func() {
		t.Logf("modeltest %s: %d checks, %d steps in %v", store, st.checks.Load(), st.steps.Load(), time.Since(start).Round(time.Millisecond))
	}()
	if d := soakDuration(t); d > 0 {
		setRapidFlag(t, "rapid.checks", "", soakBatch)
		for deadline := start.Add(d); time.Now().Before(deadline) && !t.Failed(); {
			rapid.Check(t, prop)
		}
	} else {
		rapid.Check(t, prop)
	}
}

func soakDuration(t *testing.T) time.Duration {
	v := os.Getenv(EnvSoak)
	if v == "" {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive duration such as 10m", EnvSoak, v)
	}
	return d
}

// setRapidFlag sets one of rapid's flags to def unless the command line
// (-rapid.checks) or rapid's environment variable (RAPID_CHECKS) set it.
func setRapidFlag(t *testing.T, name, env string, def int) {
	userFlagsOnce.Do(func() {
		flag.Visit(func(f *flag.Flag) { userFlags[f.Name] = true })
	})
	if _, ok := os.LookupEnv(env); userFlags[name] || (env != "" && ok) {
		return
	}
	if err := flag.Set(name, strconv.Itoa(def)); err != nil {
		t.Fatal(err)
	}
}

// userFlags are the flags set on the command line, before any setRapidFlag.
var (
	userFlagsOnce sync.Once
	userFlags     = map[string]bool{}
)

// world is one check: a server on a fresh store, its shoppers and the
// model of what they were told.
type world struct {
	t     *rapid.T
	store string
	st    *stats
	env   *testenv.Env
	relay *relay
	gw    *faultGateway
	insp  inspector
	api   *client.API // stripe-go on the simulator, for the list endpoint
	ctx   context.Context

	shoppers []*shopper
	byUser   map[string]*shopper

	// The model.
	keyOwner  map[string]*shopper // key → the shopper it was answered to
	keyChain  map[string]int      // key → its checkout (a chain of rotations)
	nextChain int
	piOwner   map[string]*shopper // PaymentIntent id → the shopper it was answered to
	sessions  map[string]*sessionModel
	nonceKey  map[string]nonceBinding // user+nonce → the key it is bound to
	killedAt  map[string]time.Time    // key (or user+nonce) → when a request holding it died
	rotated   map[string]int          // user+key not the user's own → the checkout of its successor
	lastKeys  map[string]keyRow       // I5: each key row as last seen
	lastOrder map[string]string       // I5: each order's status as last seen by its owner
	open3DS   []challenge
	seq       map[string]int // id → order in which the model learned it
}

type sessionModel struct {
	id    string
	url   string
	owner *shopper
	items []checkout.Item
}

type challenge struct {
	url string
	pi  string
	tab *tab
}

func newWorld(rt *rapid.T, store string, st *stats) *world {
	tb := rapidTB{rt: rt}
	gw := &faultGateway{}
	opts := testenv.Options{
		Store:       store,
		WrapGateway: func(g checkoutsvc.Gateway) checkoutsvc.Gateway { gw.Gateway = g; return gw },
	}
	var tr *connTracer
	if store == testenv.Postgres {
		tr = newConnTracer()
		opts.Tracer = tr
	}
	env := testenv.New(tb, opts)
	w := &world{
		t: rt, store: store, st: st, env: env, gw: gw, ctx: context.Background(),
		byUser: map[string]*shopper{}, keyOwner: map[string]*shopper{}, keyChain: map[string]int{},
		piOwner: map[string]*shopper{}, sessions: map[string]*sessionModel{}, nonceKey: map[string]nonceBinding{},
		killedAt: map[string]time.Time{}, rotated: map[string]int{}, lastKeys: map[string]keyRow{}, lastOrder: map[string]string{}, seq: map[string]int{},
	}
	w.relay = newRelay(env.URL+"/api/stripe/webhook", env.Sim.WebhookSecret())
	env.Sim.SetWebhookURL(w.relay.srv.URL)
	rt.Cleanup(func() {
		env.Sim.SetWebhookURL("")
		w.relay.close()
	})
	switch store {
	case testenv.Postgres:
		insp, err := newPGInspector(w.ctx, env.Store, tr)
		if err != nil {
			rt.Fatalf("inspector: %v", err)
		}
		rt.Cleanup(insp.Close)
		w.insp = insp
	default:
		w.insp = newMemInspector(env.Store.(*memstore.Store))
	}
	if featureListEndpoint {
		// The checks list through their own, fault-free mount of the
		// simulator: a fault armed for the server is neither tripped over
		// nor consumed by a check.
		inspect := httptest.NewServer(env.Sim.Unfaulted())
		rt.Cleanup(inspect.Close)
		gwc, err := stripepay.New(stripepay.Config{SecretKey: simSecretKey(env), APIBase: inspect.URL, MaxNetworkRetries: -1})
		if err != nil {
			rt.Fatal(err)
		}
		w.api = gwc.API()
	}

	n := rapid.IntRange(2, 3).Draw(rt, "shoppers")
	for i := range n {
		c := env.NewClient(tb)
		sh := &shopper{name: fmt.Sprintf("s%d", i), http: c.HTTP}
		if r := send(sh.http, "GET", env.URL+"/api/cart", nil, nil); r.Err != nil || r.Status != 200 {
			rt.Fatalf("%s: GET /api/cart: %v", sh.name, r)
		}
		id, err := userIDOf(sh.http, env.URL)
		if err != nil {
			rt.Fatal(err)
		}
		sh.userID = id
		sh.tabs = append(sh.tabs, &tab{name: "raw", sh: sh})
		if rapid.Bool().Draw(rt, sh.name+" has a keyflow tab") {
			kt := &tab{name: "kf", sh: sh, kfStore: &keyflow.MemoryStore{}}
			kt.kf = keyflow.New(kt.kfStore, &kfTransport{w: w, tab: kt})
			kt.kf.BaseURL = env.URL
			// Waiting is time passing on the service's clock: backoff and
			// Retry-After move the fake clock, so a lease can run out.
			kt.kf.Sleep = func(_ keyflow.Context, d keyflow.Duration) error { env.Clock.Advance(time.Duration(d)); return nil }
			kt.kf.Rand = func() float64 { return 0.5 }
			// Nonces the model can name (and rapid can replay): keyflow's
			// own are random.
			nonces := 0
			kt.kf.Nonce = func() string { nonces++; return fmt.Sprintf("%s-kf-%d", sh.name, nonces) }
			kt.kf.Now = func() int64 { return env.Clock.Now().UnixNano() }
			sh.tabs = append(sh.tabs, kt)
		}
		w.shoppers = append(w.shoppers, sh)
		w.byUser[id] = sh
	}
	return w
}

func (w *world) run() {
	w.t.Repeat(w.actions())
	// The end: everything held is delivered (except what was dropped), and
	// the invariants hold once more.
	w.env.Sim.SetWebhookMode(stripesimInOrder)
	w.quiesce()
	for range w.relay.heldEvents() {
		w.deliver(0)
	}
	w.check(w.t)
}

func (w *world) logf(format string, args ...any) { w.t.Logf(format, args...) }

// quiesce waits until the simulator has handed every event to the relay.
func (w *world) quiesce() {
	ctx, cancel := context.WithTimeout(w.ctx, 10*time.Second)
	defer cancel()
	if err := w.env.Sim.WaitIdle(ctx); err != nil {
		w.t.Fatalf("simulator webhooks not idle: %v", err)
	}
}

// simPI is what the checks read of one PaymentIntent at Stripe.
type simPI struct {
	ID, Status, Currency, ClientSecret string
	Amount, Received                   int64
	Metadata                           map[string]string
}

// paymentIntents lists every PaymentIntent at the simulator: through
// Stripe's list endpoint (featureListEndpoint) or the simulator's own view.
func (w *world) paymentIntents() []simPI {
	var out []simPI
	if featureListEndpoint {
		params := &stripe.PaymentIntentListParams{}
		params.Limit = stripe.Int64(100)
		it := w.api.PaymentIntents.List(params)
		for it.Next() {
			p := it.PaymentIntent()
			out = append(out, simPI{ID: p.ID, Status: string(p.Status), Currency: string(p.Currency), ClientSecret: p.ClientSecret,
				Amount: p.Amount, Received: p.AmountReceived, Metadata: p.Metadata})
		}
		if err := it.Err(); err != nil {
			w.t.Fatalf("list payment intents: %v", err)
		}
		return out
	}
	for _, p := range w.env.Sim.PaymentIntents() {
		out = append(out, simPI{ID: p.ID, Status: p.Status, Currency: p.Currency, ClientSecret: p.ClientSecret,
			Amount: p.Amount, Received: p.AmountReceived, Metadata: p.Metadata})
	}
	return out
}

// piOfKey returns the PaymentIntent Stripe holds for our key.
func (w *world) piOfKey(key string) (simPI, bool) {
	for _, p := range w.paymentIntents() {
		if key != "" && p.Metadata[stripepay.MetadataKey] == key {
			return p, true
		}
	}
	return simPI{}, false
}

func (w *world) newChain() int { w.nextChain++; return w.nextChain }

// lineSum is what an order's lines add up to.
func lineSum(lines []checkout.Line) int64 {
	var n int64
	for _, l := range lines {
		n += l.UnitAmount * int64(l.Quantity)
	}
	return n
}

// Order statuses and PaymentIntent states, as the checks see them.
const orderNeedsReview = checkout.OrderNeedsReview

func completed(status string) bool { return status == "succeeded" || status == "processing" }

func payable(status string) bool {
	return status == "requires_payment_method" || status == "requires_confirmation" || status == "requires_action"
}

// fatalf fails the check. rapid shrinks a failure only while it recurs
// with the very same message, so the message it is given is the first
// line alone, with the random ids (keys, PaymentIntents, sessions, events,
// users) named by their order of appearance; the full message is logged
// first.
func (w *world) fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	w.t.Logf("%s", msg)
	headline, _, _ := strings.Cut(msg, "\n")
	w.t.Fatalf("%s", stableMessage(headline))
}

var volatile = regexp.MustCompile(`\b(ik|pi|cs_test|evt|ch)_[A-Za-z0-9_-]+|\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b|\bn-[0-9]+`)

func stableMessage(msg string) string {
	seen := map[string]string{}
	return volatile.ReplaceAllStringFunc(msg, func(id string) string {
		if s, ok := seen[id]; ok {
			return s
		}
		kind := "user"
		for _, p := range []struct{ prefix, kind string }{{"ik_", "key"}, {"pi_", "pi"}, {"cs_test_", "session"}, {"evt_", "event"}, {"ch_", "charge"}, {"n-", "nonce"}} {
			if strings.HasPrefix(id, p.prefix) {
				kind = p.kind
			}
		}
		s := fmt.Sprintf("%s#%d", kind, len(seen)+1)
		seen[id] = s
		return s
	})
}
