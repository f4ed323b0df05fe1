package faulttest

// The campaign's final checks: the invariants I1–I6 (CONTRACT.md section
// 5a) from PostgreSQL, read directly, and the simulator's PaymentIntent
// list, read with stripe-go and the simulator's secret key.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stripe/stripe-go/v76"

	"github.com/onecharge/onecharge/server/checkoutsvc"
	"github.com/onecharge/onecharge/server/stripepay"
	"github.com/onecharge/onecharge/shared/checkout"
)

// checkReport is what the checks found beyond pass or fail.
type checkReport struct {
	violations int
	orphans    int      // payable PaymentIntents no shopper holds (lost first validations)
	notes      []string // needs_review orders explained, and the like
}

type orderRow struct {
	PI, Session, User, Currency, Status string
	Amount                              int64
	Items                               []checkout.Line
}

func check(t *testing.T, pg *cluster, sim *simProcess, events *eventLog, fl *fleet, shoppers []*shopper, c *counters) *checkReport {
	t.Helper()
	rep := &checkReport{}
	violate := func(format string, args ...any) {
		rep.violations++
		t.Errorf(format, args...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn := pg.Connect(t)

	// The simulator's list.
	gw, err := stripepay.New(stripepay.Config{SecretKey: sim.SecretKey, APIBase: sim.URL})
	if err != nil {
		t.Fatal(err)
	}
	params := &stripe.PaymentIntentListParams{}
	params.Limit = stripe.Int64(100)
	params.Context = ctx
	var pis []*stripe.PaymentIntent
	it := gw.API().PaymentIntents.List(params)
	for it.Next() {
		pis = append(pis, it.PaymentIntent())
	}
	if err := it.Err(); err != nil {
		t.Fatalf("list PaymentIntents at the simulator: %v", err)
	}
	byID := map[string]*stripe.PaymentIntent{}
	for _, pi := range pis {
		byID[pi.ID] = pi
	}

	// Orders.
	orders := map[string][]orderRow{}    // by PaymentIntent (or session, when none)
	bySession := map[string][]orderRow{} // hosted checkouts' orders
	rows, err := conn.Query(ctx, `select coalesce(payment_intent_id, ''), coalesce(checkout_session_id, ''), user_id::text, amount, currency, items, status from orders`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var o orderRow
		var items []byte
		if err := rows.Scan(&o.PI, &o.Session, &o.User, &o.Amount, &o.Currency, &items, &o.Status); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(items, &o.Items); err != nil {
			t.Fatal(err)
		}
		if o.PI == "" {
			o.PI = o.Session
		}
		orders[o.PI] = append(orders[o.PI], o)
		if o.Session != "" {
			bySession[o.Session] = append(bySession[o.Session], o)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}

	// I1: every succeeded PaymentIntent has exactly one order, of the
	// amount received, whose lines sum to it (or needs_review, reported);
	// no order without a succeeded PaymentIntent.
	for _, pi := range pis {
		if pi.Status != stripe.PaymentIntentStatusSucceeded {
			if len(orders[pi.ID]) > 0 {
				violate("I1: order recorded for PaymentIntent %s, which is %s", pi.ID, pi.Status)
			}
			continue
		}
		os := orders[pi.ID]
		if len(os) != 1 {
			violate("I1: PaymentIntent %s succeeded (%d received) and has %d orders", pi.ID, pi.AmountReceived, len(os))
			continue
		}
		o := os[0]
		if o.Amount != pi.AmountReceived || o.Currency != string(pi.Currency) {
			violate("I1: order %s is %d %s, Stripe received %d %s", pi.ID, o.Amount, o.Currency, pi.AmountReceived, pi.Currency)
		}
		var lines int64
		for _, l := range o.Items {
			lines += l.UnitAmount * int64(l.Quantity)
		}
		switch o.Status {
		case checkout.OrderPaid:
			if lines != o.Amount {
				violate("I1: paid order %s of %d has lines summing to %d", pi.ID, o.Amount, lines)
			}
		case checkout.OrderNeedsReview:
			rep.notes = append(rep.notes, fmt.Sprintf("needs_review: order %s paid %d, its lines sum to %d (key %s…)", pi.ID, o.Amount, lines, prefix(pi.Metadata["onecharge_key"])))
		default:
			violate("I1: order %s has status %q", pi.ID, o.Status)
		}
	}
	for id := range orders {
		if _, ok := byID[id]; !ok {
			violate("I1: order %s has no PaymentIntent at the simulator", id)
		}
	}
	// I1 for hosted checkouts: every session the server stored that
	// Stripe says is complete has exactly one order, of its total.
	rows, err = conn.Query(ctx, `select id from checkout_sessions`)
	if err != nil {
		t.Fatal(err)
	}
	var sessions []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	completed := 0
	for _, id := range sessions {
		sp := &stripe.CheckoutSessionParams{}
		sp.Context = ctx
		cs, err := gw.API().CheckoutSessions.Get(id, sp)
		if err != nil {
			violate("I1: session %s stored but not at the simulator: %v", id, err)
			continue
		}
		os := bySession[id]
		if cs.Status != stripe.CheckoutSessionStatusComplete {
			if len(os) > 0 {
				violate("I1: order recorded for session %s, which is %s", id, cs.Status)
			}
			continue
		}
		completed++
		if len(os) != 1 {
			violate("I1: session %s completed (%d) and has %d orders", id, cs.AmountTotal, len(os))
			continue
		}
		if os[0].Amount != cs.AmountTotal {
			violate("I1: order of session %s is %d, its total %d", id, os[0].Amount, cs.AmountTotal)
		}
	}
	for id := range bySession {
		if !slices.Contains(sessions, id) {
			violate("I1: order for session %s, which the server never stored", id)
		}
	}

	// I2: one key, at most one PaymentIntent; one shopper's chain, at most
	// one payable PaymentIntent at a time. Every checkout of the campaign
	// ended paid, so a payable intent left, other than the one of the key
	// the shopper's client still stores, is an orphan: a first
	// validation whose answer was lost (keyflow then starts over without
	// a key) made it. Without the client's first-call nonce that is
	// expected, at most one per such validation; with it, none.
	// The key a shopper's client still stores is its chain's current one:
	// its intent may be payable (a checkout that ended on the hosted page
	// leaves it so, for the next checkout to reuse).
	current := map[string]bool{}
	for _, sh := range shoppers {
		if k, ok := sh.kf.StoredKey(); ok {
			current[k] = true
		}
	}
	perKey := map[string][]string{}
	payable := map[string]int{} // by user
	for _, pi := range pis {
		k := pi.Metadata["onecharge_key"]
		if k != "" {
			perKey[k] = append(perKey[k], pi.ID)
		}
		switch pi.Status {
		case stripe.PaymentIntentStatusRequiresPaymentMethod, stripe.PaymentIntentStatusRequiresConfirmation, stripe.PaymentIntentStatusRequiresAction:
			if !current[k] {
				payable[pi.Metadata["user_id"]]++
			}
		}
	}
	for k, ids := range perKey {
		if len(ids) > 1 {
			violate("I2: key %s… has %d PaymentIntents %v", prefix(k), len(ids), ids)
		}
	}
	userOf := map[int]string{}
	for _, sh := range shoppers {
		sh.mu.Lock()
		orders := slices.Clone(sh.orders)
		sh.mu.Unlock()
		for _, o := range orders {
			if pi, ok := byID[o.PI]; ok && pi.Metadata["user_id"] != "" {
				userOf[sh.ID] = pi.Metadata["user_id"]
			}
		}
	}
	for _, sh := range shoppers {
		u, ok := userOf[sh.ID]
		if !ok {
			continue
		}
		n := payable[u]
		rep.orphans += n
		excused := int(sh.firstCallsLost.Load())
		if c.firstCallNonce.Load() {
			excused = 0
		}
		if n > excused {
			violate("I2: shopper %d (user %s) has %d payable PaymentIntents left after its checkouts, %d explained by lost first validations", sh.ID, u, n, excused)
		}
	}
	if rep.orphans > 0 {
		rep.notes = append(rep.notes, fmt.Sprintf("%d orphan PaymentIntents: first validations whose answer was lost were retried without a key (keyflow sends no first-call nonce yet, issue 12); the reaper cancels them once their key expires (KEY_TTL)", rep.orphans))
	}

	// I3: one cart row per user.
	var dupCarts int
	if err := conn.QueryRow(ctx, `select count(*) from (select user_id from carts group by user_id having count(*) > 1) d`).Scan(&dupCarts); err != nil {
		t.Fatal(err)
	}
	if dupCarts > 0 {
		violate("I3: %d users have more than one cart row", dupCarts)
	}

	// I5: each event applied once (stripe_events is keyed by event id;
	// every event the simulator sent is there, and nothing else), and the
	// statuses stored agree with Stripe's final ones (only moved forward).
	applied := map[string]bool{}
	rows, err = conn.Query(ctx, `select id from stripe_events`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		applied[id] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	sent, _, _ := events.snapshot()
	for id, typ := range sent {
		if !applied[id] {
			violate("I5: event %s (%s) sent by the simulator was never applied", id, typ)
		}
	}
	for id := range applied {
		if _, ok := sent[id]; !ok {
			violate("I5: event %s applied but never sent", id)
		}
	}
	rows, err = conn.Query(ctx, `select key, payment_intent_id, pi_status from idempotency_keys where payment_intent_id is not null`)
	if err != nil {
		t.Fatal(err)
	}
	var keyRows int
	for rows.Next() {
		var key, id, status string
		if err := rows.Scan(&key, &id, &status); err != nil {
			t.Fatal(err)
		}
		keyRows++
		pi, ok := byID[id]
		if !ok {
			violate("I5: key %s… names PaymentIntent %s, unknown at the simulator", prefix(key), id)
			continue
		}
		if checkoutsvc.ForwardStatus(status, string(pi.Status)) != string(pi.Status) && string(pi.Status) != status {
			violate("I5: key %s… stores %s for %s, which Stripe says is %s", prefix(key), status, id, pi.Status)
		}
		final := pi.Status == stripe.PaymentIntentStatusSucceeded || pi.Status == stripe.PaymentIntentStatusCanceled
		if final && status != string(pi.Status) {
			violate("I5: key %s… stores %s for %s, %s at Stripe after every webhook", prefix(key), status, id, pi.Status)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}

	// No key left held: after the quiet period nothing is in flight.
	var live, stale int
	if err := conn.QueryRow(ctx, `select count(*) filter (where lease_until > now()), count(*) from idempotency_keys where lock_token is not null`).Scan(&live, &stale); err != nil {
		t.Fatal(err)
	}
	if live > 0 {
		violate("%d keys still held by a live lease after the quiet period", live)
	}
	if stale > 0 {
		rep.notes = append(rep.notes, fmt.Sprintf("%d key rows keep the lock token of a dead holder (lease run out; the next request for the key takes over)", stale))
	}
	var liveCheckouts int
	if err := conn.QueryRow(ctx, `select count(*) from carts where checkout_token is not null and checkout_lease_until > now()`).Scan(&liveCheckouts); err != nil {
		t.Fatal(err)
	}
	if liveCheckouts > 0 {
		violate("%d carts still hold a hosted-checkout lease", liveCheckouts)
	}

	// I4 and I6 spot checks, on a few shoppers' paid orders.
	checked := 0
	for i, sh := range shoppers {
		var o paidOrder
		sh.mu.Lock()
		shOrders := slices.Clone(sh.orders)
		sh.mu.Unlock()
		for _, po := range shOrders {
			if po.Key != "" {
				o = po
			}
		}
		if o.Key == "" || checked == 4 {
			continue
		}
		checked++
		other := shoppers[(i+1)%len(shoppers)]
		// I6: another shopper's request for the order is 404.
		st, body, err := other.do(ctx, http.MethodGet, "/api/orders/"+o.PI, nil)
		if err != nil || st != http.StatusNotFound {
			violate("I6: shopper %d read shopper %d's order %s: %d %s %v", other.ID, sh.ID, o.PI, st, body, err)
		}
		// I4: validating with the paid key twice is refused and writes
		// nothing: the user's cart and key rows stay as they were.
		before := snapshot(t, ctx, conn, o.Key)
		for n := 0; n < 2; n++ {
			req, _ := json.Marshal(checkout.ValidateRequest{Items: []checkout.Item{{ProductID: "mug", Quantity: 1 + n}}, PaymentMethod: checkout.MethodCard, IdempotencyKey: o.Key})
			st, body, err := sh.do(ctx, http.MethodPost, "/api/orders/validate", req)
			if err != nil || st != http.StatusConflict || errorCode(body) != checkout.CodePaymentAlreadyCompleted {
				violate("I4: validate with paid key %s…: %d %s %v", prefix(o.Key), st, body, err)
			}
		}
		if after := snapshot(t, ctx, conn, o.Key); !reflect.DeepEqual(before, after) {
			violate("I4: refused validations wrote: before %v, after %v", before, after)
		}
	}
	t.Logf("checked %d PaymentIntents, %d sessions (%d completed), %d orders, %d key rows, %d events", len(pis), len(sessions), completed, len(orders), keyRows, len(applied))
	return rep
}

// snapshot reads a key's row and its user's cart row, as text.
func snapshot(t *testing.T, ctx context.Context, conn *pgx.Conn, key string) []string {
	t.Helper()
	var keyRow, cartRow string
	err := conn.QueryRow(ctx, `select k::text, coalesce((select c::text from carts c where c.user_id = k.user_id), '')
		from idempotency_keys k where k.key = $1`, key).Scan(&keyRow, &cartRow)
	if err != nil {
		t.Fatalf("snapshot of key %s…: %v", prefix(key), err)
	}
	return []string{keyRow, cartRow}
}

func prefix(s string) string {
	if len(s) > 10 {
		return s[:10]
	}
	return strings.TrimSpace(s)
}
