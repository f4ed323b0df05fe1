package e2e_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onecharge/onecharge/server/checkoutsvc"
	"github.com/onecharge/onecharge/server/stripesim"
	"github.com/onecharge/onecharge/server/testenv"
	"github.com/onecharge/onecharge/shared/checkout"
)

// Catalog prices (server/postgres/migrations/002_demo_catalog.sql).
const (
	priceTShirt = 2500
	priceMug    = 1200
	priceHoodie = 4500
)

// requireKey checks the shape of an idempotency key.
func requireKey(t *testing.T, key string) {
	t.Helper()
	require.True(t, strings.HasPrefix(key, "ik_"), "idempotency key %q", key)
}

// lastCalls returns the validations after the first n.
func lastCalls(calls []validateCall, n int) []validateCall {
	if n > len(calls) {
		return nil
	}
	return calls[n:]
}

// TestKeySurvivesRefresh: the first checkout stores a key in localStorage; a
// refresh and a second checkout send the same key and show the same
// PaymentIntent.
func TestKeySurvivesRefresh(t *testing.T) {
	env := newEnv(t, testenv.Options{})
	tb := newTab(t, env, nil, "shop")
	tb.open("/")
	tb.add("tshirt", "mug")
	tb.checkout()

	v := tb.view()
	assert.Empty(t, v.ToastKind, "no toast: %s", v.ToastText)
	key := tb.storedKey()
	requireKey(t, key)
	assert.Equal(t, key, v.StoredKey, "the panel shows the stored key")
	require.True(t, strings.HasPrefix(v.PI, "pi_"), "PaymentIntent shown: %+v", v)
	assert.Equal(t, "requires_payment_method", v.PIStatus)
	assert.Contains(t, v.OrderTotal, "37.00")
	calls := tb.validateCalls()
	require.Len(t, calls, 1)
	assert.Empty(t, calls[0].Key, "the first validation sends no key")
	assert.Equal(t, 200, calls[0].Status)

	if os.Getenv("ONECHARGE_UPDATE_SCREENSHOT") == "1" {
		tb.run("wait for the card step", chromedp.WaitVisible("#card-step", chromedp.ByQuery))
		ctx, cancel := context.WithTimeout(tb.ctx, actionTimeout)
		defer cancel()
		shot := filepath.Join("..", "docs", "storefront.png")
		require.NoError(t, saveScreenshot(ctx, shot))
		t.Logf("wrote %s", absPath(shot))
	}

	tb.reload()
	v = tb.view()
	assert.Equal(t, key, v.StoredKey, "the key survives the refresh")
	assert.Equal(t, 2, v.CartLines, "the cart comes back from the server")
	tb.checkout()

	v2 := tb.view()
	assert.Empty(t, v2.ToastKind, "no toast: %s", v2.ToastText)
	assert.Equal(t, v.StoredKey, v2.StoredKey)
	assert.Equal(t, key, tb.storedKey())
	assert.Empty(t, v.PI, "a fresh page shows no PaymentIntent before checkout")
	calls = tb.validateCalls()
	require.Len(t, calls, 2)
	assert.Equal(t, key, calls[1].Key, "the second checkout sends the stored key")
	assert.Equal(t, 1, env.Sim.CreatedPaymentIntents())
	pis := env.Sim.PaymentIntents()
	require.Len(t, pis, 1)
	assert.Equal(t, pis[0].ID, v2.PI, "the same PaymentIntent")
}

// TestCartChangeKeepsIntent: changing the cart and checking out again keeps
// the key and the PaymentIntent, whose amount follows the cart.
func TestCartChangeKeepsIntent(t *testing.T) {
	env := newEnv(t, testenv.Options{})
	tb := newTab(t, env, nil, "shop")
	tb.open("/")
	tb.add("tshirt")
	tb.checkout()
	first := tb.view()
	requireKey(t, first.StoredKey)
	pi := simIntent(t, env, first.PI)
	assert.EqualValues(t, priceTShirt, pi.Amount)

	tb.setQuantity("tshirt", 3)
	tb.add("hoodie")
	tb.checkout()
	second := tb.view()
	assert.Empty(t, second.ToastKind, "no toast: %s", second.ToastText)
	assert.Equal(t, first.StoredKey, second.StoredKey, "same key")
	assert.Equal(t, first.PI, second.PI, "same PaymentIntent")
	assert.Contains(t, second.OrderTotal, "120.00")
	pi = simIntent(t, env, first.PI)
	assert.EqualValues(t, 3*priceTShirt+priceHoodie, pi.Amount, "the PaymentIntent has the new amount")
	assert.Equal(t, 1, env.Sim.CreatedPaymentIntents())
	calls := tb.validateCalls()
	require.Len(t, calls, 2)
	assert.Equal(t, first.StoredKey, calls[1].Key)
}

// TestDoubleClickCreatesOneIntent: a double click on Checkout reaches the
// module twice; the module runs the validations one after the other, so
// the second sends the key the first stored: one PaymentIntent.
func TestDoubleClickCreatesOneIntent(t *testing.T) {
	env := newEnv(t, testenv.Options{})
	// Keep the first validation in flight while the second click lands.
	env.Sim.AddFault(stripesim.Fault{Method: "POST", Path: "/v1/payment_intents", Latency: 300 * time.Millisecond})
	tb := newTab(t, env, nil, "shop")
	tb.open("/")
	tb.add("mug")
	tb.run("double-click Checkout", doubleClick("#checkout"))
	tb.waitCheckouts(2)

	v := tb.view()
	assert.Empty(t, v.ToastKind, "no toast: %s", v.ToastText)
	assert.Equal(t, 1, env.Sim.CreatedPaymentIntents(), "one PaymentIntent")
	calls := tb.validateCalls()
	require.Len(t, calls, 2, "both clicks reached the module")
	assert.Empty(t, calls[0].Key)
	requireKey(t, v.StoredKey)
	assert.Equal(t, v.StoredKey, calls[1].Key, "the second validation sends the first one's key")
	assert.Equal(t, 200, calls[0].Status)
	assert.Equal(t, 200, calls[1].Status)
	pis := env.Sim.PaymentIntents()
	require.Len(t, pis, 1)
	assert.Equal(t, pis[0].ID, v.PI)
}

// TestDirectPaymentSucceeds: paying with the succeeding card shows the paid
// order and clears the key and the cart; the next checkout gets a new key.
func TestDirectPaymentSucceeds(t *testing.T) {
	env := newEnv(t, testenv.Options{})
	tb := newTab(t, env, nil, "shop")
	tb.open("/")
	tb.add("tshirt", "mug")
	tb.checkout()
	before := tb.view()
	requireKey(t, before.StoredKey)

	tb.payAndWait("card-visa")
	tb.waitOrderPaid()
	tb.waitFor("the emptied cart", `document.querySelectorAll('#cart-lines li').length === 0`)
	v := tb.view()
	assert.Empty(t, v.ToastKind, "no toast: %s", v.ToastText)
	assert.Empty(t, v.StoredKey, "the panel shows no key")
	assert.Empty(t, tb.storedKey(), "localStorage holds no key")
	assert.Equal(t, before.PI, v.PI)
	assert.Equal(t, "succeeded", v.PIStatus)
	assert.Contains(t, v.Result, "Order paid")
	assert.Contains(t, v.Result, "37.00")
	pi := simIntent(t, env, before.PI)
	assert.Equal(t, "succeeded", pi.Status)

	tb.add("hoodie")
	tb.checkout()
	next := tb.view()
	assert.Empty(t, next.ToastKind, "no toast: %s", next.ToastText)
	requireKey(t, next.StoredKey)
	assert.NotEqual(t, before.StoredKey, next.StoredKey, "a new key")
	assert.NotEqual(t, before.PI, next.PI, "a new PaymentIntent")
	assert.Equal(t, 2, env.Sim.CreatedPaymentIntents())
	calls := tb.validateCalls()
	require.Len(t, calls, 2)
	assert.Empty(t, calls[1].Key, "the checkout after the payment sends no key")
}

// TestThreeDSecureRedirect: the 3-D Secure card redirects to the challenge
// page; completing it returns to the storefront, which clears the key and
// shows the order as paid once the webhook recorded it.
func TestThreeDSecureRedirect(t *testing.T) {
	env := newEnv(t, testenv.Options{})
	tb := newTab(t, env, nil, "shop")
	tb.open("/")
	tb.add("hoodie")
	tb.checkout()
	before := tb.view()
	requireKey(t, before.StoredKey)

	tb.pay("card-3ds")
	tb.run("wait for the challenge page", chromedp.WaitVisible("#complete", chromedp.ByQuery))
	var loc string
	tb.eval(`location.pathname`, &loc)
	assert.True(t, strings.HasPrefix(loc, "/_stripe/challenge/"+before.PI+"/"), "on the challenge page: %s", loc)
	assert.Equal(t, before.StoredKey, tb.storedKey(), "the key is kept during the challenge")

	tb.run("complete authentication", chromedp.Click("#complete", chromedp.ByQuery))
	tb.run("wait for the storefront", chromedp.WaitVisible("#add-tshirt", chromedp.ByQuery))
	tb.waitOrderPaid()
	v := tb.view()
	assert.Empty(t, v.ToastKind, "no toast: %s", v.ToastText)
	assert.Equal(t, env.URL+"/", v.URL, "the return parameters are cleaned from the URL")
	assert.Empty(t, tb.storedKey(), "the key is cleared")
	assert.Empty(t, v.StoredKey)
	assert.Equal(t, before.PI, v.PI)
	assert.Contains(t, v.Result, "Order paid")
	pi := simIntent(t, env, before.PI)
	assert.Equal(t, "succeeded", pi.Status)
	assert.Equal(t, 1, env.Sim.CreatedPaymentIntents())
}

// TestThreeDSecureFailed: a failed authentication returns to the
// storefront with an error toast; the key is kept and the same
// PaymentIntent can be paid with another card.
func TestThreeDSecureFailed(t *testing.T) {
	env := newEnv(t, testenv.Options{})
	tb := newTab(t, env, nil, "shop")
	tb.open("/")
	tb.add("mug")
	tb.checkout()
	before := tb.view()
	requireKey(t, before.StoredKey)

	tb.pay("card-3ds")
	tb.run("fail authentication",
		chromedp.WaitVisible("#fail", chromedp.ByQuery),
		chromedp.Click("#fail", chromedp.ByQuery),
		chromedp.WaitVisible("#add-tshirt", chromedp.ByQuery))
	tb.waitToast("payment_failed")
	tb.waitFor("the card step", `!document.getElementById('card-step').hidden`)
	v := tb.view()
	assert.Equal(t, env.URL+"/", v.URL, "the return parameters are cleaned from the URL")
	assert.Equal(t, before.StoredKey, tb.storedKey(), "the key is kept")
	assert.Equal(t, before.PI, v.PI)
	assert.Equal(t, "requires_payment_method", v.PIStatus)

	tb.payAndWait("card-visa")
	tb.waitOrderPaid()
	v = tb.view()
	assert.Empty(t, v.ToastKind, "no toast: %s", v.ToastText)
	assert.Equal(t, before.PI, v.PI, "the same PaymentIntent")
	assert.Empty(t, tb.storedKey())
	assert.Equal(t, 1, env.Sim.CreatedPaymentIntents())
}

// TestDeclinedCardThenVisa: a declined card shows an error toast and keeps
// the key; paying again with the good card succeeds on the same
// PaymentIntent.
func TestDeclinedCardThenVisa(t *testing.T) {
	env := newEnv(t, testenv.Options{})
	tb := newTab(t, env, nil, "shop")
	tb.open("/")
	tb.add("cap")
	tb.checkout()
	before := tb.view()
	requireKey(t, before.StoredKey)

	tb.payAndWait("card-declined")
	tb.waitToast("card_declined")
	v := tb.view()
	assert.Contains(t, v.ToastText, "declined")
	assert.Equal(t, before.StoredKey, tb.storedKey(), "the key is kept")
	assert.Equal(t, before.PI, v.PI)
	assert.Equal(t, "requires_payment_method", v.PIStatus)

	tb.payAndWait("card-visa")
	tb.waitOrderPaid()
	v = tb.view()
	assert.Empty(t, v.ToastKind, "the toast is gone: %s", v.ToastText)
	assert.Equal(t, before.PI, v.PI, "the same PaymentIntent")
	assert.Empty(t, tb.storedKey(), "the key is cleared after the payment")
	pi := simIntent(t, env, before.PI)
	assert.Equal(t, "succeeded", pi.Status)
	assert.Equal(t, 1, env.Sim.CreatedPaymentIntents())
}

// TestTwoTabs: two tabs of one shopper share localStorage and the session
// cookie. A payment in tab A then a checkout in tab B starts a new checkout
// with no error. When tab A's payment went through without tab A learning
// it (the network lost the answers, so the key stayed stored), tab B
// sends that stale key; the server answers payment_already_completed and
// the module clears the key and retries without one: a new key, no toast.
func TestTwoTabs(t *testing.T) {
	env := newEnv(t, testenv.Options{})
	a := newTab(t, env, nil, "tab-a")
	a.open("/")
	a.add("tshirt")
	a.checkout()
	first := a.view()
	requireKey(t, first.StoredKey)

	b := newTab(t, env, a, "tab-b")
	b.open("/")
	assert.Equal(t, first.StoredKey, b.view().StoredKey, "tab B sees tab A's key")
	assert.Equal(t, 1, b.view().CartLines, "tab B sees the cart")

	// Tab A pays; tab B, still showing the old cart, checks out.
	a.front()
	a.payAndWait("card-visa")
	a.waitOrderPaid()
	b.front()
	b.checkout()
	second := b.view()
	assert.Empty(t, second.ToastKind, "no toast in tab B: %s", second.ToastText)
	requireKey(t, second.StoredKey)
	assert.NotEqual(t, first.StoredKey, second.StoredKey)
	assert.NotEqual(t, first.PI, second.PI)
	assert.Equal(t, 2, env.Sim.CreatedPaymentIntents())

	// Tab A, refreshed, checks out the same cart (same key, same
	// PaymentIntent) and pays, but the network fails after the payment went
	// through: the answers of the confirmation (and of Chromium's own retry
	// of it) and of the page's status check are lost. Tab A cannot know, so
	// the key stays stored.
	a.front()
	a.reload()
	a.checkout()
	require.Equal(t, second.PI, a.view().PI, "tab A continues tab B's checkout")
	lost := env.Sim.AddFault(stripesim.Fault{Path: "/v1/payment_intents/**", DropRate: 1})
	a.payAndWait("card-visa")
	a.waitToast("network")
	env.Sim.RemoveFault(lost)
	env.WaitWebhooks(t)
	pi := simIntent(t, env, second.PI)
	require.Equal(t, "succeeded", pi.Status)
	require.Equal(t, second.StoredKey, b.storedKey(), "the stale key is still stored")

	b.front()
	nb := len(b.validateCalls())
	b.checkout()
	third := b.view()
	assert.Empty(t, third.ToastKind, "no toast in tab B: %s", third.ToastText)
	requireKey(t, third.StoredKey)
	assert.NotEqual(t, second.StoredKey, third.StoredKey, "a new key")
	assert.NotEqual(t, second.PI, third.PI, "a new PaymentIntent")
	assert.Equal(t, third.StoredKey, b.storedKey())
	calls := lastCalls(b.validateCalls(), nb)
	require.Len(t, calls, 2, "the stale key, then a retry without a key")
	assert.Equal(t, second.StoredKey, calls[0].Key)
	assert.Equal(t, 409, calls[0].Status)
	assert.Empty(t, calls[1].Key)
	assert.Equal(t, 200, calls[1].Status)
	assert.Equal(t, 3, env.Sim.CreatedPaymentIntents())
}

// TestForeignKeyRotated: a key of another shopper found in localStorage is
// sent, rotated by the server without an error, and nothing of the other
// shopper's checkout reaches the page.
func TestForeignKeyRotated(t *testing.T) {
	env := newEnv(t, testenv.Options{})
	other := env.NewClient(t)
	theirs, r := other.Validate(checkout.ValidateRequest{
		Items:         []checkout.Item{{ProductID: "hoodie", Quantity: 2}},
		PaymentMethod: checkout.MethodCard,
	})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	require.NotNil(t, theirs.PaymentIntent)

	tb := newTab(t, env, nil, "shop")
	tb.open("/")
	tb.eval(fmt.Sprintf(`localStorage.setItem(%q, %q), true`, storageKey, theirs.IdempotencyKey), nil)
	tb.reload()
	tb.add("stickers")
	tb.checkout()

	v := tb.view()
	assert.Empty(t, v.ToastKind, "no toast: %s", v.ToastText)
	requireKey(t, v.StoredKey)
	assert.NotEqual(t, theirs.IdempotencyKey, v.StoredKey, "rotated")
	assert.Equal(t, v.StoredKey, tb.storedKey())
	assert.NotEqual(t, theirs.PaymentIntent.ID, v.PI)
	var html string
	tb.eval(`document.documentElement.outerHTML`, &html)
	assert.NotContains(t, html, theirs.PaymentIntent.ID, "the other shopper's PaymentIntent never shows")
	assert.NotContains(t, html, theirs.PaymentIntent.ClientSecret)
	calls := tb.validateCalls()
	require.Len(t, calls, 1)
	assert.Equal(t, theirs.IdempotencyKey, calls[0].Key, "the foreign key was sent")
	assert.Equal(t, 200, calls[0].Status)
	assert.Equal(t, 2, env.Sim.CreatedPaymentIntents())
	pi := simIntent(t, env, theirs.PaymentIntent.ID)
	assert.EqualValues(t, 2*priceHoodie, pi.Amount, "the other shopper's PaymentIntent is untouched")
}

// blockLocalStorage makes every access to window.localStorage throw, as a
// browser with storage disabled does; it runs before any script of a page.
const blockLocalStorage = `Object.defineProperty(window, 'localStorage', {
	configurable: true,
	get() { throw new DOMException('blocked', 'SecurityError'); },
});`

// TestLocalStorageBlocked: with localStorage throwing, checkout still works
// with the key in memory, and the module says so once on the console.
func TestLocalStorageBlocked(t *testing.T) {
	env := newEnv(t, testenv.Options{})
	tb := newTab(t, env, nil, "shop", chromedp.ActionFunc(func(ctx context.Context) error {
		_, err := page.AddScriptToEvaluateOnNewDocument(blockLocalStorage).Do(ctx)
		return err
	}))
	tb.open("/")
	var blocked string
	tb.eval(`(() => { try { localStorage; return 'readable'; } catch (e) { return e.name; } })()`, &blocked)
	require.Equal(t, "SecurityError", blocked)

	tb.add("tshirt")
	tb.checkout()
	first := tb.view()
	assert.Empty(t, first.ToastKind, "no toast: %s", first.ToastText)
	requireKey(t, first.StoredKey)
	require.True(t, strings.HasPrefix(first.PI, "pi_"))

	tb.add("mug")
	tb.checkout()
	second := tb.view()
	assert.Empty(t, second.ToastKind, "no toast: %s", second.ToastText)
	assert.Equal(t, first.StoredKey, second.StoredKey, "the in-memory key is kept")
	assert.Equal(t, first.PI, second.PI)
	calls := tb.validateCalls()
	require.Len(t, calls, 2)
	assert.Equal(t, first.StoredKey, calls[1].Key)
	assert.Equal(t, 1, env.Sim.CreatedPaymentIntents())

	var warnings []string
	for _, e := range tb.consoleLog() {
		if e.Type == "warning" && strings.Contains(e.Text, "localStorage") {
			warnings = append(warnings, e.Text)
		}
	}
	assert.Len(t, warnings, 1, "one console warning about localStorage: %q", warnings)
}

// TestCashOnDelivery: cash on delivery places the order with no key and no
// PaymentIntent, and shows its total.
func TestCashOnDelivery(t *testing.T) {
	env := newEnv(t, testenv.Options{})
	tb := newTab(t, env, nil, "shop")
	tb.open("/")
	tb.add("tshirt", "stickers")
	tb.choose("pm-cod")
	tb.checkout()
	v := tb.view()
	assert.Empty(t, v.ToastKind, "no toast: %s", v.ToastText)
	assert.Contains(t, v.Result, "Order placed")
	assert.Contains(t, v.Result, "30.00")
	assert.Contains(t, v.OrderTotal, "30.00")
	assert.Empty(t, v.StoredKey)
	assert.Empty(t, tb.storedKey())
	assert.Empty(t, v.PI)
	var cardStepHidden bool
	tb.eval(`document.getElementById('card-step').hidden`, &cardStepHidden)
	assert.True(t, cardStepHidden, "no card step")
	assert.Equal(t, 0, env.Sim.CreatedPaymentIntents())
}

// TestModuleLoadFailure: when the WebAssembly module cannot load, the page
// says so and checkout stays unavailable; the catalog still shows.
func TestModuleLoadFailure(t *testing.T) {
	env := newEnv(t, testenv.Options{})
	tb := newTab(t, env, nil, "shop", network.SetBlockedURLs([]string{"*/onecharge.wasm"}))
	tb.run("open /", chromedp.Navigate(env.URL+"/"), chromedp.WaitVisible("#add-tshirt", chromedp.ByQuery))
	tb.waitFor("the failure status", `document.getElementById('module-status').dataset.state === 'failed'`)
	var status, disabled string
	tb.eval(`document.getElementById('module-status').textContent`, &status)
	tb.eval(`document.getElementById('checkout').getAttribute('aria-disabled')`, &disabled)
	assert.Contains(t, status, "could not be loaded")
	assert.Equal(t, "true", disabled)
	// The click's handler has run when the click returns: it would have
	// marked the button busy synchronously.
	var label string
	tb.run("click Checkout", chromedp.Click("#checkout", chromedp.ByQuery),
		chromedp.Evaluate(`document.getElementById('checkout').textContent`, &label))
	assert.Equal(t, "Checkout", label, "nothing starts without the module")
	assert.Empty(t, tb.validateCalls())
}

// failOnce is a gateway whose first CreatePaymentIntent fails with an
// internal error, as a hiccup in the server would.
type failOnce struct {
	checkoutsvc.Gateway
	creates atomic.Int32
}

func (g *failOnce) CreatePaymentIntent(ctx context.Context, p checkoutsvc.CreateIntentParams) (checkoutsvc.PaymentIntent, error) {
	if g.creates.Add(1) == 1 {
		return checkoutsvc.PaymentIntent{}, &checkout.Error{Code: checkout.CodeInternal, Message: "injected failure"}
	}
	return g.Gateway.CreatePaymentIntent(ctx, p)
}

// TestServerErrorRetried: one 5xx answer from the server is retried by
// the module without the shopper noticing; one PaymentIntent.
func TestServerErrorRetried(t *testing.T) {
	gw := &failOnce{}
	env := newEnv(t, testenv.Options{WrapGateway: func(g checkoutsvc.Gateway) checkoutsvc.Gateway {
		gw.Gateway = g
		return gw
	}})
	tb := newTab(t, env, nil, "shop")
	tb.open("/")
	tb.add("tshirt")
	tb.checkout()

	v := tb.view()
	assert.Empty(t, v.ToastKind, "no toast: %s", v.ToastText)
	requireKey(t, v.StoredKey)
	assert.True(t, strings.HasPrefix(v.PI, "pi_"), "PaymentIntent shown: %+v", v)
	assert.Equal(t, 1, env.Sim.CreatedPaymentIntents(), "one PaymentIntent")
	assert.EqualValues(t, 2, gw.creates.Load(), "the failed create and its retry")
	calls := tb.validateCalls()
	require.Len(t, calls, 2)
	assert.GreaterOrEqual(t, calls[0].Status, 500, "the first answer is a 5xx")
	assert.Equal(t, 200, calls[1].Status)
}

// TestPaymentProviderDown: when Stripe fails persistently, the checkout
// ends with the payment_unavailable toast and the key stays stored, so a
// later checkout continues the same PaymentIntent.
func TestPaymentProviderDown(t *testing.T) {
	env := newEnv(t, testenv.Options{})
	tb := newTab(t, env, nil, "shop")
	tb.open("/")
	tb.add("tshirt")
	tb.checkout()
	first := tb.view()
	requireKey(t, first.StoredKey)

	// A changed cart needs Stripe (an update of the PaymentIntent).
	fault := env.Sim.AddFault(stripesim.Fault{Path: "all", ErrorStatus: 503, ErrorRate: 1})
	tb.add("mug")
	n := len(tb.validateCalls())
	tb.checkout()
	tb.waitToast("payment_unavailable")
	v := tb.view()
	assert.Contains(t, v.ToastText, "unavailable")
	assert.Equal(t, first.StoredKey, tb.storedKey(), "the key is kept for a later retry")
	calls := lastCalls(tb.validateCalls(), n)
	require.NotEmpty(t, calls)
	assert.Greater(t, len(calls), 1, "retried")
	for i, c := range calls {
		assert.Equal(t, first.StoredKey, c.Key, "attempt %d sends the key", i+1)
		assert.Equal(t, 502, c.Status, "attempt %d", i+1)
	}

	env.Sim.RemoveFault(fault)
	tb.checkout()
	v = tb.view()
	assert.Empty(t, v.ToastKind, "no toast after recovery: %s", v.ToastText)
	assert.Equal(t, first.StoredKey, v.StoredKey, "the same key")
	assert.Equal(t, first.PI, v.PI, "the same PaymentIntent")
	pi := simIntent(t, env, first.PI)
	assert.EqualValues(t, priceTShirt+priceMug, pi.Amount)
	assert.Equal(t, 1, env.Sim.CreatedPaymentIntents())
}

// TestHostedCheckout: "Pay on a hosted page" creates a Checkout Session
// for the cart, the shopper pays on the simulator's hosted page and comes
// back; the webhook records the order and empties the cart. A second
// hosted checkout works too (one cart row per user, never a duplicate-key
// error). No idempotency key is involved in this flow.
func TestHostedCheckout(t *testing.T) {
	env := newEnv(t, testenv.Options{})
	tb := newTab(t, env, nil, "shop")
	tb.open("/")
	tb.add("cap", "mug")
	tb.run("go to the hosted page",
		chromedp.Click("#hosted-checkout", chromedp.ByQuery),
		chromedp.WaitVisible("#pay", chromedp.ByQuery))
	var url string
	tb.eval(`location.href`, &url)
	assert.Contains(t, url, "/_stripe/", "the simulator's hosted page")

	tb.run("pay on the hosted page", chromedp.Click("#pay", chromedp.ByQuery))
	tb.waitReady()
	tb.waitFor("the order shown as paid", `document.getElementById('order-status').textContent === 'paid'`)
	v := tb.view()
	assert.Empty(t, v.ToastKind, "no toast: %s", v.ToastText)
	assert.Equal(t, env.URL+"/", v.URL, "the return parameters are cleaned from the URL")
	assert.Contains(t, v.Result, "hosted page")
	assert.Zero(t, v.CartLines, "the webhook emptied the cart")
	assert.Empty(t, tb.storedKey(), "the hosted flow stores no key")

	sessions := env.Sim.CheckoutSessions()
	require.Len(t, sessions, 1)
	assert.Equal(t, int64(2000+1200), sessions[0].AmountTotal)
	require.NotNil(t, sessions[0].PaymentIntent)
	// The order, as this shopper (the browser's session cookie) sees it.
	var order checkout.OrderResponse
	tb.run("read the order", chromedp.Evaluate(
		fmt.Sprintf(`fetch('/api/orders/' + %q).then(r => r.json())`, *sessions[0].PaymentIntent), &order,
		func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	assert.Equal(t, checkout.OrderPaid, order.Order.Status)
	assert.Equal(t, int64(3200), order.Order.Amount)

	// Again, with another cart: the same user checks out a second time.
	tb.add("stickers")
	tb.run("second hosted checkout",
		chromedp.Click("#hosted-checkout", chromedp.ByQuery),
		chromedp.WaitVisible("#pay", chromedp.ByQuery))
	assert.Len(t, env.Sim.CheckoutSessions(), 2)
}

// simIntent is the simulator's view of the PaymentIntent id, which must exist.
func simIntent(t *testing.T, env *testenv.Env, id string) stripesim.PaymentIntent {
	t.Helper()
	pi, ok := env.Sim.PaymentIntent(id)
	require.True(t, ok, "the simulator has PaymentIntent %s", id)
	return pi
}
