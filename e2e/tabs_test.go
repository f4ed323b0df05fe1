package e2e_test

// Issue 12: validations across the tabs of an origin, and first
// validations whose response is lost.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onecharge/onecharge/server/checkoutsvc"
	"github.com/onecharge/onecharge/server/testenv"
	"github.com/onecharge/onecharge/shared/checkout"
)

// lockName is the module's Web Lock (wasm/browser.LockName).
const lockName = "onecharge:" + storageKey

// heldCreates is a gateway whose CreatePaymentIntent calls wait until
// release is called (or 15 seconds pass), so that a test can act while a
// validation is at the server.
type heldCreates struct {
	checkoutsvc.Gateway
	calls   atomic.Int32
	release chan struct{}
	once    sync.Once
}

func newHeldCreates() *heldCreates { return &heldCreates{release: make(chan struct{})} }

func (g *heldCreates) CreatePaymentIntent(ctx context.Context, p checkoutsvc.CreateIntentParams) (checkoutsvc.PaymentIntent, error) {
	g.calls.Add(1)
	select {
	case <-g.release:
	case <-time.After(15 * time.Second):
	case <-ctx.Done():
		return checkoutsvc.PaymentIntent{}, ctx.Err()
	}
	return g.Gateway.CreatePaymentIntent(ctx, p)
}

func (g *heldCreates) open() { g.once.Do(func() { close(g.release) }) }

// locks is what navigator.locks.query() reports of the module's lock.
type locks struct {
	Held    int `json:"held"`
	Pending int `json:"pending"`
}

func (tb *tab) locks() locks {
	tb.t.Helper()
	var l locks
	tb.run("query the Web Locks", chromedp.Evaluate(fmt.Sprintf(`navigator.locks.query().then(s => ({
		held: s.held.filter(l => l.name === %[1]q).length,
		pending: s.pending.filter(l => l.name === %[1]q).length}))`, lockName), &l,
		func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	return l
}

// clickCheckoutTogether clicks Checkout in every tab at the same moment:
// each click is a script run in its tab, all started at once.
func clickCheckoutTogether(t *testing.T, tabs ...*tab) {
	t.Helper()
	start := make(chan struct{})
	errs := make(chan error, len(tabs))
	for _, tb := range tabs {
		go func() {
			ctx, cancel := context.WithTimeout(tb.ctx, actionTimeout)
			defer cancel()
			<-start
			errs <- chromedp.Run(ctx, chromedp.Evaluate(`document.getElementById('checkout').click(), true`, nil))
		}()
	}
	close(start)
	for range tabs {
		require.NoError(t, <-errs, "click Checkout")
	}
}

// TestTwoTabsCheckOutAtOnce: two tabs of one shopper, no key stored, click
// Checkout at the same moment. The first validation takes the Web Lock;
// the other waits for it (nothing sent) while the first is at the server,
// then reads the key the first stored and sends it. One PaymentIntent, and
// both tabs show the same key and PaymentIntent.
func TestTwoTabsCheckOutAtOnce(t *testing.T) {
	gw := newHeldCreates()
	env := newEnv(t, testenv.Options{WrapGateway: func(g checkoutsvc.Gateway) checkoutsvc.Gateway {
		gw.Gateway = g
		return gw
	}})
	t.Cleanup(gw.open)
	a := newTab(t, env, nil, "tab-a")
	a.open("/")
	a.add("tshirt")
	b := newTab(t, env, a, "tab-b")
	b.open("/")
	require.Equal(t, 1, b.view().CartLines, "tab B sees the cart")
	require.Empty(t, a.storedKey(), "no key stored")

	clickCheckoutTogether(t, a, b)
	// One validation is at the server (its PaymentIntent is being made),
	// the other waits for the lock.
	deadline := time.Now().Add(stateTimeout)
	var l locks
	for {
		l = a.locks()
		if l.Held == 1 && l.Pending == 1 && gw.calls.Load() == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.Equal(t, locks{Held: 1, Pending: 1}, l, "one validation holds the lock, the other waits")
	require.EqualValues(t, 1, gw.calls.Load(), "one PaymentIntent being made")
	require.Len(t, append(a.validateCalls(), b.validateCalls()...), 1, "the waiting tab has sent nothing")
	gw.open()

	a.waitCheckouts(1)
	b.waitCheckouts(1)
	va, vb := a.view(), b.view()
	assert.Empty(t, va.ToastKind, "no toast in tab A: %s", va.ToastText)
	assert.Empty(t, vb.ToastKind, "no toast in tab B: %s", vb.ToastText)
	requireKey(t, va.StoredKey)
	assert.Equal(t, va.StoredKey, vb.StoredKey, "both tabs show the same key")
	assert.Equal(t, va.StoredKey, a.storedKey())
	require.True(t, strings.HasPrefix(va.PI, "pi_"), "PaymentIntent shown: %+v", va)
	assert.Equal(t, va.PI, vb.PI, "both tabs show the same PaymentIntent")
	assert.Equal(t, 1, env.Sim.CreatedPaymentIntents(), "one PaymentIntent")

	calls := append(a.validateCalls(), b.validateCalls()...)
	require.Len(t, calls, 2)
	first, second := calls[0], calls[1]
	if first.Key != "" {
		first, second = second, first
	}
	assert.Empty(t, first.Key, "one validation sends no key...")
	assert.NotEmpty(t, first.Nonce, "... and a nonce")
	assert.Equal(t, va.StoredKey, second.Key, "the other sends the key the first stored")
	assert.Empty(t, second.Nonce, "and no nonce")
	assert.Equal(t, 200, first.Status)
	assert.Equal(t, 200, second.Status)
	assert.Equal(t, locks{}, a.locks(), "the lock is free")
	// Chromium hands localStorage to the other tab's process
	// asynchronously: when the waiting tab read no key yet, it sent the key
	// posted with the lock (keyflow.Board).
	for _, tb := range []*tab{a, b} {
		for _, e := range tb.consoleLog() {
			if strings.Contains(e.Text, "has not reached this tab's storage yet") {
				t.Logf("%s: %s", tb.name, e.Text)
			}
		}
	}
}

// cutter sits in front of the server and cuts the answer to the first
// validation: the server processes the request and answers, and the
// connection is closed halfway through the answer's body. The page's
// fetch resolves (the status and headers arrived) and reading the body
// fails, a network error. (A connection closed before any byte of the
// answer is not enough: Chromium resends the request itself, unseen by the
// page, when the connection was reused or opened ahead of time as an idle
// socket, which the server cannot tell; after the headers it never does.)
type cutter struct {
	next http.Handler

	mu       sync.Mutex
	done     bool        // the first validation was cut: let the rest through
	seen     []seenCall  // every validation, in arrival order
	answered []cutAnswer // what the server answered to the cut one
}

type seenCall struct {
	Nonce, Key string
	Cut        bool
}

type cutAnswer struct {
	Status int
	Body   checkout.ValidateResponse
}

func (c *cutter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/api/orders/validate" {
		c.next.ServeHTTP(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	var req checkout.ValidateRequest
	_ = json.Unmarshal(body, &req)
	c.mu.Lock()
	cut := !c.done
	c.done = true
	c.seen = append(c.seen, seenCall{Nonce: r.Header.Get("Idempotency-Key"), Key: req.IdempotencyKey, Cut: cut})
	c.mu.Unlock()
	if !cut {
		c.next.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	c.next.ServeHTTP(rec, r)
	var resp checkout.ValidateResponse
	_ = json.Unmarshal(rec.Body.Bytes(), &resp)
	c.mu.Lock()
	c.answered = append(c.answered, cutAnswer{Status: rec.Code, Body: resp})
	c.mu.Unlock()
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err) // net/http closes the connection: the answer is lost all the same
	}
	defer conn.Close()
	answer := rec.Body.Bytes()
	fmt.Fprintf(buf, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n",
		rec.Code, http.StatusText(rec.Code), rec.Header().Get("Content-Type"), len(answer))
	buf.Write(answer[:len(answer)/2])
	buf.Flush()
}

func (c *cutter) calls() ([]seenCall, []cutAnswer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]seenCall(nil), c.seen...), append([]cutAnswer(nil), c.answered...)
}

// frontEnv puts h in front of env's server: the returned Env is env with
// the URL of a server running h (the tab loads the storefront from it).
func frontEnv(t *testing.T, env *testenv.Env, wrap func(http.Handler) http.Handler) *testenv.Env {
	t.Helper()
	front := httptest.NewServer(wrap(env.Server.Config.Handler))
	t.Cleanup(front.Close)
	fe := *env
	fe.URL = front.URL
	return &fe
}

// TestLostFirstResponseRetried: the answer to a first validation (no key)
// is lost: the server issued a key and a PaymentIntent, and the connection
// was cut halfway through the answer. The module retries with the same
// Idempotency-Key nonce and gets that key and that PaymentIntent: one
// PaymentIntent at Stripe, none orphaned.
func TestLostFirstResponseRetried(t *testing.T) {
	env := newEnv(t, testenv.Options{})
	cut := &cutter{}
	fe := frontEnv(t, env, func(h http.Handler) http.Handler { cut.next = h; return cut })
	tb := newTab(t, fe, nil, "shop")
	tb.open("/")
	tb.add("hoodie")
	tb.checkout()

	v := tb.view()
	assert.Empty(t, v.ToastKind, "no toast: %s", v.ToastText)
	requireKey(t, v.StoredKey)
	require.True(t, strings.HasPrefix(v.PI, "pi_"), "PaymentIntent shown: %+v", v)
	assert.Equal(t, v.StoredKey, tb.storedKey())

	seen, answered := cut.calls()
	require.NotEmpty(t, answered, "an answer was cut")
	for i, a := range answered {
		require.Equal(t, 200, a.Status, "cut answer %d", i+1)
		assert.Equal(t, v.StoredKey, a.Body.IdempotencyKey, "cut answer %d: the key the page got", i+1)
		require.NotNil(t, a.Body.PaymentIntent, "cut answer %d", i+1)
		assert.Equal(t, v.PI, a.Body.PaymentIntent.ID, "cut answer %d: the PaymentIntent the page got", i+1)
	}
	require.Len(t, seen, len(answered)+1, "the cut requests, then the one answered: %+v", seen)
	nonce := seen[0].Nonce
	require.NotEmpty(t, nonce, "the first validation carries a nonce")
	for i, s := range seen {
		assert.Equal(t, nonce, s.Nonce, "request %d carries the same nonce", i+1)
		assert.Empty(t, s.Key, "request %d sends no key", i+1)
		assert.Equal(t, i < len(answered), s.Cut, "request %d cut", i+1)
	}
	assert.Equal(t, 1, env.Sim.CreatedPaymentIntents(), "one PaymentIntent")

	calls := tb.validateCalls()
	require.Len(t, calls, 2, "the page's validation and the module's retry")
	assert.True(t, calls[0].Failed, "the first request got no answer")
	assert.Equal(t, 200, calls[1].Status)
	for i, c := range calls {
		assert.Empty(t, c.Key, "request %d sends no key", i+1)
		assert.Equal(t, nonce, c.Nonce, "request %d: the same nonce", i+1)
	}
	retried := false
	for _, e := range tb.consoleLog() {
		retried = retried || strings.Contains(e.Text, "attempt 1 of 4 failed (network_error")
	}
	assert.True(t, retried, "the module logged its retry")
}

// TestPanelFollowsOtherTab: tab B's "Under the hood" panel follows the key
// tab A stores and clears, without B doing anything (storage events).
func TestPanelFollowsOtherTab(t *testing.T) {
	env := newEnv(t, testenv.Options{})
	a := newTab(t, env, nil, "tab-a")
	a.open("/")
	b := newTab(t, env, a, "tab-b")
	b.open("/")
	require.Empty(t, b.view().StoredKey)

	a.add("mug")
	a.checkout()
	key := a.view().StoredKey
	requireKey(t, key)
	b.waitFor("tab B showing tab A's key", fmt.Sprintf(`document.getElementById('stored-key').textContent === %q`, key))

	a.payAndWait("card-visa")
	a.waitOrderPaid()
	require.Empty(t, a.storedKey(), "the payment cleared the key")
	b.waitFor("tab B showing no key", `document.getElementById('stored-key').textContent === 'none'`)

	// A key set by the page of tab A (setIdempotencyKey) shows in B too.
	a.eval(fmt.Sprintf(`onecharge.setIdempotencyKey(%q), true`, key), nil)
	b.waitFor("tab B showing the key set in A", fmt.Sprintf(`document.getElementById('stored-key').textContent === %q`, key))
	assert.Empty(t, b.validateCalls(), "tab B did nothing")
}

// hideWebLocks removes navigator.locks before any script of a page runs,
// as in a browser without the Web Locks API.
const hideWebLocks = `Object.defineProperty(Navigator.prototype, 'locks', {configurable: true, get() { return undefined; }});`

// TestWithoutWebLocks: without the Web Locks API the module serializes its
// validations within the tab, as before: a double click is one
// PaymentIntent, and the console says the lock is per tab.
func TestWithoutWebLocks(t *testing.T) {
	gw := newHeldCreates()
	env := newEnv(t, testenv.Options{WrapGateway: func(g checkoutsvc.Gateway) checkoutsvc.Gateway {
		gw.Gateway = g
		return gw
	}})
	t.Cleanup(gw.open)
	tb := newTab(t, env, nil, "shop", chromedp.ActionFunc(func(ctx context.Context) error {
		_, err := page.AddScriptToEvaluateOnNewDocument(hideWebLocks).Do(ctx)
		return err
	}))
	tb.open("/")
	var hidden bool
	tb.eval(`navigator.locks === undefined`, &hidden)
	require.True(t, hidden, "navigator.locks is hidden")
	tb.add("mug")
	tb.run("double-click Checkout", doubleClick("#checkout"))
	for deadline := time.Now().Add(stateTimeout); gw.calls.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	gw.open()
	tb.waitCheckouts(2)

	v := tb.view()
	assert.Empty(t, v.ToastKind, "no toast: %s", v.ToastText)
	assert.Equal(t, 1, env.Sim.CreatedPaymentIntents(), "one PaymentIntent")
	calls := tb.validateCalls()
	require.Len(t, calls, 2)
	assert.Empty(t, calls[0].Key)
	assert.NotEmpty(t, calls[0].Nonce)
	assert.Equal(t, v.StoredKey, calls[1].Key, "the second validation sends the first one's key")
	perTab := false
	for _, e := range tb.consoleLog() {
		perTab = perTab || strings.Contains(e.Text, "Web Locks API is not available")
	}
	assert.True(t, perTab, "the console says validations are serialized per tab")
}

// lagStorage makes the page's localStorage lag behind the other tabs' for
// the module's entry while window.__lag is set: getItem answers null, as a
// tab does in the milliseconds before Chromium hands it another tab's write.
const lagStorage = `(() => {
	const getItem = Storage.prototype.getItem;
	Storage.prototype.getItem = function (name) {
		return window.__lag && name === ` + "'" + storageKey + "'" + ` ? null : getItem.call(this, name);
	};
})();`

// TestOtherTabsStorageLags: tab B takes the lock after tab A stored a key,
// but B's localStorage does not show it yet (made deterministic here; in
// Chromium it happens when B is granted the lock just as A releases it).
// B sends the key A posted with the lock: one PaymentIntent.
func TestOtherTabsStorageLags(t *testing.T) {
	env := newEnv(t, testenv.Options{})
	a := newTab(t, env, nil, "tab-a")
	a.open("/")
	a.add("cap")
	b := newTab(t, env, a, "tab-b", chromedp.ActionFunc(func(ctx context.Context) error {
		_, err := page.AddScriptToEvaluateOnNewDocument(lagStorage).Do(ctx)
		return err
	}))
	b.open("/")
	a.checkout()
	key := a.view().StoredKey
	requireKey(t, key)

	b.eval(`window.__lag = true`, nil)
	var seen string
	b.eval(`onecharge.getStoredIdempotencyKey() || ''`, &seen)
	require.Empty(t, seen, "tab B's storage lags")
	b.checkout()
	b.eval(`window.__lag = false`, nil)

	v := b.view()
	assert.Empty(t, v.ToastKind, "no toast: %s", v.ToastText)
	calls := b.validateCalls()
	require.Len(t, calls, 1)
	assert.Equal(t, key, calls[0].Key, "tab B sends the key tab A posted")
	assert.Empty(t, calls[0].Nonce)
	assert.Equal(t, 200, calls[0].Status)
	assert.Equal(t, a.view().PI, v.PI, "the same PaymentIntent")
	assert.Equal(t, 1, env.Sim.CreatedPaymentIntents(), "one PaymentIntent")
	assert.Equal(t, key, b.storedKey())
	bridged := false
	for _, e := range b.consoleLog() {
		bridged = bridged || strings.Contains(e.Text, "has not reached this tab's storage yet")
	}
	assert.True(t, bridged, "the module said where the key came from")
}
