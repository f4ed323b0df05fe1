package modeltest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"pgregory.net/rapid"

	"github.com/onecharge/onecharge/server/stripesim"
	"github.com/onecharge/onecharge/shared/checkout"
)

var stripesimInOrder = stripesim.WebhookMode{}

// action is one kind of step; weight is how many of rapid's (uniformly
// drawn) action names it gets.
type action struct {
	name   string
	weight int
	run    func(*world, *rapid.T)
}

var actionTable = []action{
	// Validations by a raw tab, one at a time.
	{"validate-stored", 4, (*world).validateStored},
	{"validate-new", 2, (*world).validateNew},
	{"validate-nonce-repeat", 1, (*world).validateNonceRepeat},
	{"validate-edited-cart", 3, (*world).validateEdited},
	{"validate-other-method", 1, (*world).validateOtherMethod},
	{"validate-foreign-key", 1, (*world).validateForeignKey},
	{"validate-unknown-key", 1, (*world).validateUnknownKey},
	{"validate-stale-key", 1, (*world).validateStaleKey},
	{"validate-cash", 1, (*world).validateCash},
	{"validate-bad", 1, (*world).validateBad},
	// The real client lifecycle.
	{"keyflow-validate", 3, (*world).keyflowValidate},
	// Concurrency, Stripe faults, dead and slow requests.
	{"concurrent-duplicates", 2, (*world).concurrentDuplicates},
	{"validate-under-fault", 2, (*world).validateUnderFault},
	{"validate-killed", 2, (*world).validateKilled},
	{"validate-overtaken", 1, (*world).validateOvertaken},
	// Cart and hosted checkout.
	{"put-cart", 1, (*world).putCart},
	{"checkout-create", 1, (*world).checkoutCreate},
	{"checkout-pay", 1, (*world).checkoutPay},
	// Paying at Stripe.
	{"confirm", 4, (*world).confirm},
	{"finish-3ds", 1, (*world).finish3DS},
	{"back-office", 1, (*world).backOffice},
	// Webhooks.
	{"webhook-deliver-all", 2, (*world).deliverAll},
	{"webhook-deliver-one", 2, (*world).deliverOne},
	{"webhook-redeliver", 1, (*world).redeliver},
	{"webhook-drop", 1, (*world).dropOne},
	{"webhook-sim-mode", 1, (*world).simMode},
	// Time.
	{"clock-past-key-ttl", 1, func(w *world, t *rapid.T) { w.advance(keyTTL + time.Hour) }},
	{"clock-past-lease", 1, func(w *world, t *rapid.T) { w.advance(leaseJump) }},
	{"clock-past-liveness", 1, func(w *world, t *rapid.T) { w.advance(liveness + time.Second) }},
	// Reading what is not one's own.
	{"probe-orders", 1, (*world).probeOrders},
}

// EnvWithout and EnvOnly name actions (comma-separated) to leave out of
// the draw, or to draw alone: diagnostics, to look past a defect already
// found; never set by make test or make soak. The checks stay the same.
const (
	EnvWithout = "ONECHARGE_MODEL_WITHOUT"
	EnvOnly    = "ONECHARGE_MODEL_ONLY"
)

func nameSet(env string) map[string]bool {
	set := map[string]bool{}
	for _, n := range strings.Split(os.Getenv(env), ",") {
		if n = strings.TrimSpace(n); n != "" {
			set[n] = true
		}
	}
	return set
}

func (w *world) actions() map[string]func(*rapid.T) {
	m := map[string]func(*rapid.T){"": w.check}
	without, only := nameSet(EnvWithout), nameSet(EnvOnly)
	for _, a := range actionTable {
		if without[a.name] || (len(only) > 0 && !only[a.name]) {
			continue
		}
		for i := range a.weight {
			name := a.name
			if i > 0 {
				name = fmt.Sprintf("%s·%d", a.name, i+1)
			}
			m[name] = func(t *rapid.T) {
				w.st.steps.Add(1)
				a.run(w, t)
			}
		}
	}
	return m
}

func (w *world) advance(d time.Duration) {
	w.env.Clock.Advance(d)
	w.logf("clock +%v", d)
}

// ---- drawing

var activeProducts = []string{"cap", "hoodie", "mug", "stickers", "tshirt"}

func drawItems(t *rapid.T, label string) []checkout.Item {
	ids := rapid.SliceOfNDistinct(rapid.SampledFrom(activeProducts), 1, 3, rapid.ID[string]).Draw(t, label+" products")
	items := make([]checkout.Item, len(ids))
	for i, id := range ids {
		items[i] = checkout.Item{ProductID: id, Quantity: rapid.SampledFrom([]int{1, 1, 2, 3, 99}).Draw(t, label+" quantity")}
	}
	return items
}

func drawMethod(t *rapid.T) checkout.PaymentMethod {
	return rapid.SampledFrom([]checkout.PaymentMethod{checkout.MethodCard, checkout.MethodCardTest}).Draw(t, "method")
}

func otherMethod(m checkout.PaymentMethod) checkout.PaymentMethod {
	if m == checkout.MethodCardTest {
		return checkout.MethodCard
	}
	return checkout.MethodCardTest
}

func (w *world) drawShopper(t *rapid.T) *shopper {
	return w.shoppers[rapid.IntRange(0, len(w.shoppers)-1).Draw(t, "shopper")]
}

// pick draws one of xs by its index, so that the logs stay short.
func pick[T any](t *rapid.T, label string, xs []T) T {
	return xs[rapid.IntRange(0, len(xs)-1).Draw(t, label)]
}

func (w *world) rawTab(t *rapid.T) *tab { return w.drawShopper(t).tabs[0] }

// cartOf is the tab's cart, or a new one when it has none.
func cartOf(t *rapid.T, tb *tab) ([]checkout.Item, checkout.PaymentMethod) {
	items, method := tb.cart, tb.method
	if len(items) == 0 {
		items = drawItems(t, "cart")
	}
	if method == "" {
		method = drawMethod(t)
	}
	return items, method
}

func editCart(t *rapid.T, items []checkout.Item) []checkout.Item {
	for {
		next := drawItems(t, "edited cart")
		if itemsString(next) != itemsString(items) {
			return next
		}
	}
}

func newNonce(t *rapid.T) string {
	return fmt.Sprintf("n-%d", rapid.IntRange(1, 1<<30).Draw(t, "nonce"))
}

// ---- validations

func (w *world) storedValidation(t *rapid.T, tb *tab) validation {
	items, method := cartOf(t, tb)
	v := validation{tab: tb, items: items, method: method, key: tb.storedKey()}
	if v.key == "" && rapid.Bool().Draw(t, "with a nonce") {
		v.nonce = newNonce(t)
		tb.nonce, tb.nonceAt = v.nonce, w.env.Clock.Now()
	}
	return v
}

func (w *world) validateStored(t *rapid.T) {
	tb := w.rawTab(t)
	w.validateOnce(w.storedValidation(t, tb))
}

func (w *world) validateNew(t *rapid.T) {
	tb := w.rawTab(t)
	v := validation{tab: tb, items: drawItems(t, "cart"), method: drawMethod(t)}
	if rapid.Bool().Draw(t, "with a nonce") {
		v.nonce = newNonce(t)
		tb.nonce, tb.nonceAt = v.nonce, w.env.Clock.Now()
	}
	w.validateOnce(v)
}

func (w *world) validateNonceRepeat(t *rapid.T) {
	tb := w.rawTab(t)
	if tb.nonce == "" {
		w.validateNew(t)
		return
	}
	items, method := cartOf(t, tb)
	w.validateOnce(validation{tab: tb, items: items, method: method, nonce: tb.nonce})
}

func (w *world) validateEdited(t *rapid.T) {
	tb := w.rawTab(t)
	v := w.storedValidation(t, tb)
	v.items = editCart(t, v.items)
	w.validateOnce(v)
}

func (w *world) validateOtherMethod(t *rapid.T) {
	tb := w.rawTab(t)
	v := w.storedValidation(t, tb)
	v.method = otherMethod(v.method)
	w.validateOnce(v)
}

func (w *world) validateForeignKey(t *rapid.T) {
	tb := w.rawTab(t)
	var theirs []string
	for _, o := range w.shoppers {
		if o != tb.sh {
			theirs = append(theirs, w.keysOf(o)...)
		}
	}
	if len(theirs) == 0 {
		t.SkipNow()
	}
	items, method := cartOf(t, tb)
	w.validateOnce(validation{tab: tb, items: items, method: method, key: rapid.SampledFrom(theirs).Draw(t, "their key")})
}

func (w *world) validateUnknownKey(t *rapid.T) {
	tb := w.rawTab(t)
	k, err := checkout.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	items, method := cartOf(t, tb)
	w.validateOnce(validation{tab: tb, items: items, method: method, key: k})
}

func (w *world) validateStaleKey(t *rapid.T) {
	tb := w.rawTab(t)
	if len(tb.history) < 2 {
		t.SkipNow()
	}
	items, method := cartOf(t, tb)
	k := rapid.SampledFrom(tb.history[:len(tb.history)-1]).Draw(t, "older key")
	w.validateOnce(validation{tab: tb, items: items, method: method, key: k})
}

func (w *world) validateCash(t *rapid.T) {
	tb := w.rawTab(t)
	w.validateOnce(validation{tab: tb, items: drawItems(t, "cart"), method: checkout.MethodCashOnDelivery})
}

// badRequests are validations the contract refuses (rule 1), each with
// the code it must be refused with.
var badRequests = []struct {
	body string
	want checkout.Code
}{
	{`{"items":[{"product_id":"retired-poster","quantity":1}],"payment_method":"CARD"}`, checkout.CodeInvalidItems},
	{`{"items":[{"product_id":"mug","quantity":0}],"payment_method":"CARD"}`, checkout.CodeInvalidItems},
	{`{"items":[{"product_id":"mug","quantity":100}],"payment_method":"CARD"}`, checkout.CodeInvalidItems},
	{`{"items":[{"product_id":"mug","quantity":1},{"product_id":"mug","quantity":2}],"payment_method":"CARD"}`, checkout.CodeInvalidItems},
	{`{"items":[],"payment_method":"CARD"}`, checkout.CodeInvalidItems},
	{`{"items":[{"product_id":"nope","quantity":1}],"payment_method":"CARD_TEST"}`, checkout.CodeInvalidItems},
	{`{"items":[{"product_id":"mug","quantity":1}],"payment_method":"BITCOIN"}`, checkout.CodeInvalidPaymentMethod},
	{`{"items":[{"product_id":"mug","quantity":1}],"payment_method":"CARD","idempotency_key":"ik_short"}`, checkout.CodeInvalidRequest},
	{`{"items":[{"product_id":"mug","quantity":"1"}],"payment_method":"CARD"}`, checkout.CodeInvalidRequest},
	{`{"ITEMS":[{"product_id":"mug","quantity":1}],"payment_method":"CARD"}`, checkout.CodeInvalidRequest},
	{`{"items":[{"product_id":"mug","quantity":1}],"payment_method":"CARD"`, checkout.CodeInvalidRequest},
}

func (w *world) validateBad(t *rapid.T) {
	tb := w.rawTab(t)
	bad := pick(t, "bad request", badRequests)
	body := bad.body
	if k := tb.storedKey(); k != "" && rapid.Bool().Draw(t, "carrying the stored key") && !strings.Contains(body, "idempotency_key") && strings.HasSuffix(body, "}") {
		body = strings.TrimSuffix(body, "}") + `,"idempotency_key":"` + k + `"}`
	}
	w.validateOnce(validation{tab: tb, method: checkout.MethodCard, body: []byte(body), want: bad.want})
}

// ---- keyflow

func (w *world) keyflowValidate(t *rapid.T) {
	var tabs []*tab
	for _, s := range w.shoppers {
		if len(s.tabs) > 1 {
			tabs = append(tabs, s.tabs[1])
		}
	}
	if len(tabs) == 0 {
		t.SkipNow()
	}
	tb := pick(t, "keyflow tab", tabs)
	items, method := cartOf(t, tb)
	if rapid.Bool().Draw(t, "edit the cart") {
		items = editCart(t, items)
	}
	if rapid.IntRange(0, 3).Draw(t, "switch method (1 in 4)") == 0 {
		method = otherMethod(method)
	}
	disturb := rapid.SampledFrom([]string{"none", "none", "fault", "kill"}).Draw(t, "disturbance")
	var undo func()
	switch disturb {
	case "fault":
		undo = w.addFault(t)
	case "kill":
		undo = w.armKill(t, tb)
	}
	w.logf("%s keyflow.ValidateCartItems %s %s (%s)", tb.label(), method, itemsString(items), disturb)
	resp, err := tb.kf.ValidateCartItems(context.Background(), checkout.ValidateRequest{Items: items, PaymentMethod: method})
	if undo != nil {
		undo()
	}
	if err != nil {
		w.logf("%s keyflow: %v", tb.label(), err)
		return
	}
	tb.cart, tb.method = items, method
	if k, _ := tb.kfStore.Get(); k != resp.IdempotencyKey {
		w.fatalf("keyflow: stored key %s, answered %s", short(k), short(resp.IdempotencyKey))
	}
}

// ---- concurrency, faults, kills

func (w *world) concurrentDuplicates(t *rapid.T) {
	tb := w.rawTab(t)
	items, method := cartOf(t, tb)
	v := validation{tab: tb, items: items, method: method}
	switch kind := rapid.SampledFrom([]string{"stored", "nonce", "edited", "foreign", "unknown", "stale"}).Draw(t, "duplicated request"); kind {
	case "stored":
		v.key = tb.storedKey()
	case "edited":
		v.key, v.items = tb.storedKey(), editCart(t, items)
	case "nonce":
		v.nonce = newNonce(t)
		tb.nonce, tb.nonceAt = v.nonce, w.env.Clock.Now()
	case "foreign":
		for _, o := range w.shoppers {
			if o != tb.sh && len(w.keysOf(o)) > 0 {
				v.key = w.keysOf(o)[0]
			}
		}
	case "unknown":
		v.key, _ = checkout.NewKey()
	case "stale":
		if len(tb.history) > 1 {
			v.key = tb.history[0]
		}
	}
	n := rapid.IntRange(2, 6).Draw(t, "duplicates")
	var undo func()
	if rapid.Bool().Draw(t, "with Stripe latency") {
		id := w.env.Sim.AddFault(stripesim.Fault{Path: "/v1/payment_intents/**", Latency: 30 * time.Millisecond})
		undo = func() { w.env.Sim.RemoveFault(id) }
	}
	pre := w.preValidate(v)
	reps := make([]reply, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reps[i] = send(tb.sh.http, "POST", w.env.URL+"/api/orders/validate", v.encode(), v.header())
		}()
	}
	wg.Wait()
	if undo != nil {
		undo()
	}
	var batch int
	keys, pis := map[string]bool{}, map[string]bool{}
	for _, rep := range reps {
		w.logf("%s ×%d → %s%s", v, n, rep, w.answerString(rep))
		if rep.Err == nil && rep.Status == http.StatusOK && method.UsesKey() {
			var resp checkout.ValidateResponse
			_ = json.Unmarshal(rep.Body, &resp)
			keys[resp.IdempotencyKey], pis[resp.PaymentIntent.ID] = true, true
		}
		if rep.Err == nil && rep.Status == http.StatusOK && pre.ownKey && pre.keyHasPI && completed(pre.keyPI.Status) {
			var resp checkout.ValidateResponse
			_ = json.Unmarshal(rep.Body, &resp)
			if resp.PaymentIntent == nil || resp.PaymentIntent.ID != pre.keyPI.ID {
				w.fatalf("rule 4: %s: key %s's PaymentIntent is %s, yet a duplicate was answered a new checkout", v, short(v.key), pre.keyPI.Status)
			}
		}
		w.observe(v, rep, &batch)
	}
	// Rule 7 and rule 5: concurrent requests with one key (or one nonce)
	// make one key and one PaymentIntent; the others get the same answer
	// or request_in_progress.
	if (v.key != "" || (featureNonce && v.nonce != "")) && (len(keys) > 1 || len(pis) > 1) {
		w.fatalf("rules 5/7: %d concurrent duplicates of %s were answered %d keys and %d PaymentIntents", n, v, len(keys), len(pis))
	}
}

// addFault injects one Stripe fault for the next request; the returned
// function removes it.
func (w *world) addFault(t *rapid.T) func() {
	paths := map[string]string{
		"create":  "/v1/payment_intents",
		"update":  "/v1/payment_intents/*",
		"any":     "/v1/payment_intents/**",
		"session": "/v1/checkout/sessions",
	}
	where := rapid.SampledFrom([]string{"create", "update", "any", "session"}).Draw(t, "fault path")
	f := stripesim.Fault{Method: "POST", Path: paths[where]}
	if where == "any" {
		f.Method = ""
	}
	switch kind := rapid.SampledFrom([]string{"500 once", "503 ×3", "drop once", "drop ×3", "latency", "all 5xx"}).Draw(t, "fault"); kind {
	case "500 once":
		f.ErrorStatus, f.ErrorCount = 500, 1
	case "503 ×3":
		f.ErrorStatus, f.ErrorCount = 503, 3
	case "drop once":
		f.DropCount = 1
	case "drop ×3":
		f.DropCount = 3
	case "latency":
		f.Latency = 50 * time.Millisecond
	case "all 5xx":
		f.ErrorStatus, f.ErrorRate = 503, 1
	}
	w.logf("stripe fault: %+v", f)
	id := w.env.Sim.AddFault(f)
	return func() { w.env.Sim.RemoveFault(id) }
}

func (w *world) validateUnderFault(t *rapid.T) {
	tb := w.rawTab(t)
	v := w.storedValidation(t, tb)
	if rapid.Bool().Draw(t, "edit the cart") {
		v.items = editCart(t, v.items)
	}
	undo := w.addFault(t)
	w.validateOnce(v)
	undo()
}

// armKill arms a kill at one Stripe call of the next request of tb; the
// returned function disarms it.
func (w *world) armKill(t *rapid.T, tb *tab) func() {
	op := rapid.SampledFrom([]string{opAny, opCreate, opUpdate, opGet}).Draw(t, "kill at")
	when := rapid.SampledFrom([]string{killBefore, killAfter}).Draw(t, "kill when")
	disarm := w.arm(tb, tb.storedKey(), tb.nonce, op, when)
	return func() { disarm() }
}

// arm arms a kill for a request of tb carrying key (or, without one,
// nonce). The key is taken as held by a dead request from now on (the
// kill fires within this step, before the clock moves); disarm undoes
// that when the kill never fired, and reports whether it did.
func (w *world) arm(tb *tab, key, nonce, op, when string) (disarm func() bool) {
	w.logf("armed: %s at Stripe call %q", when, op)
	w.gw.arm(newPlan(op, when))
	id := key
	if id == "" {
		id = tb.sh.userID + "\x00" + nonce
	}
	prev, had := w.killedAt[id]
	w.killedAt[id] = w.env.Clock.Now()
	return func() bool {
		if w.gw.disarm() {
			w.logf("the request died (%s at %q)", when, op)
			return true
		}
		if had {
			w.killedAt[id] = prev
		} else {
			delete(w.killedAt, id)
		}
		return false
	}
}

func (w *world) validateKilled(t *rapid.T) {
	tb := w.rawTab(t)
	v := w.storedValidation(t, tb)
	if rapid.Bool().Draw(t, "edit the cart") {
		v.items = editCart(t, v.items)
	}
	op := rapid.SampledFrom([]string{opAny, opCreate, opUpdate, opGet}).Draw(t, "kill at")
	when := rapid.SampledFrom([]string{killBefore, killAfter}).Draw(t, "kill when")
	disarm := w.arm(tb, v.key, v.nonce, op, when)
	rep := w.validateOnce(v)
	if disarm() && rep.Err == nil {
		w.fatalf("a killed request was answered %s", rep)
	}
}

// validateOvertaken: a request waits on Stripe past its lease; a second
// request with the same key takes over and finishes; then the first goes
// on. It must never record over its successor.
func (w *world) validateOvertaken(t *rapid.T) {
	tb := w.rawTab(t)
	if tb.storedKey() == "" {
		t.SkipNow()
	}
	items, method := cartOf(t, tb)
	first := validation{tab: tb, items: editCart(t, items), method: method, key: tb.storedKey()}
	second := validation{tab: tb, items: editCart(t, first.items), method: method, key: tb.storedKey()}
	p := newPlan(rapid.SampledFrom([]string{opAny, opUpdate, opGet}).Draw(t, "pause at"), pause)
	w.gw.arm(p)
	done := make(chan reply, 1)
	go func() {
		done <- send(tb.sh.http, "POST", w.env.URL+"/api/orders/validate", first.encode(), first.header())
	}()
	var firstRep reply
	select {
	case <-p.hit:
	case firstRep = <-done:
		w.gw.disarm()
		w.logf("%s → %s%s (never reached Stripe)", first, firstRep, w.answerString(firstRep))
		w.observe(first, firstRep, nil)
		return
	}
	w.logf("%s: waiting at Stripe", first)
	w.gw.disarm()
	w.advance(leaseJump)
	rep := send(tb.sh.http, "POST", w.env.URL+"/api/orders/validate", second.encode(), second.header())
	w.logf("%s → %s%s (while the first waits)", second, rep, w.answerString(rep))
	close(p.release)
	firstRep = <-done
	w.logf("%s → %s%s (the first, resumed)", first, firstRep, w.answerString(firstRep))
	w.observe(first, firstRep, nil)
	w.observe(second, rep, nil)
	// Rule 7: the second took the key over and finished; the first, which
	// lost its hold, must not have recorded over it.
	var won checkout.ValidateResponse
	if rep.Err != nil || rep.Status != http.StatusOK || json.Unmarshal(rep.Body, &won) != nil || won.IdempotencyKey != second.key {
		return
	}
	keys, err := w.insp.Keys(w.ctx)
	if err != nil {
		w.fatalf("inspect keys: %v", err)
	}
	if r := keys[second.key]; r.PaymentIntentID == won.PaymentIntent.ID && (r.PIAmount != won.PaymentIntent.Amount || r.Amount != won.Order.Amount) {
		w.fatalf("rule 7: a request that lost its hold recorded over its successor: the successor was answered %d (order %d), the key now records %d (order %d)",
			won.PaymentIntent.Amount, won.Order.Amount, r.PIAmount, r.Amount)
	}
}

// ---- cart and hosted checkout

func (w *world) putCart(t *rapid.T) {
	s := w.drawShopper(t)
	body := `{"items":[{"product_id":"retired-poster","quantity":1}]}`
	valid := rapid.IntRange(0, 3).Draw(t, "valid cart (3 in 4)") > 0
	var items []checkout.Item
	if valid {
		items = drawItems(t, "cart")
		b, _ := json.Marshal(checkout.CartRequest{Items: items})
		body = string(b)
	}
	rep := w.guarded(s, s.name+" PUT /api/cart "+body, func() reply {
		return send(s.http, "PUT", w.env.URL+"/api/cart", []byte(body), map[string]string{"Content-Type": "application/json"})
	})
	w.logf("%s PUT /api/cart %s → %s", s.name, itemsString(items), rep)
	if !valid && rep.Status != http.StatusUnprocessableEntity {
		w.fatalf("PUT /api/cart with a retired product: %s, want 422", rep)
	}
}

func (w *world) checkoutCreate(t *rapid.T) {
	s := w.drawShopper(t)
	items := drawItems(t, "checkout cart")
	b, _ := json.Marshal(checkout.CartRequest{Items: items})
	var undo func()
	if rapid.IntRange(0, 3).Draw(t, "under a fault (1 in 4)") == 0 {
		undo = w.addFault(t)
	}
	rep := w.guarded(s, s.name+" POST /api/checkout", func() reply {
		return send(s.http, "POST", w.env.URL+"/api/checkout", b, map[string]string{"Content-Type": "application/json"})
	})
	if undo != nil {
		undo()
	}
	w.logf("%s POST /api/checkout %s → %s", s.name, itemsString(items), rep)
	if rep.Err != nil || rep.Status != http.StatusOK {
		return
	}
	var resp checkout.CheckoutResponse
	if err := json.Unmarshal(rep.Body, &resp); err != nil {
		w.fatalf("checkout answer %s: %v", rep.Body, err)
	}
	w.see(resp.SessionID)
	w.sessions[resp.SessionID] = &sessionModel{id: resp.SessionID, url: resp.URL, owner: s, items: items}
}

func (w *world) checkoutPay(t *rapid.T) {
	var open []*sessionModel
	for _, cs := range w.env.Sim.CheckoutSessions() {
		if m := w.sessions[cs.ID]; m != nil && cs.Status == "open" {
			open = append(open, m)
		}
	}
	if len(open) == 0 {
		t.SkipNow()
	}
	m := pick(t, "session", open)
	rep := send(noRedirects, "POST", m.url, nil, map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	w.logf("%s pays session %s (%s) → %s", m.owner.name, short(m.id), itemsString(m.items), rep)
}

var noRedirects = &http.Client{
	Timeout:       30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// ---- paying

func (w *world) confirm(t *rapid.T) {
	s := w.drawShopper(t)
	var tabs []*tab
	for _, tb := range s.tabs {
		if tb.pi != nil {
			tabs = append(tabs, tb)
		}
	}
	if len(tabs) == 0 {
		t.SkipNow()
	}
	tb := pick(t, "tab", tabs)
	pm := rapid.SampledFrom([]string{stripesim.PMCardVisa, stripesim.PMCardVisa, stripesim.PMCardChargeDeclined, stripesim.PMCardThreeDSecure2}).Draw(t, "card")
	form := url.Values{"client_secret": {tb.pi.ClientSecret}, "payment_method": {pm}, "return_url": {w.env.URL + "/order"}}
	rep := send(http.DefaultClient, "POST", w.env.URL+"/_stripe/v1/payment_intents/"+tb.pi.ID+"/confirm", []byte(form.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Authorization": "Bearer " + w.env.Sim.PublishableKey()})
	var pi struct {
		Status     string `json:"status"`
		Amount     int64  `json:"amount"`
		NextAction *struct {
			RedirectToURL struct {
				URL string `json:"url"`
			} `json:"redirect_to_url"`
		} `json:"next_action"`
	}
	_ = json.Unmarshal(rep.Body, &pi)
	w.logf("%s confirms %s with %s → %s %s %d", tb.label(), short(tb.pi.ID), pm, rep, pi.Status, pi.Amount)
	switch {
	case pi.Status == "succeeded":
		w.paid(t, tb)
	case pi.Status == "requires_action" && pi.NextAction != nil:
		c := challenge{url: pi.NextAction.RedirectToURL.URL, pi: tb.pi.ID, tab: tb}
		if rapid.Bool().Draw(t, "finish the challenge now") {
			w.runChallenge(t, c)
		} else {
			w.open3DS = append(w.open3DS, c)
		}
	}
}

// paid: the page learns of the payment (or, drawn, never does: an old tab).
func (w *world) paid(t *rapid.T, tb *tab) {
	if !rapid.Bool().Draw(t, "the tab learns of the payment") {
		return
	}
	if tb.kf != nil {
		tb.kf.PaymentSucceeded()
	} else {
		tb.setKey("")
	}
	tb.cart, tb.pi = nil, nil
}

func (w *world) runChallenge(t *rapid.T, c challenge) {
	act := rapid.SampledFrom([]string{"complete", "complete", "fail"}).Draw(t, "challenge")
	rep := send(noRedirects, "POST", c.url, []byte("action="+act), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	w.logf("%s 3-D Secure %s for %s → %s", c.tab.label(), act, short(c.pi), rep)
	loc := ""
	if rep.Header != nil {
		loc = rep.Header.Get("Location")
	}
	if c.tab.kf != nil {
		if c.tab.kf.HandleRedirectReturn(loc) {
			c.tab.cart, c.tab.pi = nil, nil
		}
	} else if strings.Contains(loc, "redirect_status=succeeded") {
		w.paid(t, c.tab)
	}
}

func (w *world) finish3DS(t *rapid.T) {
	if len(w.open3DS) == 0 {
		t.SkipNow()
	}
	i := rapid.IntRange(0, len(w.open3DS)-1).Draw(t, "challenge")
	c := w.open3DS[i]
	w.open3DS = append(w.open3DS[:i:i], w.open3DS[i+1:]...)
	w.runChallenge(t, c)
}

// backOffice moves a PaymentIntent as Stripe's dashboard would: canceled,
// or processing (a payment still settling) and later succeeded.
func (w *world) backOffice(t *rapid.T) {
	var cands []simPI
	for _, p := range w.paymentIntents() {
		if payable(p.Status) || p.Status == "processing" {
			cands = append(cands, p)
		}
	}
	if len(cands) == 0 {
		t.SkipNow()
	}
	p := pick(t, "PaymentIntent", cands)
	to := rapid.SampledFrom([]string{"canceled", "processing"}).Draw(t, "to")
	if p.Status == "processing" {
		to = rapid.SampledFrom([]string{"succeeded", "canceled"}).Draw(t, "settles")
	}
	if err := w.env.Sim.ForcePaymentIntentStatus(p.ID, to); err != nil {
		t.Fatal(err)
	}
	w.logf("back office: %s %s → %s", short(p.ID), p.Status, to)
}

// ---- webhooks

func (w *world) deliver(i int) {
	ev := w.relay.take(i)
	res, err := w.relay.deliver(ev)
	if err != nil {
		w.fatalf("webhook %s %s: %v", ev.Type, ev.ID, err)
	}
	w.logf("webhook %s %s (%s) → %d duplicate=%v", ev.Type, short(ev.ID), short(ev.Object), res.Status, res.Duplicate)
}

func (w *world) deliverAll(t *rapid.T) {
	w.quiesce()
	for range w.relay.heldEvents() {
		w.deliver(0)
	}
}

func (w *world) deliverOne(t *rapid.T) {
	w.quiesce()
	held := w.relay.heldEvents()
	if len(held) == 0 {
		t.SkipNow()
	}
	w.deliver(rapid.IntRange(0, len(held)-1).Draw(t, "event"))
}

func (w *world) redeliver(t *rapid.T) {
	past := w.relay.pastEvents()
	if len(past) == 0 {
		t.SkipNow()
	}
	ev := pick(t, "event", past)
	res, err := w.relay.deliver(ev)
	if err != nil {
		w.fatalf("webhook %s: %v", ev.ID, err)
	}
	w.logf("webhook again %s %s → %d duplicate=%v", ev.Type, short(ev.ID), res.Status, res.Duplicate)
}

func (w *world) dropOne(t *rapid.T) {
	w.quiesce()
	held := w.relay.heldEvents()
	if len(held) == 0 {
		t.SkipNow()
	}
	ev := w.relay.take(rapid.IntRange(0, len(held)-1).Draw(t, "event"))
	w.logf("webhook %s %s (%s) is never delivered", ev.Type, short(ev.ID), short(ev.Object))
}

func (w *world) simMode(t *rapid.T) {
	m := rapid.SampledFrom([]stripesim.WebhookMode{
		{}, {Duplicate: true}, {Order: stripesim.Reversed}, {Order: stripesim.Reversed, Duplicate: true},
	}).Draw(t, "simulator webhook mode")
	w.env.Sim.SetWebhookMode(m)
	if m.Order != stripesim.InOrder && rapid.Bool().Draw(t, "release held now") {
		w.env.Sim.ReleaseWebhooks()
	}
	w.logf("simulator webhook mode %+v", m)
}

// ---- other users' orders

func (w *world) probeOrders(t *rapid.T) {
	s := w.drawShopper(t)
	var theirs []string
	for id, o := range w.piOwner {
		if o != s {
			theirs = append(theirs, id)
		}
	}
	for _, m := range w.sessions {
		if m.owner != s {
			theirs = append(theirs, m.id)
		}
	}
	sort.Slice(theirs, func(i, j int) bool { return w.seq[theirs[i]] < w.seq[theirs[j]] })
	ids := []string{"pi_" + strings.Repeat("0", 24), "cs_test_unknown", "pi_%00", "pi_%FF", "pi_%C3%28", "x"}
	if len(theirs) > 0 {
		ids = append(ids, rapid.SampledFrom(theirs).Draw(t, "their order"))
	}
	id := rapid.SampledFrom(ids).Draw(t, "order id")
	rep := send(s.http, "GET", w.env.URL+"/api/orders/"+id, nil, nil)
	w.logf("%s GET /api/orders/%s → %s", s.name, id, rep)
	if rep.Err != nil || rep.Status != http.StatusNotFound {
		w.fatalf("I6 / section 4: %s GET /api/orders/%s (not theirs, or malformed) → %s %s, want 404", s.name, id, rep, rep.Body)
	}
}
