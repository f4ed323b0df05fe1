package modeltest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"

	"pgregory.net/rapid"

	"github.com/onecharge/onecharge/server/stripepay"
	"github.com/onecharge/onecharge/server/stripesim"
	"github.com/onecharge/onecharge/shared/checkout"
)

// view is one consistent reading of Stripe, the store and the relay, taken
// while nothing runs.
type view struct {
	pis       []simPI
	piByID    map[string]simPI
	sessions  []stripesim.CheckoutSession
	keys      map[string]keyRow
	orders    []orderRow
	applied   map[string]bool
	delivered map[string][]deliveryResult
	// deliveredObj: "type/object id" of every event the server took (2xx).
	deliveredObj map[string]bool
}

func (w *world) read(t *rapid.T) view {
	w.quiesce()
	v := view{pis: w.paymentIntents(), piByID: map[string]simPI{}, sessions: w.env.Sim.CheckoutSessions(),
		delivered: w.relay.deliveries(), deliveredObj: map[string]bool{}}
	for _, p := range v.pis {
		v.piByID[p.ID] = p
	}
	var err error
	if v.keys, err = w.insp.Keys(w.ctx); err != nil {
		w.fatalf("inspect keys: %v", err)
	}
	if v.orders, err = w.insp.Orders(w.ctx); err != nil {
		w.fatalf("inspect orders: %v", err)
	}
	if v.applied, err = w.insp.AppliedEvents(w.ctx); err != nil {
		w.fatalf("inspect events: %v", err)
	}
	for _, ev := range w.env.Sim.Events() {
		var obj struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(ev.Data.Object, &obj)
		if w.relay.deliveredOK(ev.ID) {
			v.deliveredObj[ev.Type+"/"+obj.ID] = true
		}
	}
	return v
}

// check is run after every step: the invariants I1–I6 of CONTRACT.md 5a.
func (w *world) check(t *rapid.T) {
	v := w.read(t)
	w.checkI1(t, v)
	w.checkI2(t, v)
	w.checkI3(t)
	w.checkI5(t, v)
	w.checkI6(t, v)
}

// I1: every payment Stripe reports, once its webhook was delivered, has
// exactly one order, visible to its owner, whose amount is the paid amount
// and whose lines add up to it (or whose status is needs_review); no order
// exists without a payment; no unpaid PaymentIntent reads as paid.
func (w *world) checkI1(t *rapid.T, v view) {
	for _, p := range v.pis {
		if p.Status != "succeeded" {
			continue
		}
		if p.Metadata[stripepay.MetadataKey] != "" {
			if !v.deliveredObj["payment_intent.succeeded/"+p.ID] {
				continue
			}
			owner := w.byUser[p.Metadata["user_id"]]
			if owner == nil {
				w.fatalf("I1: succeeded PaymentIntent %s has no known owner (%v)", p.ID, p.Metadata)
				continue
			}
			rows := ordersFor(v.orders, p.ID, "")
			if len(rows) != 1 {
				w.fatalf("I1: PaymentIntent %s (%d %s) succeeded and its webhook was delivered, but %d orders are recorded for it: %+v",
					short(p.ID), p.Received, p.Currency, len(rows), rows)
				continue
			}
			w.checkOrder(t, owner, p.ID, p.Received, p.Currency, "PaymentIntent "+short(p.ID))
			continue
		}
		var cs *stripesim.CheckoutSession
		for i := range v.sessions {
			if v.sessions[i].PaymentIntent != nil && *v.sessions[i].PaymentIntent == p.ID {
				cs = &v.sessions[i]
			}
		}
		if cs == nil {
			w.fatalf("I1: succeeded PaymentIntent %s has neither a key nor a Checkout Session", p.ID)
			continue
		}
		if !v.deliveredObj["checkout.session.completed/"+cs.ID] {
			continue
		}
		m := w.sessions[cs.ID]
		if m == nil {
			w.fatalf("I1: paid Checkout Session %s was never answered to a shopper", cs.ID)
			continue
		}
		rows := ordersFor(v.orders, p.ID, cs.ID)
		if len(rows) != 1 {
			w.fatalf("I1: Checkout Session %s (%s, %d %s) was paid and checkout.session.completed delivered, but %d orders are recorded for it: %+v",
				short(cs.ID), itemsString(m.items), cs.AmountTotal, cs.Currency, len(rows), rows)
			continue
		}
		if cs.AmountTotal != p.Received {
			w.fatalf("I1: session %s total %d, its PaymentIntent received %d", short(cs.ID), cs.AmountTotal, p.Received)
		}
		w.checkOrder(t, m.owner, rows[0].ID, cs.AmountTotal, cs.Currency, "Checkout Session "+short(cs.ID)+" "+itemsString(m.items))
	}

	// No order without a payment, none for another user.
	for _, o := range v.orders {
		amount, currency, owner, ok := w.paymentOf(v, o)
		if !ok {
			w.fatalf("I1: order %s (%d %s) is recorded, but Stripe reports no such payment", short(o.ID), o.Amount, o.Currency)
		}
		if o.Amount != amount || o.Currency != currency {
			w.fatalf("I1: order %s records %d %s, Stripe was paid %d %s", short(o.ID), o.Amount, o.Currency, amount, currency)
		}
		if owner != o.UserID {
			w.fatalf("I6: order %s is recorded for user %s, the payment is %s's", short(o.ID), w.userName(o.UserID), w.userName(owner))
		}
	}

	// What is not paid never reads as paid, and a PaymentIntent that can
	// still be paid reads as pending (section 4).
	for _, p := range v.pis {
		owner := w.byUser[p.Metadata["user_id"]]
		if p.Status == "succeeded" || owner == nil {
			continue
		}
		o, status := w.getOrder(t, owner, p.ID)
		if status != http.StatusOK {
			continue
		}
		switch {
		case o.Status == checkout.OrderPaid || o.Status == orderNeedsReview:
			w.fatalf("I1: GET /api/orders/%s says %s (%d), but Stripe says %s", short(p.ID), o.Status, o.Amount, p.Status)
		case o.Status == checkout.OrderFailed && payable(p.Status):
			w.fatalf("section 4: GET /api/orders/%s says failed, but the PaymentIntent can still be paid (%s at Stripe)", short(p.ID), p.Status)
		}
	}
}

// ordersFor returns the orders recorded for a PaymentIntent or session.
func ordersFor(orders []orderRow, pi, session string) []orderRow {
	var out []orderRow
	for _, o := range orders {
		if o.ID == pi || (session != "" && (o.ID == session || o.SessionID == session)) {
			out = append(out, o)
		}
	}
	return out
}

// paymentOf finds the payment an order row stands for.
func (w *world) paymentOf(v view, o orderRow) (amount int64, currency, userID string, ok bool) {
	if p, found := v.piByID[o.ID]; found && p.Status == "succeeded" && p.Metadata[stripepay.MetadataKey] != "" {
		return p.Received, p.Currency, p.Metadata["user_id"], true
	}
	for _, cs := range v.sessions {
		if cs.Status != "complete" {
			continue
		}
		if cs.ID == o.ID || cs.ID == o.SessionID || (cs.PaymentIntent != nil && *cs.PaymentIntent == o.ID) {
			owner := ""
			if m := w.sessions[cs.ID]; m != nil {
				owner = m.owner.userID
			}
			return cs.AmountTotal, cs.Currency, owner, true
		}
	}
	return 0, "", "", false
}

func (w *world) getOrder(t *rapid.T, s *shopper, id string) (checkout.OrderStatus, int) {
	rep := send(s.http, "GET", w.env.URL+"/api/orders/"+id, nil, nil)
	if rep.Err != nil {
		w.fatalf("GET /api/orders/%s: %v", id, rep.Err)
	}
	var o checkout.OrderResponse
	if rep.Status == http.StatusOK {
		if err := json.Unmarshal(rep.Body, &o); err != nil {
			w.fatalf("GET /api/orders/%s: %s: %v", id, rep.Body, err)
		}
	}
	return o.Order, rep.Status
}

// checkOrder: the owner sees the order of a payment of amount; nobody else does.
func (w *world) checkOrder(t *rapid.T, owner *shopper, id string, amount int64, currency, what string) {
	o, status := w.getOrder(t, owner, id)
	if status != http.StatusOK {
		w.fatalf("I1: %s was paid %d %s; its owner %s gets %d for GET /api/orders/%s", what, amount, currency, owner.name, status, short(id))
		return
	}
	if o.Status != checkout.OrderPaid && o.Status != orderNeedsReview {
		w.fatalf("I1: %s was paid; its order says %s", what, o.Status)
	}
	if o.Amount != amount || o.Currency != currency {
		w.fatalf("I1: %s was paid %d %s; its order says %d %s (%s)", what, amount, currency, o.Amount, o.Currency, o.Status)
	}
	if o.Status == checkout.OrderPaid && lineSum(o.Items) != o.Amount {
		w.fatalf("I1: %s: order of %d %s whose lines add up to %d: %s (a mismatch must be needs_review)",
			what, o.Amount, o.Currency, lineSum(o.Items), linesString(o.Items))
	}
	if last := w.lastOrder[id]; last != "" && last != o.Status {
		w.fatalf("I5: the order of %s went from %s to %s", what, last, o.Status)
	}
	w.lastOrder[id] = o.Status
	for _, other := range w.shoppers {
		if other == owner {
			continue
		}
		if _, st := w.getOrder(t, other, id); st != http.StatusNotFound {
			w.fatalf("I6: %s reads %s's order of %s: %d, want 404", other.name, owner.name, what, st)
		}
	}
}

func linesString(lines []checkout.Line) string {
	s := "["
	for i, l := range lines {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%s×%d@%d", l.ProductID, l.Quantity, l.UnitAmount)
	}
	return s + "]"
}

// I2: one key, at most one PaymentIntent; one checkout (a tab's chain of
// keys through rotations), at most one payable PaymentIntent and at most
// one paid.
func (w *world) checkI2(t *rapid.T, v view) {
	byKey := map[string][]string{}
	for _, p := range v.pis {
		if k := p.Metadata[stripepay.MetadataKey]; k != "" {
			byKey[k] = append(byKey[k], p.ID)
		}
	}
	for k, ids := range byKey {
		if len(ids) > 1 {
			w.fatalf("I2: key %s has %d PaymentIntents at Stripe: %v", short(k), len(ids), ids)
		}
	}
	for k, r := range v.keys {
		if r.PaymentIntentID == "" {
			continue
		}
		p, ok := v.piByID[r.PaymentIntentID]
		if !ok {
			w.fatalf("I2: key %s is bound to PaymentIntent %s, which Stripe does not have", short(k), r.PaymentIntentID)
		}
		if got := p.Metadata[stripepay.MetadataKey]; got != k {
			w.fatalf("I2: key %s is bound to PaymentIntent %s, which Stripe binds to key %q", short(k), short(p.ID), short(got))
		}
	}
	chains := map[int][]string{}
	for k, c := range w.keyChain {
		chains[c] = append(chains[c], k)
	}
	for c, keys := range chains {
		sort.Strings(keys)
		var open, paid []string
		for _, k := range keys {
			for _, id := range byKey[k] {
				switch p := v.piByID[id]; {
				case payable(p.Status):
					open = append(open, fmt.Sprintf("%s (key %s, %s %d)", short(id), short(k), p.Status, p.Amount))
				case p.Status == "succeeded":
					paid = append(paid, short(id))
				}
			}
		}
		owner := w.keyOwner[keys[0]].name
		if len(open) > 1 {
			w.fatalf("I2: one checkout of %s (keys %v) has %d payable PaymentIntents: %v", owner, shorts(keys), len(open), open)
		}
		if len(paid) > 1 {
			w.fatalf("I2: one checkout of %s (keys %v) was paid %d times: %v", owner, shorts(keys), len(paid), paid)
		}
		_ = c
	}
}

func shorts(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = short(id)
	}
	return out
}

// I3: one cart row per user.
func (w *world) checkI3(t *rapid.T) {
	dup, err := w.insp.DuplicateCarts(w.ctx)
	if err != nil {
		w.fatalf("inspect carts: %v", err)
	}
	if len(dup) > 0 {
		w.fatalf("I3: users with more than one cart row: %v", dup)
	}
}

// I5: each event applied at most once (the server's answers agree with
// what the store recorded); PaymentIntent statuses in the store only move
// forward and are never ahead of Stripe.
func (w *world) checkI5(t *rapid.T, v view) {
	for id, ds := range v.delivered {
		fresh, took := 0, false
		for _, d := range ds {
			if d.Status >= 200 && d.Status <= 299 {
				took = true
				if !d.Duplicate {
					fresh++
				}
			}
		}
		if fresh > 1 {
			w.fatalf("I5: event %s was applied %d times: %+v", id, fresh, ds)
		}
		if took && (fresh != 1 || !v.applied[id]) {
			w.fatalf("I5: event %s: the server answered %+v, the store has it applied=%v", id, ds, v.applied[id])
		}
	}
	for id := range v.applied {
		if _, ok := v.delivered[id]; !ok {
			w.fatalf("I5: event %s is recorded as applied but was never delivered", id)
		}
	}
	for k, r := range v.keys {
		if last, ok := w.lastKeys[k]; ok {
			if last.PaymentIntentID != "" && r.PaymentIntentID != last.PaymentIntentID {
				w.fatalf("I2: key %s was bound to PaymentIntent %s, now to %q", short(k), short(last.PaymentIntentID), r.PaymentIntentID)
			}
			if (last.PIStatus == "succeeded" || last.PIStatus == "canceled") && r.PIStatus != last.PIStatus {
				w.fatalf("I5: key %s's PaymentIntent went from %s back to %s", short(k), last.PIStatus, r.PIStatus)
			}
		}
		if r.PaymentIntentID != "" && (r.PIStatus == "succeeded" || r.PIStatus == "canceled") {
			if p := v.piByID[r.PaymentIntentID]; p.Status != r.PIStatus {
				w.fatalf("I5: the store says key %s's PaymentIntent %s is %s, Stripe says %s", short(k), short(r.PaymentIntentID), r.PIStatus, p.Status)
			}
		}
		w.lastKeys[k] = r
	}
}

// I6: every key row belongs to the user its PaymentIntent was made for,
// and to the shopper it was answered to.
func (w *world) checkI6(t *rapid.T, v view) {
	for k, r := range v.keys {
		if o := w.keyOwner[k]; o != nil && o.userID != r.UserID {
			w.fatalf("I6: key %s was answered to %s but belongs to %s", short(k), o.name, w.userName(r.UserID))
		}
		if p, ok := v.piByID[r.PaymentIntentID]; ok && p.Metadata["user_id"] != r.UserID {
			w.fatalf("I6: key %s of %s is bound to a PaymentIntent of %s", short(k), w.userName(r.UserID), w.userName(p.Metadata["user_id"]))
		}
	}
}
