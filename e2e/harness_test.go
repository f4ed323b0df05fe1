package e2e_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/onecharge/onecharge/server/testenv"
	"github.com/onecharge/onecharge/shared/checkout"
)

// Bounds of the waits. Every wait in the suite has one.
const (
	actionTimeout = 20 * time.Second // one chromedp.Run of actions
	stateTimeout  = 15 * time.Second // a page state to appear
)

// StorageKey is the module's localStorage entry (CONTRACT.md section 6).
const storageKey = "checkout-idempotency-key"

// newEnv starts the whole server with the PostgreSQL store, serving the
// storefront bundle.
func newEnv(t *testing.T, o testenv.Options) *testenv.Env {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	o.Store = testenv.Postgres
	o.WebDir = bundleDir
	return testenv.New(t, o)
}

// tab is one browser tab with its console and its validation requests.
type tab struct {
	t    *testing.T
	name string
	env  *testenv.Env
	ctx  context.Context
	// browserContext holds the tab's cookies and localStorage.
	browserContext cdp.BrowserContextID

	mu        sync.Mutex
	console   []consoleEntry
	validates []*validateCall
	byID      map[network.RequestID]*validateCall
	requests  map[network.RequestID]string // API and simulator requests, for the failure log
	netLog    []string
}

type consoleEntry struct {
	Type string // console API type (log, warning, error, ...) or "exception"
	Text string
}

// validateCall is one POST /api/orders/validate the page sent.
type validateCall struct {
	Key    string // the idempotency_key sent, "" for none
	Nonce  string // the Idempotency-Key header sent, "" for none
	Status int    // HTTP status; 0 while pending or with no answer
	Failed bool   // no answer, or not all of it (network error)
}

// newTab opens a tab on env in a fresh browser context (its own cookies
// and localStorage), or, with a parent tab, in the parent's context (a
// second tab of the same shopper). setup runs before any page loads.
func newTab(t *testing.T, env *testenv.Env, parent *tab, name string, setup ...chromedp.Action) *tab {
	t.Helper()
	var bc cdp.BrowserContextID
	if parent == nil {
		bc = newBrowserContext(t)
	} else {
		bc = parent.browserContext
	}
	// chromedp.WithNewBrowserContext cannot be used: Chromium's new headless
	// mode refuses a target in a new browser context without a window of
	// its own ("Failed to open new tab - no browser is open"), so the first
	// tab of a context opens a new window.
	var id target.ID
	browserDo(t, "create tab "+name, func(ctx context.Context) (err error) {
		id, err = target.CreateTarget("about:blank").WithBrowserContextID(bc).WithNewWindow(parent == nil).Do(ctx)
		return err
	})
	ctx, cancel := chromedp.NewContext(browserCtx, chromedp.WithTargetID(id))
	t.Cleanup(cancel)
	tb := &tab{t: t, name: name, env: env, ctx: ctx, browserContext: bc, byID: map[network.RequestID]*validateCall{}, requests: map[network.RequestID]string{}}
	chromedp.ListenTarget(ctx, tb.onEvent)

	// The first Run creates the tab; a timeout on its context would close
	// the tab when it fires, so it is bounded from outside.
	actions := append([]chromedp.Action{
		network.Enable(),
		chromedp.EmulateViewport(1200, 900),
	}, setup...)
	done := make(chan error, 1)
	go func() { done <- chromedp.Run(ctx, actions...) }()
	select {
	case err := <-done:
		require.NoError(t, err, "open tab %s", name)
	case <-time.After(actionTimeout):
		t.Fatalf("open tab %s: no answer within %s", name, actionTimeout)
	}
	// Registered after the tab's cancel, so it runs before the tab closes.
	t.Cleanup(func() {
		if t.Failed() {
			tb.saveFailure()
		}
	})
	return tb
}

// newBrowserContext creates an incognito-like browser context, disposed
// when the test ends (after its tabs closed).
func newBrowserContext(t *testing.T) cdp.BrowserContextID {
	t.Helper()
	var bc cdp.BrowserContextID
	browserDo(t, "create a browser context", func(ctx context.Context) (err error) {
		bc, err = target.CreateBrowserContext().Do(ctx)
		return err
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(browserCtx, actionTimeout)
		defer cancel()
		err := chromedp.Run(ctx, chromedp.ActionFunc(func(ctx context.Context) error {
			return target.DisposeBrowserContext(bc).Do(cdp.WithExecutor(ctx, chromedp.FromContext(ctx).Browser))
		}))
		if err != nil {
			t.Logf("dispose the browser context: %v", err)
		}
	})
	return bc
}

// browserDo runs fn against the browser (not a tab), bounded by actionTimeout.
func browserDo(t *testing.T, what string, fn func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(browserCtx, actionTimeout)
	defer cancel()
	err := chromedp.Run(ctx, chromedp.ActionFunc(func(ctx context.Context) error {
		return fn(cdp.WithExecutor(ctx, chromedp.FromContext(ctx).Browser))
	}))
	if err != nil {
		t.Errorf("%s: %v", what, err)
		t.FailNow()
	}
}

func (tb *tab) onEvent(ev any) {
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		parts := make([]string, 0, len(ev.Args))
		for _, a := range ev.Args {
			parts = append(parts, remoteText(a))
		}
		tb.mu.Lock()
		tb.console = append(tb.console, consoleEntry{Type: string(ev.Type), Text: strings.Join(parts, " ")})
		tb.mu.Unlock()
	case *runtime.EventExceptionThrown:
		text := ev.ExceptionDetails.Text
		if ex := ev.ExceptionDetails.Exception; ex != nil {
			text += " " + ex.Description
		}
		tb.mu.Lock()
		tb.console = append(tb.console, consoleEntry{Type: "exception", Text: text})
		tb.mu.Unlock()
	case *network.EventRequestWillBeSent:
		if ev.Request == nil {
			return
		}
		if p := urlPath(ev.Request.URL); strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/_stripe/") {
			tb.mu.Lock()
			tb.requests[ev.RequestID] = ev.Request.Method + " " + p
			tb.netLog = append(tb.netLog, time.Now().Format("15:04:05.000")+" -> "+ev.Request.Method+" "+p)
			tb.mu.Unlock()
		}
		if ev.Request.Method != "POST" || !strings.HasSuffix(urlPath(ev.Request.URL), "/api/orders/validate") {
			return
		}
		call := &validateCall{Key: sentKey(ev.Request), Nonce: header(ev.Request.Headers, "Idempotency-Key")}
		tb.mu.Lock()
		tb.validates = append(tb.validates, call)
		tb.byID[ev.RequestID] = call
		tb.mu.Unlock()
	case *network.EventResponseReceived:
		tb.mu.Lock()
		if r, ok := tb.requests[ev.RequestID]; ok && ev.Response != nil {
			tb.netLog = append(tb.netLog, fmt.Sprintf("%s <- %d %s", time.Now().Format("15:04:05.000"), ev.Response.Status, r))
		}
		if call := tb.byID[ev.RequestID]; call != nil && ev.Response != nil {
			call.Status = int(ev.Response.Status)
		}
		tb.mu.Unlock()
	case *network.EventLoadingFailed:
		tb.mu.Lock()
		if r, ok := tb.requests[ev.RequestID]; ok {
			tb.netLog = append(tb.netLog, fmt.Sprintf("%s <- failed (%s) %s", time.Now().Format("15:04:05.000"), ev.ErrorText, r))
		}
		if call := tb.byID[ev.RequestID]; call != nil {
			call.Failed = true
		}
		tb.mu.Unlock()
	}
}

func remoteText(a *runtime.RemoteObject) string {
	if len(a.Value) > 0 {
		var s string
		if json.Unmarshal(a.Value, &s) == nil {
			return s
		}
		return string(a.Value)
	}
	if a.Description != "" {
		return a.Description
	}
	return string(a.Type)
}

func urlPath(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Path
}

// header returns the value of a request header, by name in any case.
func header(h network.Headers, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			s, _ := v.(string)
			return s
		}
	}
	return ""
}

// sentKey is the idempotency_key of a validation request body.
func sentKey(r *network.Request) string {
	var body strings.Builder
	for _, e := range r.PostDataEntries {
		b, err := base64.StdEncoding.DecodeString(e.Bytes)
		if err != nil {
			return "<undecodable body>"
		}
		body.Write(b)
	}
	var req checkout.ValidateRequest
	if err := json.Unmarshal([]byte(body.String()), &req); err != nil {
		return "<unreadable body>"
	}
	return req.IdempotencyKey
}

// consoleLog returns what the page logged.
func (tb *tab) consoleLog() []consoleEntry {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]consoleEntry(nil), tb.console...)
}

// validateCalls returns copies of the validation requests seen so far.
func (tb *tab) validateCalls() []validateCall {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	out := make([]validateCall, len(tb.validates))
	for i, c := range tb.validates {
		out[i] = *c
	}
	return out
}

// run runs actions, bounded by actionTimeout, failing the test on error.
func (tb *tab) run(what string, actions ...chromedp.Action) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, actionTimeout)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		tb.t.Fatalf("%s: %s: %v\npage: %s", tb.name, what, err, tb.describe())
	}
}

// eval evaluates a JavaScript expression into res.
func (tb *tab) eval(expr string, res any) {
	tb.t.Helper()
	tb.run("evaluate "+expr, chromedp.Evaluate(expr, res))
}

// waitFor waits until the JavaScript expression is truthy.
func (tb *tab) waitFor(what, expr string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stateTimeout+5*time.Second)
	defer cancel()
	err := chromedp.Run(ctx, chromedp.Poll(expr, nil,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(stateTimeout)))
	if err != nil {
		tb.t.Fatalf("%s: waiting for %s: %v\npage: %s", tb.name, what, err, tb.describe())
	}
}

// describe summarizes the page for failure messages, best effort.
func (tb *tab) describe() string {
	ctx, cancel := context.WithTimeout(tb.ctx, 3*time.Second)
	defer cancel()
	var s string
	err := chromedp.Run(ctx, chromedp.Evaluate(`JSON.stringify({url: location.href,
		module: document.getElementById('module-status') && document.getElementById('module-status').textContent,
		panel: ['stored-key','payment-intent-id','payment-intent-status','order-status'].map(id => document.getElementById(id) && document.getElementById(id).textContent),
		toast: document.getElementById('toast') && !document.getElementById('toast').hidden ? document.getElementById('toast').textContent.trim() : null})`, &s))
	if err != nil {
		return "(unavailable: " + err.Error() + ")"
	}
	return s
}

// saveFailure writes a screenshot and the console of the tab into
// testdata/failures/<TestName>/ and logs their paths.
func (tb *tab) saveFailure() {
	dir := failureDir(tb.t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.t.Logf("failure artifacts: %v", err)
		return
	}
	shot := filepath.Join(dir, tb.name+".png")
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	// A tab in the background does not paint: bring it to the front first.
	if err := chromedp.Run(ctx, page.BringToFront()); err != nil {
		tb.t.Logf("bring %s to the front: %v", tb.name, err)
	}
	if err := saveScreenshot(ctx, shot); err != nil {
		tb.t.Logf("screenshot of %s: %v", tb.name, err)
	} else {
		tb.t.Logf("screenshot of %s: %s", tb.name, absPath(shot))
	}
	var log strings.Builder
	for _, e := range tb.consoleLog() {
		fmt.Fprintf(&log, "[%s] %s\n", e.Type, e.Text)
	}
	for i, c := range tb.validateCalls() {
		fmt.Fprintf(&log, "[validate #%d] key=%q nonce=%q status=%d failed=%v\n", i+1, c.Key, c.Nonce, c.Status, c.Failed)
	}
	tb.mu.Lock()
	for _, l := range tb.netLog {
		fmt.Fprintf(&log, "[network] %s\n", l)
	}
	tb.mu.Unlock()
	fmt.Fprintf(&log, "[page] %s\n", tb.describe())
	logPath := filepath.Join(dir, tb.name+"-console.log")
	if err := os.WriteFile(logPath, []byte(log.String()), 0o644); err != nil {
		tb.t.Logf("console log of %s: %v", tb.name, err)
	} else {
		tb.t.Logf("console log of %s: %s", tb.name, absPath(logPath))
	}
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

func failureDir(t *testing.T) string {
	return filepath.Join("testdata", "failures", unsafeName.ReplaceAllString(t.Name(), "_"))
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// saveScreenshot writes a PNG of the tab's viewport to path.
func saveScreenshot(ctx context.Context, path string) error {
	var png []byte
	if err := chromedp.Run(ctx, chromedp.CaptureScreenshot(&png)); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, png, 0o644)
}

// ---- storefront actions ----

// open loads the storefront at path (default "/") and waits for the module
// and the catalog.
func (tb *tab) open(path string) {
	tb.t.Helper()
	if path == "" {
		path = "/"
	}
	tb.run("open "+path, chromedp.Navigate(tb.env.URL+path))
	tb.waitReady()
}

// waitReady waits for the module and the catalog of a loaded storefront.
func (tb *tab) waitReady() {
	tb.t.Helper()
	tb.run("wait for the storefront", chromedp.WaitVisible("#add-tshirt", chromedp.ByQuery))
	tb.waitFor("the checkout module", `document.getElementById('module-status').dataset.state === 'ready'`)
}

func (tb *tab) reload() {
	tb.t.Helper()
	tb.run("reload", chromedp.Reload())
	tb.waitReady()
}

// front brings the tab to the front, as a shopper switching tabs does.
func (tb *tab) front() {
	tb.t.Helper()
	tb.run("bring to front", page.BringToFront())
}

// add clicks "Add to cart" once per product id, waiting for each line.
func (tb *tab) add(ids ...string) {
	tb.t.Helper()
	for _, id := range ids {
		tb.run("add "+id, chromedp.Click("#add-"+id, chromedp.ByQuery))
		tb.waitFor("cart line "+id, fmt.Sprintf(`!!document.getElementById(%q)`, "qty-"+id))
	}
}

// setQuantity types a quantity into a cart line, as a shopper does.
func (tb *tab) setQuantity(id string, n int) {
	tb.t.Helper()
	sel := "#qty-" + id
	tb.run("set quantity of "+id,
		chromedp.Focus(sel, chromedp.ByQuery),
		chromedp.Evaluate(fmt.Sprintf(`document.getElementById(%q).select()`, "qty-"+id), nil),
		chromedp.SendKeys(sel, fmt.Sprintf("%d\t", n), chromedp.ByQuery))
	tb.waitFor("quantity of "+id, fmt.Sprintf(`document.getElementById(%q).value === %q`, "qty-"+id, fmt.Sprint(n)))
}

// choose clicks a radio button (payment method or test card).
func (tb *tab) choose(id string) {
	tb.t.Helper()
	tb.run("choose "+id, chromedp.Click("#"+id, chromedp.ByQuery))
	tb.waitFor(id+" checked", fmt.Sprintf(`document.getElementById(%q).checked`, id))
}

// counter reads a data-done counter.
func (tb *tab) counter(id string) int {
	tb.t.Helper()
	var n int
	tb.eval(fmt.Sprintf(`Number(document.getElementById(%q).dataset.done || 0)`, id), &n)
	return n
}

// checkout clicks Checkout and waits until the validation settled.
func (tb *tab) checkout() {
	tb.t.Helper()
	before := tb.counter("checkout-form")
	tb.run("click Checkout", chromedp.Click("#checkout", chromedp.ByQuery))
	tb.waitCheckouts(before + 1)
}

// waitCheckouts waits until n validations settled and none is running.
func (tb *tab) waitCheckouts(n int) {
	tb.t.Helper()
	tb.waitFor(fmt.Sprintf("%d settled checkout(s)", n), fmt.Sprintf(
		`Number(document.getElementById('checkout-form').dataset.done) >= %d && document.getElementById('checkout').getAttribute('aria-disabled') === 'false'`, n))
}

// pay chooses a test card and clicks Pay, without waiting for the outcome.
func (tb *tab) pay(card string) {
	tb.t.Helper()
	tb.run("wait for the card step", chromedp.WaitVisible("#pay", chromedp.ByQuery))
	tb.choose(card)
	tb.run("click Pay", chromedp.Click("#pay", chromedp.ByQuery))
}

// payAndWait pays and waits until the confirmation settled (for a
// successful payment: until the order was polled).
func (tb *tab) payAndWait(card string) {
	tb.t.Helper()
	before := tb.counter("pay")
	tb.pay(card)
	tb.waitFor("the payment to settle", fmt.Sprintf(`Number(document.getElementById('pay').dataset.done) > %d`, before))
}

// view is what the page shows.
type view struct {
	StoredKey   string `json:"storedKey"`
	PI          string `json:"pi"`
	PIStatus    string `json:"piStatus"`
	OrderStatus string `json:"orderStatus"`
	OrderTotal  string `json:"orderTotal"`
	ToastKind   string `json:"toastKind"` // "" when no toast is shown
	ToastText   string `json:"toastText"`
	Result      string `json:"result"`
	CartLines   int    `json:"cartLines"`
	URL         string `json:"url"`
}

func (tb *tab) view() view {
	tb.t.Helper()
	var v view
	tb.eval(`(() => {
		const text = id => { const e = document.getElementById(id); return e ? e.textContent.trim() : ''; };
		const orNone = s => s === 'none' ? '' : s;
		const toast = document.getElementById('toast');
		return {
			storedKey: orNone(text('stored-key')), pi: orNone(text('payment-intent-id')),
			piStatus: orNone(text('payment-intent-status')), orderStatus: orNone(text('order-status')),
			orderTotal: document.getElementById('order-total-line').hidden ? '' : text('order-total'),
			toastKind: toast.hidden ? '' : toast.dataset.kind, toastText: toast.hidden ? '' : text('toast-text'),
			result: document.getElementById('result').hidden ? '' : text('result-text'),
			cartLines: document.querySelectorAll('#cart-lines li').length, url: location.href,
		};
	})()`, &v)
	return v
}

// storedKey reads the module's localStorage entry directly ("" when none).
func (tb *tab) storedKey() string {
	tb.t.Helper()
	var k string
	tb.eval(fmt.Sprintf(`localStorage.getItem(%q) || ''`, storageKey), &k)
	return k
}

// waitOrderPaid waits until the page shows the order as paid.
func (tb *tab) waitOrderPaid() {
	tb.t.Helper()
	tb.waitFor("the order shown as paid", `document.getElementById('order-status').textContent === 'paid'`)
}

// waitToast waits for a toast of kind.
func (tb *tab) waitToast(kind string) {
	tb.t.Helper()
	tb.waitFor("a "+kind+" toast", fmt.Sprintf(
		`!document.getElementById('toast').hidden && document.getElementById('toast').dataset.kind === %q`, kind))
}

// doubleClick is a real double click on sel: two presses in a row, the
// second with clickCount 2, as a mouse sends them (chromedp.DoubleClick
// sends a single press with clickCount 2, which is one click event).
func doubleClick(sel string) chromedp.Action {
	return chromedp.QueryAfter(sel, func(ctx context.Context, _ runtime.ExecutionContextID, nodes ...*cdp.Node) error {
		if len(nodes) == 0 {
			return fmt.Errorf("no node matches %s", sel)
		}
		if err := chromedp.MouseClickNode(nodes[0], chromedp.ClickCount(1)).Do(ctx); err != nil {
			return err
		}
		return chromedp.MouseClickNode(nodes[0], chromedp.ClickCount(2)).Do(ctx)
	}, chromedp.ByQuery, chromedp.NodeVisible)
}
