package modeltest

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/onecharge/onecharge/server/stripepay"
	"github.com/onecharge/onecharge/shared/checkout"
)

// userState is everything of one user that a request could write: their
// cart rows, key rows and orders, their PaymentIntents and Checkout
// Sessions at Stripe.
type userState struct {
	cartRows int
	cart     string
	keys     map[string]string
	orders   map[string]string
	intents  map[string]string
	sessions map[string]string
}

func (a userState) diff(b userState) string {
	var d []string
	if a.cartRows != b.cartRows || a.cart != b.cart {
		d = append(d, fmt.Sprintf("cart %d %s → %d %s", a.cartRows, a.cart, b.cartRows, b.cart))
	}
	for _, part := range []struct {
		name string
		x, y map[string]string
	}{{"key", a.keys, b.keys}, {"order", a.orders, b.orders}, {"PaymentIntent", a.intents, b.intents}, {"Checkout Session", a.sessions, b.sessions}} {
		ids := slices.Sorted(maps.Keys(part.x))
		for id := range part.y {
			if _, ok := part.x[id]; !ok {
				ids = append(ids, id)
			}
		}
		for _, id := range ids {
			if x, y := part.x[id], part.y[id]; x != y {
				d = append(d, fmt.Sprintf("%s %s: %q → %q", part.name, short(id), x, y))
			}
		}
	}
	return strings.Join(d, "; ")
}

// states reads every shopper's state. Nothing else runs meanwhile: the
// actions are sequential and webhooks wait in the relay.
func (w *world) states() map[*shopper]userState {
	w.quiesce()
	keys, err := w.insp.Keys(w.ctx)
	if err != nil {
		w.fatalf("inspect keys: %v", err)
	}
	out := map[*shopper]userState{}
	for _, sh := range w.shoppers {
		st := userState{keys: map[string]string{}, orders: map[string]string{}, intents: map[string]string{}, sessions: map[string]string{}}
		if st.cartRows, st.cart, err = w.insp.Cart(w.ctx, sh.userID); err != nil {
			w.fatalf("inspect cart: %v", err)
		}
		out[sh] = st
	}
	for k, r := range keys {
		if sh := w.byUser[r.UserID]; sh != nil {
			out[sh].keys[k] = r.Row
		}
	}
	orders, err := w.insp.Orders(w.ctx)
	if err != nil {
		w.fatalf("inspect orders: %v", err)
	}
	for _, o := range orders {
		if sh := w.byUser[o.UserID]; sh != nil {
			out[sh].orders[o.ID] = fmt.Sprintf("%+v", o)
		}
	}
	for _, p := range w.paymentIntents() {
		if sh := w.byUser[p.Metadata["user_id"]]; sh != nil {
			out[sh].intents[p.ID] = fmt.Sprintf("%s %d %s %v", p.Status, p.Amount, p.Currency, p.Metadata)
		}
	}
	for _, cs := range w.env.Sim.CheckoutSessions() {
		if cs.ClientReferenceID != nil {
			if sh := w.byUser[*cs.ClientReferenceID]; sh != nil {
				out[sh].sessions[cs.ID] = fmt.Sprintf("%s %s %d", cs.Status, cs.PaymentStatus, cs.AmountTotal)
			}
		}
	}
	return out
}

// guarded runs one sequential request of sh and checks I4 (a refused
// request writes nothing, anywhere) and I6 (it never writes another
// user's cart, keys, PaymentIntents or sessions).
func (w *world) guarded(sh *shopper, what string, do func() reply) reply {
	before := w.states()
	rep := do()
	after := w.states()
	refused := rep.Err == nil && rep.Status >= 400 && rep.Status <= 499
	for _, other := range w.shoppers {
		if other != sh || refused {
			if d := before[other].diff(after[other]); d != "" {
				inv := "I6: a request of " + sh.name + " changed " + other.name + "'s data"
				if refused {
					inv = fmt.Sprintf("I4: a refused request (%s) wrote %s's data", rep, other.name)
				}
				w.fatalf("%s\n  request: %s\n  change: %s", inv, what, d)
			}
		}
	}
	return rep
}

// validateOnce sends one validation, sequentially, and checks and records
// what it was answered. keyflow's attempts come through here too.
func (w *world) validateOnce(v validation) reply {
	sh := v.tab.sh
	pre := w.preValidate(v)
	rep := w.guarded(sh, v.String(), func() reply {
		return send(sh.http, "POST", w.env.URL+"/api/orders/validate", v.encode(), v.header())
	})
	w.logf("%s → %s%s", v, rep, w.answerString(rep))
	w.postValidate(v, pre, rep)
	w.observe(v, rep, nil)
	return rep
}

// preState is what a request's checks need to know from before it.
type preState struct {
	ownKey   bool
	keyPI    simPI
	keyHasPI bool
}

func (w *world) preValidate(v validation) preState {
	var p preState
	if v.key != "" && w.keyOwner[v.key] == v.tab.sh {
		p.ownKey = true
		p.keyPI, p.keyHasPI = w.piOfKey(v.key)
	}
	return p
}

// postValidate checks one sequential validation's answer against the
// contract's rules.
func (w *world) postValidate(v validation, pre preState, rep reply) {
	if rep.Err != nil {
		return
	}
	if v.want != "" {
		// A request the contract refuses (rule 1).
		if rep.Status == http.StatusOK || rep.code() != v.want {
			w.fatalf("rule 1: %s must be refused with %s, got %s %s", v, v.want, rep, rep.Body)
		}
		return
	}
	// Rule 4: a key whose PaymentIntent succeeded or is processing is never
	// answered with another checkout, whatever its age or the cart. (A
	// replay of the very same PaymentIntent, whose state the server has
	// not learned yet, cannot be paid twice and is let be.)
	if pre.ownKey && pre.keyHasPI && completed(pre.keyPI.Status) && rep.Status == http.StatusOK && v.method.UsesKey() {
		var resp checkout.ValidateResponse
		_ = json.Unmarshal(rep.Body, &resp)
		if resp.PaymentIntent == nil || resp.PaymentIntent.ID != pre.keyPI.ID {
			w.fatalf("rule 4: %s: key %s's PaymentIntent %s is %s at Stripe, yet the answer is a new checkout:%s",
				v, short(v.key), short(pre.keyPI.ID), pre.keyPI.Status, w.answerString(rep))
		}
	}
	// Rule 7: with nothing else in flight, request_in_progress means a lock
	// left by a request that died; it must not outlive liveness.
	if rep.Status == http.StatusConflict && rep.code() == checkout.CodeRequestInProgress {
		t0, ok := w.lastKill(v)
		now := w.env.Clock.Now()
		if !ok || now.Sub(t0) >= liveness {
			since := "no request holding it died"
			if ok {
				since = fmt.Sprintf("the request holding it died %v ago", now.Sub(t0))
			}
			w.fatalf("rule 7: %s: request_in_progress with nothing in flight (%s; a dead request's key must be usable within %v)", v, since, liveness)
		}
	}
	if rep.Status != http.StatusOK || !v.method.UsesKey() {
		return
	}
	var resp checkout.ValidateResponse
	if err := json.Unmarshal(rep.Body, &resp); err != nil || resp.PaymentIntent == nil {
		w.fatalf("%s: 200 without a PaymentIntent: %s", v, rep.Body)
		return
	}
	pi := resp.PaymentIntent
	at, ok := w.env.Sim.PaymentIntent(pi.ID)
	if !ok {
		w.fatalf("%s: answered PaymentIntent %s does not exist at Stripe", v, pi.ID)
		return
	}
	// What the shopper is shown is what Stripe will charge and what the
	// order will record (I1).
	if resp.Order.Amount != pi.Amount || at.Amount != pi.Amount || at.Currency != pi.Currency || lineSum(resp.Order.Items) != resp.Order.Amount {
		w.fatalf("I1: %s: order %d %s (lines %d), answered PaymentIntent %d %s, Stripe holds %d %s",
			v, resp.Order.Amount, resp.Order.Currency, lineSum(resp.Order.Items), pi.Amount, pi.Currency, at.Amount, at.Currency)
	}
	// I2: the PaymentIntent is the key's own.
	if got := at.Metadata[stripepay.MetadataKey]; got != resp.IdempotencyKey {
		w.fatalf("I2: %s: answered key %s with PaymentIntent %s, which Stripe binds to key %q", v, short(resp.IdempotencyKey), short(pi.ID), short(got))
	}
	// I6: never another user's PaymentIntent or key.
	if u := at.Metadata["user_id"]; u != v.tab.sh.userID {
		w.fatalf("I6: %s: answered PaymentIntent %s of user %s", v, short(pi.ID), w.userName(u))
	}
	if o := w.piOwner[pi.ID]; o != nil && o != v.tab.sh {
		w.fatalf("I6: %s: answered %s's PaymentIntent %s", v, o.name, short(pi.ID))
	}
	if o := w.keyOwner[resp.IdempotencyKey]; o != nil && o != v.tab.sh {
		w.fatalf("I6: %s: answered %s's key %s", v, o.name, short(resp.IdempotencyKey))
	}
	if v.key != "" && !pre.ownKey && resp.IdempotencyKey == v.key {
		w.fatalf("I6: %s: another user's (or an unknown) key was accepted as it is", v)
	}
	// The first-call nonce: a repeat answers as if it had sent the key.
	if featureNonce && v.key == "" && v.nonce != "" {
		if b, ok := w.nonceBound(v); ok && b.key != resp.IdempotencyKey && w.stillValid(v, b.key) {
			w.fatalf("rule 3: %s: a repeat of nonce %s answered key %s, not its key %s", v, v.nonce, short(resp.IdempotencyKey), short(b.key))
		}
	}
}

func sh(v validation) string { return v.tab.sh.userID + "\x00" }

// lastKill is when a request died holding the key v speaks for, as the
// server resolves it: the key sent or the one its nonce is bound to, or
// any successor of those in the same checkout (rotation aliases lead the
// server there, from another user's or an unknown key too), or v's own
// nonce before any key was bound.
func (w *world) lastKill(v validation) (time.Time, bool) {
	var t0 time.Time
	found := false
	take := func(t time.Time) {
		if !found || t.After(t0) {
			t0, found = t, true
		}
	}
	if t, ok := w.killedAt[sh(v)+v.nonce]; ok && v.key == "" {
		take(t)
	}
	keys := map[string]bool{}
	if v.key != "" {
		keys[v.key] = true
	} else if b, ok := w.nonceBound(v); ok {
		keys[b.key] = true
	}
	chains := map[int]bool{}
	for k := range keys {
		if c := w.keyChain[k]; c != 0 && w.keyOwner[k] == v.tab.sh {
			chains[c] = true
		}
		if c, ok := w.rotated[sh(v)+k]; ok {
			chains[c] = true
		}
	}
	for k, t := range w.killedAt {
		if keys[k] || chains[w.keyChain[k]] {
			take(t)
		}
	}
	return t0, found
}

// stillValid reports whether key k (bound to v's nonce) would be answered
// as it is: its PaymentIntent payable, the same method.
func (w *world) stillValid(v validation, k string) bool {
	p, ok := w.piOfKey(k)
	return ok && payable(p.Status) && p.Metadata["payment_method"] == string(v.method)
}

// nonceBinding is the key a first-call nonce was bound to, and when.
type nonceBinding struct {
	key string
	at  time.Time
}

// nonceBound returns the binding of v's nonce while it holds: the server
// honours a nonce for KEY_TTL (rule 3); after that the same nonce starts
// a new checkout.
func (w *world) nonceBound(v validation) (nonceBinding, bool) {
	b, ok := w.nonceKey[sh(v)+v.nonce]
	if !ok || w.env.Clock.Now().Sub(b.at) > keyTTL {
		return nonceBinding{}, false
	}
	return b, true
}

func (w *world) userName(id string) string {
	if s := w.byUser[id]; s != nil {
		return s.name
	}
	return "unknown " + short(id)
}

func (w *world) answerString(rep reply) string {
	if rep.Err != nil || rep.Status != http.StatusOK {
		return ""
	}
	var resp checkout.ValidateResponse
	if json.Unmarshal(rep.Body, &resp) != nil || resp.PaymentIntent == nil {
		return ""
	}
	return fmt.Sprintf(" key=%s pi=%s %d %s", short(resp.IdempotencyKey), short(resp.PaymentIntent.ID), resp.PaymentIntent.Amount, resp.PaymentIntent.Status)
}

// observe records what a validation was answered in the model. batch,
// when not nil, is the checkout that concurrent duplicates sending one
// foreign or unknown key share.
func (w *world) observe(v validation, rep reply, batch *int) {
	tb, s := v.tab, v.tab.sh
	if rep.Err != nil {
		return
	}
	if rep.Status == http.StatusConflict && rep.code() == checkout.CodePaymentAlreadyCompleted && v.key != "" && v.key == tb.storedKey() && tb.kf == nil {
		tb.setKey("") // the page clears it, as the browser module does
		return
	}
	if rep.Status != http.StatusOK || !v.method.UsesKey() {
		return
	}
	var resp checkout.ValidateResponse
	if err := json.Unmarshal(rep.Body, &resp); err != nil || resp.PaymentIntent == nil {
		return
	}
	k := resp.IdempotencyKey
	w.see(k)
	w.see(resp.PaymentIntent.ID)
	if _, known := w.keyChain[k]; !known {
		w.keyChain[k] = w.chainFor(v, batch)
	}
	// Another user's or an unknown key is rotated to one successor for
	// this user (a rotation alias): sent again, it leads to that checkout.
	if v.key != "" && v.key != k && w.keyOwner[v.key] != s {
		if _, ok := w.rotated[sh(v)+v.key]; !ok {
			w.rotated[sh(v)+v.key] = w.keyChain[k]
		}
	}
	if w.keyOwner[k] == nil {
		w.keyOwner[k] = s
	}
	if w.piOwner[resp.PaymentIntent.ID] == nil {
		w.piOwner[resp.PaymentIntent.ID] = s
	}
	if v.key == "" && v.nonce != "" {
		if _, ok := w.nonceBound(v); !ok {
			w.nonceKey[sh(v)+v.nonce] = nonceBinding{key: k, at: w.env.Clock.Now()}
		}
	}
	if tb.kf == nil {
		tb.setKey(k)
	} else if len(tb.history) == 0 || tb.history[len(tb.history)-1] != k {
		tb.history = append(tb.history, k)
	}
	tb.cart, tb.method, tb.pi = v.items, v.method, resp.PaymentIntent
}

// chainFor is the checkout a validation belongs to: the one of the own key
// it sent (a rotation continues it), of the key its nonce was bound to, or
// a new one.
func (w *world) chainFor(v validation, batch *int) int {
	if v.key != "" && w.keyOwner[v.key] == v.tab.sh {
		if c := w.keyChain[v.key]; c != 0 {
			return c
		}
	}
	if featureNonce && v.key == "" && v.nonce != "" {
		if b, ok := w.nonceBound(v); ok {
			return w.keyChain[b.key]
		}
	}
	if batch != nil && (v.key != "" || (featureNonce && v.nonce != "")) {
		if *batch == 0 {
			*batch = w.newChain()
		}
		return *batch
	}
	return w.newChain()
}

// keysOf returns the keys answered to s, in the order they were answered.
func (w *world) keysOf(s *shopper) []string {
	var out []string
	for k, o := range w.keyOwner {
		if o == s {
			out = append(out, k)
		}
	}
	sort.Slice(out, func(i, j int) bool { return w.seq[out[i]] < w.seq[out[j]] })
	return out
}

// see numbers the ids the model learns in the order it learns them, so
// that draws among them do not depend on the ids' random spelling.
func (w *world) see(id string) {
	if _, ok := w.seq[id]; !ok {
		w.seq[id] = len(w.seq) + 1
	}
}
