package storetest

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/onecharge/onecharge/server/checkoutsvc"
	"github.com/onecharge/onecharge/shared/checkout"
)

// Catalog returns the demo catalog every store ships, inactive product
// included, ordered by id.
func Catalog() []checkout.Product { return append([]checkout.Product{}, catalog...) }

var catalog = []checkout.Product{
	{ID: "cap", Name: "Onecharge Cap", UnitAmount: 2000, Currency: "usd", Active: true},
	{ID: "hoodie", Name: "Onecharge Hoodie", UnitAmount: 4500, Currency: "usd", Active: true},
	{ID: "mug", Name: "Onecharge Mug", UnitAmount: 1200, Currency: "usd", Active: true},
	{ID: "retired-poster", Name: "Retired Poster", UnitAmount: 1500, Currency: "usd", Active: false},
	{ID: "stickers", Name: "Sticker Pack", UnitAmount: 500, Currency: "usd", Active: true},
	{ID: "tshirt", Name: "Onecharge T-Shirt", UnitAmount: 2500, Currency: "usd", Active: true},
}

// Run runs the suite. newStore returns a new, empty store holding the demo
// catalog; it is called once per test, and tests run in parallel.
func Run(t *testing.T, newStore func(t *testing.T) checkoutsvc.Store) {
	s := suite{newStore: newStore}
	t.Run("Ping", s.testPing)
	t.Run("Catalog", s.testCatalog)
	t.Run("Cart", s.testCart)
	t.Run("Lookup", s.testLookup)
	t.Run("ClaimKey", s.testClaimKey)
	t.Run("ReplayKey", s.testReplayKey)
	t.Run("RecordPaymentIntent", s.testRecordPaymentIntent)
	t.Run("ReleaseKey", s.testReleaseKey)
	t.Run("ApplyEvent", s.testApplyEvent)
	t.Run("GetOrder", s.testGetOrder)
	t.Run("ErrInvalidUserID", s.testInvalidUserID)
}

type suite struct {
	newStore func(t *testing.T) checkoutsvc.Store
}

// store starts a parallel test with its own store.
func (s suite) store(t *testing.T) checkoutsvc.Store {
	t.Helper()
	t.Parallel()
	return s.newStore(t)
}

// Fixtures. Times are UTC with microsecond precision, as stores return them.
var (
	t0 = time.Date(2025, 3, 1, 12, 0, 0, 123456000, time.UTC)
	t1 = t0.Add(time.Minute)
	t2 = t0.Add(2 * time.Minute)

	items5000 = []checkout.Item{{ProductID: "tshirt", Quantity: 2}}
	lines5000 = []checkout.Line{{ProductID: "tshirt", Name: "Onecharge T-Shirt", Quantity: 2, UnitAmount: 2500}}
	items3200 = []checkout.Item{{ProductID: "cap", Quantity: 1}, {ProductID: "mug", Quantity: 1}}
	lines3200 = []checkout.Line{
		{ProductID: "cap", Name: "Onecharge Cap", Quantity: 1, UnitAmount: 2000},
		{ProductID: "mug", Name: "Onecharge Mug", Quantity: 1, UnitAmount: 1200},
	}
)

func newUser(t *testing.T) string {
	t.Helper()
	var b [16]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func newKey(t *testing.T) string {
	t.Helper()
	k, err := checkout.NewKey()
	require.NoError(t, err)
	return k
}

func newRecord(t *testing.T, user string) checkoutsvc.KeyRecord {
	return checkoutsvc.KeyRecord{
		Key: newKey(t), UserID: user, PaymentMethod: checkout.MethodCard,
		Items: lines5000, Amount: 5000, Currency: "usd",
		CreateAmount: 5000, CreateCurrency: "usd",
	}
}

// issue inserts a new locked key for user through ClaimKey, at now.
func issue(t *testing.T, st checkoutsvc.Store, user string, now time.Time) checkoutsvc.KeyRecord {
	t.Helper()
	rec := newRecord(t, user)
	_, err := st.ClaimKey(context.Background(), checkoutsvc.ClaimInput{UserID: user, Cart: items5000, Now: now},
		func(*checkoutsvc.KeyRecord) checkoutsvc.Decision {
			return checkoutsvc.Decision{Kind: checkoutsvc.DecideInsert, Record: rec, Outcome: checkoutsvc.OutcomeIssue}
		})
	require.NoError(t, err)
	got, ok, err := st.GetKey(context.Background(), rec.Key)
	require.NoError(t, err)
	require.True(t, ok)
	return got
}

// issueWithPI issues a key and records PaymentIntent piID for it
// (requires_payment_method, 5000 usd) at now, which releases it.
func issueWithPI(t *testing.T, st checkoutsvc.Store, user, piID string, now time.Time) checkoutsvc.KeyRecord {
	t.Helper()
	rec := issue(t, st, user, now)
	got, err := st.RecordPaymentIntent(context.Background(), rec.Key, intent(piID, checkoutsvc.StatusRequiresPaymentMethod), now)
	require.NoError(t, err)
	return got
}

func intent(id, status string) checkoutsvc.PaymentIntent {
	return checkoutsvc.PaymentIntent{ID: id, ClientSecret: id + "_secret_x", Status: status, Amount: 5000, Currency: "usd"}
}

func getKey(t *testing.T, st checkoutsvc.Store, key string) checkoutsvc.KeyRecord {
	t.Helper()
	rec, ok, err := st.GetKey(context.Background(), key)
	require.NoError(t, err)
	require.True(t, ok, "key %s not found", key)
	return rec
}

type cartState struct {
	Items     []checkout.Item
	UpdatedAt time.Time
	OK        bool
}

func getCart(t *testing.T, st checkoutsvc.Store, user string) cartState {
	t.Helper()
	items, at, ok, err := st.GetCart(context.Background(), user)
	require.NoError(t, err)
	return cartState{items, at, ok}
}

func apply(t *testing.T, st checkoutsvc.Store, ev checkoutsvc.Event) bool {
	t.Helper()
	applied, err := st.ApplyEvent(context.Background(), ev)
	require.NoError(t, err)
	return applied
}

func (s suite) testPing(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		st := s.store(t)
		assert.NoError(t, st.Ping(context.Background()))
	})
}

func (s suite) testCatalog(t *testing.T) {
	ctx := context.Background()
	t.Run("Products/OK", func(t *testing.T) {
		st := s.store(t)
		got, err := st.Products(ctx)
		require.NoError(t, err)
		var want []checkout.Product
		for _, p := range catalog {
			if p.Active {
				want = append(want, p)
			}
		}
		assert.Equal(t, want, got, "active products, ordered by id")
	})
	t.Run("ProductsByID/OK", func(t *testing.T) {
		st := s.store(t)
		got, err := st.ProductsByID(ctx, []string{"tshirt", "retired-poster", "no-such-product"})
		require.NoError(t, err)
		assert.Equal(t, map[string]checkout.Product{"tshirt": catalog[5], "retired-poster": catalog[3]}, got)
	})
	t.Run("ProductsByID/All", func(t *testing.T) {
		st := s.store(t)
		ids := make([]string, len(catalog))
		for i, p := range catalog {
			ids[i] = p.ID
		}
		got, err := st.ProductsByID(ctx, ids)
		require.NoError(t, err)
		assert.Len(t, got, len(catalog))
		for _, p := range catalog {
			assert.Equal(t, p, got[p.ID])
		}
	})
	t.Run("ProductsByID/Empty", func(t *testing.T) {
		st := s.store(t)
		got, err := st.ProductsByID(ctx, nil)
		require.NoError(t, err)
		assert.Empty(t, got)
	})
}

func (s suite) testCart(t *testing.T) {
	ctx := context.Background()
	t.Run("GetCart/ErrNotFound", func(t *testing.T) {
		st := s.store(t)
		assert.Equal(t, cartState{}, getCart(t, st, newUser(t)))
	})
	t.Run("UpsertCart/OK", func(t *testing.T) {
		st := s.store(t)
		user := newUser(t)
		at, err := st.UpsertCart(ctx, user, items5000, "")
		require.NoError(t, err)
		assert.False(t, at.IsZero())
		assert.Equal(t, time.UTC, at.Location())
		assert.Equal(t, cartState{items5000, at, true}, getCart(t, st, user))
	})
	t.Run("UpsertCart/Repeated", func(t *testing.T) {
		st := s.store(t)
		user, other := newUser(t), newUser(t)
		_, err := st.UpsertCart(ctx, other, items3200, "")
		require.NoError(t, err)
		var last time.Time
		for i := 1; i <= 5; i++ {
			items := []checkout.Item{{ProductID: "mug", Quantity: i}}
			at, err := st.UpsertCart(ctx, user, items, "")
			require.NoError(t, err, "upsert %d", i)
			assert.False(t, at.Before(last), "updated_at moves forward")
			last = at
		}
		assert.Equal(t, cartState{[]checkout.Item{{ProductID: "mug", Quantity: 5}}, last, true}, getCart(t, st, user))
		assert.Equal(t, items3200, getCart(t, st, other).Items, "another user's cart is untouched")
	})
	t.Run("UpsertCart/Concurrent", func(t *testing.T) {
		st := s.store(t)
		user := newUser(t)
		var g errgroup.Group
		for i := 1; i <= 50; i++ {
			g.Go(func() error {
				_, err := st.UpsertCart(ctx, user, []checkout.Item{{ProductID: "stickers", Quantity: i}}, "")
				return err
			})
		}
		require.NoError(t, g.Wait(), "50 concurrent upserts of one user never fail")
		c := getCart(t, st, user)
		require.True(t, c.OK)
		require.Len(t, c.Items, 1)
		assert.Equal(t, "stickers", c.Items[0].ProductID)
		assert.True(t, c.Items[0].Quantity >= 1 && c.Items[0].Quantity <= 50)
	})
	t.Run("UpsertCart/Empty", func(t *testing.T) {
		st := s.store(t)
		user := newUser(t)
		_, err := st.UpsertCart(ctx, user, nil, "")
		require.NoError(t, err)
		c := getCart(t, st, user)
		assert.True(t, c.OK)
		assert.Empty(t, c.Items)
	})
	t.Run("UpsertCart/SessionID", func(t *testing.T) {
		st := s.store(t)
		user := newUser(t)
		_, err := st.UpsertCart(ctx, user, items5000, "cs_test_1")
		require.NoError(t, err)
		got, ok, err := st.UserForCheckoutSession(ctx, "cs_test_1")
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Equal(t, user, got)

		_, err = st.UpsertCart(ctx, user, items3200, "")
		require.NoError(t, err)
		got, ok, err = st.UserForCheckoutSession(ctx, "cs_test_1")
		require.NoError(t, err)
		assert.True(t, ok, `"" keeps the stored session id`)
		assert.Equal(t, user, got)
		assert.Equal(t, items3200, getCart(t, st, user).Items)

		_, err = st.UpsertCart(ctx, user, items3200, "cs_test_2")
		require.NoError(t, err)
		_, ok, err = st.UserForCheckoutSession(ctx, "cs_test_1")
		require.NoError(t, err)
		assert.False(t, ok, "a new session id replaces the old one")
		got, ok, err = st.UserForCheckoutSession(ctx, "cs_test_2")
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Equal(t, user, got)
	})
	t.Run("UpsertCart/UpperCaseUserID", func(t *testing.T) {
		st := s.store(t)
		user := "6F1C2D3E-0000-4000-8000-0000000000AB"
		_, err := st.UpsertCart(ctx, user, items5000, "cs_upper")
		require.NoError(t, err)
		got, ok, err := st.UserForCheckoutSession(ctx, "cs_upper")
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Equal(t, "6f1c2d3e-0000-4000-8000-0000000000ab", got, "user ids come back in lower case")
		assert.Equal(t, items5000, getCart(t, st, "6f1c2d3e-0000-4000-8000-0000000000ab").Items)
	})
	t.Run("UserForCheckoutSession/ErrNotFound", func(t *testing.T) {
		st := s.store(t)
		for _, id := range []string{"cs_unknown", ""} {
			_, ok, err := st.UserForCheckoutSession(ctx, id)
			require.NoError(t, err)
			assert.False(t, ok, "%q", id)
		}
	})
}

func (s suite) testLookup(t *testing.T) {
	ctx := context.Background()
	t.Run("OK", func(t *testing.T) {
		st := s.store(t)
		rec := issueWithPI(t, st, newUser(t), "pi_lookup", t0)
		products, got, err := st.Lookup(ctx, []string{"tshirt", "retired-poster", "nope"}, rec.Key)
		require.NoError(t, err)
		assert.Equal(t, map[string]checkout.Product{"tshirt": catalog[5], "retired-poster": catalog[3]}, products)
		require.NotNil(t, got)
		assert.Equal(t, rec, *got)
	})
	t.Run("NoKey", func(t *testing.T) {
		st := s.store(t)
		products, got, err := st.Lookup(ctx, []string{"mug"}, "")
		require.NoError(t, err)
		assert.Equal(t, map[string]checkout.Product{"mug": catalog[2]}, products)
		assert.Nil(t, got)
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		st := s.store(t)
		products, got, err := st.Lookup(ctx, nil, newKey(t))
		require.NoError(t, err)
		assert.Empty(t, products)
		assert.Nil(t, got)
	})
}

func (s suite) testClaimKey(t *testing.T) {
	ctx := context.Background()
	t.Run("Insert", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			sendKey bool
		}{{"NoKey", false}, {"UnknownKey", true}} {
			t.Run(tc.name, func(t *testing.T) {
				st := s.store(t)
				user := newUser(t)
				in := checkoutsvc.ClaimInput{UserID: user, Cart: items5000, Now: t0}
				if tc.sendKey {
					in.Key = newKey(t)
				}
				rec := newRecord(t, user)
				calls := 0
				d, err := st.ClaimKey(ctx, in, func(cur *checkoutsvc.KeyRecord) checkoutsvc.Decision {
					calls++
					assert.Nil(t, cur, "decide sees nil for an unknown key")
					return checkoutsvc.Decision{Kind: checkoutsvc.DecideInsert, Record: rec, Outcome: checkoutsvc.OutcomeIssue}
				})
				require.NoError(t, err)
				assert.GreaterOrEqual(t, calls, 1)
				assert.Equal(t, checkoutsvc.DecideInsert, d.Kind)
				assert.Equal(t, checkoutsvc.OutcomeIssue, d.Outcome, "the outcome is passed back")
				assert.Equal(t, rec.Key, d.Record.Key)

				want := rec
				want.LockedAt, want.CreatedAt, want.LastUsedAt = t0, t0, t0
				assert.Equal(t, want, getKey(t, st, rec.Key), "stored locked")
				assert.Equal(t, cartState{items5000, t0, true}, getCart(t, st, user), "cart upserted at in.Now")
				if tc.sendKey {
					_, ok, err := st.GetKey(ctx, in.Key)
					require.NoError(t, err)
					assert.False(t, ok, "the unknown key sent is not stored")
				}
			})
		}
	})
	t.Run("Lock", func(t *testing.T) {
		st := s.store(t)
		user := newUser(t)
		rec := issueWithPI(t, st, user, "pi_lock", t0)
		var seen *checkoutsvc.KeyRecord
		snap := checkoutsvc.KeyRecord{Items: lines3200, Amount: 3200, Currency: "usd"}
		d, err := st.ClaimKey(ctx, checkoutsvc.ClaimInput{UserID: user, Key: rec.Key, Cart: items3200, Now: t1},
			func(cur *checkoutsvc.KeyRecord) checkoutsvc.Decision {
				seen = cur
				return checkoutsvc.Decision{Kind: checkoutsvc.DecideLock, Record: snap, Outcome: checkoutsvc.OutcomeSync}
			})
		require.NoError(t, err)
		assert.Equal(t, checkoutsvc.OutcomeSync, d.Outcome)
		require.NotNil(t, seen)
		assert.Equal(t, rec, *seen, "decide sees the stored row")

		want := rec
		want.LockedAt, want.LastUsedAt = t1, t1
		want.Items, want.Amount, want.Currency = lines3200, 3200, "usd"
		assert.Equal(t, want, getKey(t, st, rec.Key), "locked, new order snapshot, PaymentIntent and create parameters kept")
		assert.Equal(t, cartState{items3200, t1, true}, getCart(t, st, user))
	})
	t.Run("Touch", func(t *testing.T) {
		st := s.store(t)
		user := newUser(t)
		rec := issueWithPI(t, st, user, "pi_touch", t0)
		_, err := st.ClaimKey(ctx, checkoutsvc.ClaimInput{UserID: user, Key: rec.Key, Cart: items3200, Now: t1},
			func(cur *checkoutsvc.KeyRecord) checkoutsvc.Decision {
				return checkoutsvc.Decision{Kind: checkoutsvc.DecideTouch, Record: checkoutsvc.KeyRecord{Items: lines3200, Amount: 3200}, Outcome: checkoutsvc.OutcomeReplay}
			})
		require.NoError(t, err)
		want := rec
		want.LastUsedAt = t1
		assert.Equal(t, want, getKey(t, st, rec.Key), "last_used_at only")
		assert.Equal(t, cartState{items3200, t1, true}, getCart(t, st, user))
	})
	t.Run("None", func(t *testing.T) {
		st := s.store(t)
		user := newUser(t)
		rec := issueWithPI(t, st, user, "pi_none", t0)
		before := getCart(t, st, user)
		d, err := st.ClaimKey(ctx, checkoutsvc.ClaimInput{UserID: user, Key: rec.Key, Cart: items3200, Now: t1},
			func(cur *checkoutsvc.KeyRecord) checkoutsvc.Decision {
				return checkoutsvc.Decision{Kind: checkoutsvc.DecideNone, Record: *cur, Outcome: checkoutsvc.OutcomeCompleted}
			})
		require.NoError(t, err)
		assert.Equal(t, checkoutsvc.OutcomeCompleted, d.Outcome)
		assert.Equal(t, rec, d.Record)
		assert.Equal(t, rec, getKey(t, st, rec.Key), "key unchanged")
		assert.Equal(t, before, getCart(t, st, user), "a refusal does not write the cart")
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		for name, kind := range map[string]checkoutsvc.DecisionKind{"Lock": checkoutsvc.DecideLock, "Touch": checkoutsvc.DecideTouch} {
			t.Run(name, func(t *testing.T) {
				st := s.store(t)
				user := newUser(t)
				_, err := st.ClaimKey(ctx, checkoutsvc.ClaimInput{UserID: user, Key: newKey(t), Cart: items5000, Now: t0},
					func(cur *checkoutsvc.KeyRecord) checkoutsvc.Decision {
						return checkoutsvc.Decision{Kind: kind, Record: newRecord(t, user)}
					})
				assert.Error(t, err, "no row to lock or touch")
				assert.Equal(t, cartState{}, getCart(t, st, user), "a failed claim writes nothing")
			})
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		st := s.store(t)
		user := newUser(t)
		rec := issueWithPI(t, st, user, "pi_concurrent", t0)
		var inside, maxInside, winners atomic.Int32
		var g errgroup.Group
		for i := 0; i < 20; i++ {
			g.Go(func() error {
				d, err := st.ClaimKey(ctx, checkoutsvc.ClaimInput{UserID: user, Key: rec.Key, Cart: items5000, Now: t1},
					func(cur *checkoutsvc.KeyRecord) checkoutsvc.Decision {
						n := inside.Add(1)
						defer inside.Add(-1)
						for m := maxInside.Load(); n > m && !maxInside.CompareAndSwap(m, n); m = maxInside.Load() {
						}
						time.Sleep(time.Millisecond)
						if cur != nil && cur.LockedAt.IsZero() {
							return checkoutsvc.Decision{Kind: checkoutsvc.DecideLock, Record: *cur, Outcome: checkoutsvc.OutcomeSync}
						}
						return checkoutsvc.Decision{Kind: checkoutsvc.DecideNone, Outcome: checkoutsvc.OutcomeInProgress}
					})
				if err == nil && d.Kind == checkoutsvc.DecideLock {
					winners.Add(1)
				}
				return err
			})
		}
		require.NoError(t, g.Wait())
		assert.Equal(t, int32(1), winners.Load(), "exactly one claim locks the key")
		assert.Equal(t, int32(1), maxInside.Load(), "decide runs with the row held exclusively")
		assert.Equal(t, t1, getKey(t, st, rec.Key).LockedAt)
	})
}

func (s suite) testReplayKey(t *testing.T) {
	ctx := context.Background()
	// setup returns a store with a released key bound to a PaymentIntent
	// and the user's cart as it stands.
	setup := func(t *testing.T) (checkoutsvc.Store, checkoutsvc.KeyRecord, cartState) {
		st := s.store(t)
		rec := issueWithPI(t, st, newUser(t), "pi_replay", t0)
		return st, rec, getCart(t, st, rec.UserID)
	}
	t.Run("OK", func(t *testing.T) {
		st, rec, _ := setup(t)
		ok, err := st.ReplayKey(ctx, rec, items3200, t1)
		require.NoError(t, err)
		assert.True(t, ok)
		want := rec
		want.LastUsedAt = t1
		assert.Equal(t, want, getKey(t, st, rec.Key), "last_used_at touched, nothing else")
		assert.Equal(t, cartState{items3200, t1, true}, getCart(t, st, rec.UserID), "cart stored")
	})
	mismatches := []struct {
		name   string
		change func(t *testing.T, w *checkoutsvc.KeyRecord)
	}{
		{"UnknownKey", func(t *testing.T, w *checkoutsvc.KeyRecord) { w.Key = newKey(t) }},
		{"OtherUser", func(t *testing.T, w *checkoutsvc.KeyRecord) { w.UserID = newUser(t) }},
		{"OtherMethod", func(t *testing.T, w *checkoutsvc.KeyRecord) { w.PaymentMethod = checkout.MethodCardTest }},
		{"OtherPaymentIntent", func(t *testing.T, w *checkoutsvc.KeyRecord) { w.PaymentIntentID = "pi_other" }},
		{"NoPaymentIntent", func(t *testing.T, w *checkoutsvc.KeyRecord) { w.PaymentIntentID = "" }},
		{"OtherStatus", func(t *testing.T, w *checkoutsvc.KeyRecord) { w.PIStatus = checkoutsvc.StatusRequiresAction }},
		{"OtherPIAmount", func(t *testing.T, w *checkoutsvc.KeyRecord) { w.PIAmount = 4999 }},
		{"OtherPICurrency", func(t *testing.T, w *checkoutsvc.KeyRecord) { w.PICurrency = "eur" }},
		{"OtherAmount", func(t *testing.T, w *checkoutsvc.KeyRecord) { w.Amount = 3200 }},
		{"OtherCurrency", func(t *testing.T, w *checkoutsvc.KeyRecord) { w.Currency = "eur" }},
		{"OtherItems", func(t *testing.T, w *checkoutsvc.KeyRecord) { w.Items = lines3200 }},
	}
	for _, tc := range mismatches {
		t.Run("Mismatch/"+tc.name, func(t *testing.T) {
			st, rec, cart := setup(t)
			want := rec
			want.Items = append([]checkout.Line{}, rec.Items...)
			tc.change(t, &want)
			ok, err := st.ReplayKey(ctx, want, items3200, t1)
			require.NoError(t, err)
			assert.False(t, ok)
			assert.Equal(t, rec, getKey(t, st, rec.Key), "key untouched")
			assert.Equal(t, cart, getCart(t, st, rec.UserID), "cart untouched")
		})
	}
	t.Run("Mismatch/Locked", func(t *testing.T) {
		st, rec, _ := setup(t)
		_, err := st.ClaimKey(ctx, checkoutsvc.ClaimInput{UserID: rec.UserID, Key: rec.Key, Cart: items5000, Now: t1},
			func(cur *checkoutsvc.KeyRecord) checkoutsvc.Decision {
				return checkoutsvc.Decision{Kind: checkoutsvc.DecideLock, Record: *cur}
			})
		require.NoError(t, err)
		locked, cart := getKey(t, st, rec.Key), getCart(t, st, rec.UserID)
		ok, err := st.ReplayKey(ctx, rec, items3200, t2)
		require.NoError(t, err)
		assert.False(t, ok, "a locked key never replays")
		assert.Equal(t, locked, getKey(t, st, rec.Key))
		assert.Equal(t, cart, getCart(t, st, rec.UserID))
	})
	t.Run("Mismatch/StatusChanged", func(t *testing.T) {
		st, rec, _ := setup(t)
		require.True(t, apply(t, st, checkoutsvc.Event{ID: "evt_cancel", Type: checkoutsvc.EventPaymentCanceled, PaymentIntentID: rec.PaymentIntentID, Now: t1}))
		changed, cart := getKey(t, st, rec.Key), getCart(t, st, rec.UserID)
		ok, err := st.ReplayKey(ctx, rec, items3200, t2)
		require.NoError(t, err)
		assert.False(t, ok, "the row changed since it was read")
		assert.Equal(t, changed, getKey(t, st, rec.Key))
		assert.Equal(t, cart, getCart(t, st, rec.UserID))
	})
}

func (s suite) testRecordPaymentIntent(t *testing.T) {
	ctx := context.Background()
	t.Run("OK", func(t *testing.T) {
		st := s.store(t)
		rec := issue(t, st, newUser(t), t0)
		pi := intent("pi_record", checkoutsvc.StatusRequiresPaymentMethod)
		got, err := st.RecordPaymentIntent(ctx, rec.Key, pi, t1)
		require.NoError(t, err)
		want := rec
		want.LockedAt = time.Time{}
		want.PaymentIntentID, want.ClientSecret, want.PIStatus = pi.ID, pi.ClientSecret, pi.Status
		want.PIAmount, want.PICurrency = pi.Amount, pi.Currency
		want.SyncedAt = t1
		assert.Equal(t, want, got, "stored, lock released")
		assert.Equal(t, want, getKey(t, st, rec.Key))
	})
	t.Run("StatusMoves", func(t *testing.T) {
		st := s.store(t)
		rec := issueWithPI(t, st, newUser(t), "pi_moves", t0)
		pi := intent("pi_moves", checkoutsvc.StatusRequiresAction)
		pi.Amount = 3200
		got, err := st.RecordPaymentIntent(ctx, rec.Key, pi, t1)
		require.NoError(t, err)
		assert.Equal(t, checkoutsvc.StatusRequiresAction, got.PIStatus)
		assert.Equal(t, int64(3200), got.PIAmount)
	})
	for _, tc := range []struct {
		name, event, status string
	}{
		{"KeepsSucceeded", checkoutsvc.EventPaymentSucceeded, checkoutsvc.StatusSucceeded},
		{"KeepsCanceled", checkoutsvc.EventPaymentCanceled, checkoutsvc.StatusCanceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := s.store(t)
			rec := issue(t, st, newUser(t), t0)
			// The webhook overtakes the create response: it binds the key.
			require.True(t, apply(t, st, checkoutsvc.Event{ID: "evt_" + tc.name, Type: tc.event,
				PaymentIntentID: "pi_keep", OnechargeKey: rec.Key, Amount: 5000, Currency: "usd", Now: t1}))
			got, err := st.RecordPaymentIntent(ctx, rec.Key, intent("pi_keep", checkoutsvc.StatusRequiresPaymentMethod), t2)
			require.NoError(t, err)
			assert.Equal(t, tc.status, got.PIStatus, "the status never moves back")
			assert.True(t, got.LockedAt.IsZero(), "lock released")
			assert.Equal(t, t2, got.SyncedAt)
			assert.Equal(t, got, getKey(t, st, rec.Key))
		})
	}
	t.Run("ErrNotFound", func(t *testing.T) {
		st := s.store(t)
		_, err := st.RecordPaymentIntent(ctx, newKey(t), intent("pi_nokey", checkoutsvc.StatusRequiresPaymentMethod), t0)
		assert.Error(t, err)
	})
}

func (s suite) testReleaseKey(t *testing.T) {
	ctx := context.Background()
	t.Run("OK", func(t *testing.T) {
		st := s.store(t)
		rec := issue(t, st, newUser(t), t0)
		require.False(t, rec.LockedAt.IsZero())
		require.NoError(t, st.ReleaseKey(ctx, rec.Key, rec.LockedAt))
		want := rec
		want.LockedAt = time.Time{}
		assert.Equal(t, want, getKey(t, st, rec.Key))
	})
	t.Run("TakenOverLockStays", func(t *testing.T) {
		// A request whose lock timed out (taken at t0) must not release
		// the lock its successor took later.
		st := s.store(t)
		rec := issue(t, st, newUser(t), t0)
		later := t0.Add(time.Minute)
		_, err := st.ClaimKey(ctx, checkoutsvc.ClaimInput{UserID: rec.UserID, Key: rec.Key, Now: later},
			func(cur *checkoutsvc.KeyRecord) checkoutsvc.Decision {
				return checkoutsvc.Decision{Kind: checkoutsvc.DecideLock, Record: *cur}
			})
		require.NoError(t, err)
		require.NoError(t, st.ReleaseKey(ctx, rec.Key, rec.LockedAt))
		assert.True(t, getKey(t, st, rec.Key).LockedAt.Equal(later), "the successor's lock stays")
		require.NoError(t, st.ReleaseKey(ctx, rec.Key, later))
		assert.True(t, getKey(t, st, rec.Key).LockedAt.IsZero())
	})
	t.Run("UnknownKey", func(t *testing.T) {
		st := s.store(t)
		assert.NoError(t, st.ReleaseKey(ctx, newKey(t), t0))
	})
}

func (s suite) testApplyEvent(t *testing.T) {
	ctx := context.Background()
	succeeded := func(id, pi string) checkoutsvc.Event {
		return checkoutsvc.Event{ID: id, Type: checkoutsvc.EventPaymentSucceeded, PaymentIntentID: pi, Amount: 5000, Currency: "usd", Now: t1}
	}
	paid := checkout.OrderStatus{Status: checkout.OrderPaid, Amount: 5000, Currency: "usd", Items: lines5000}

	t.Run("Succeeded", func(t *testing.T) {
		st := s.store(t)
		rec := issueWithPI(t, st, newUser(t), "pi_ok", t0)
		assert.True(t, apply(t, st, succeeded("evt_1", "pi_ok")))

		want := rec
		want.PIStatus, want.WebhookSeenAt, want.SyncedAt = checkoutsvc.StatusSucceeded, t1, t1
		assert.Equal(t, want, getKey(t, st, rec.Key))
		o, ok, err := st.GetOrder(ctx, rec.UserID, "pi_ok")
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Equal(t, paid, o)
		c := getCart(t, st, rec.UserID)
		assert.True(t, c.OK)
		assert.Empty(t, c.Items, "cart emptied")
		assert.Equal(t, t1, c.UpdatedAt)
	})
	t.Run("Dedup", func(t *testing.T) {
		st := s.store(t)
		rec := issueWithPI(t, st, newUser(t), "pi_dedup", t0)
		require.True(t, apply(t, st, succeeded("evt_dup", "pi_dedup")))
		_, err := st.UpsertCart(ctx, rec.UserID, items3200, "")
		require.NoError(t, err)
		key, cart := getKey(t, st, rec.Key), getCart(t, st, rec.UserID)

		again := succeeded("evt_dup", "pi_dedup")
		again.Type, again.Now = checkoutsvc.EventPaymentCanceled, t2
		assert.False(t, apply(t, st, again), "an event id is applied once")
		assert.Equal(t, key, getKey(t, st, rec.Key), "nothing changed")
		assert.Equal(t, cart, getCart(t, st, rec.UserID), "the new cart is not emptied")
	})
	t.Run("SucceededTwice", func(t *testing.T) {
		st := s.store(t)
		rec := issueWithPI(t, st, newUser(t), "pi_twice", t0)
		require.True(t, apply(t, st, succeeded("evt_a", "pi_twice")))
		second := succeeded("evt_b", "pi_twice")
		second.Amount = 9999
		assert.True(t, apply(t, st, second), "another event id is new")
		o, ok, err := st.GetOrder(ctx, rec.UserID, "pi_twice")
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Equal(t, paid, o, "one order per PaymentIntent: the first stays")
	})
	t.Run("SucceededBindsOnechargeKey", func(t *testing.T) {
		st := s.store(t)
		rec := issue(t, st, newUser(t), t0) // locked, no PaymentIntent recorded yet
		ev := succeeded("evt_bind", "pi_bind")
		ev.OnechargeKey = rec.Key
		assert.True(t, apply(t, st, ev))
		got := getKey(t, st, rec.Key)
		assert.Equal(t, "pi_bind", got.PaymentIntentID, "bound")
		assert.Equal(t, checkoutsvc.StatusSucceeded, got.PIStatus)
		assert.Equal(t, int64(5000), got.PIAmount)
		assert.Equal(t, "usd", got.PICurrency)
		assert.Equal(t, t1, got.WebhookSeenAt)
		assert.Equal(t, t0, got.LockedAt, "the request holding the key releases it")
		o, ok, err := st.GetOrder(ctx, rec.UserID, "pi_bind")
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Equal(t, paid, o)
		assert.Empty(t, getCart(t, st, rec.UserID).Items)
	})
	t.Run("SucceededKeyBoundElsewhere", func(t *testing.T) {
		st := s.store(t)
		rec := issueWithPI(t, st, newUser(t), "pi_mine", t0)
		ev := succeeded("evt_else", "pi_stranger")
		ev.OnechargeKey = rec.Key
		assert.True(t, apply(t, st, ev))
		assert.Equal(t, rec, getKey(t, st, rec.Key), "a key bound to another PaymentIntent is not rebound")
	})
	t.Run("FailedAfterSucceeded", func(t *testing.T) {
		st := s.store(t)
		rec := issueWithPI(t, st, newUser(t), "pi_ooo", t0)
		require.True(t, apply(t, st, succeeded("evt_s", "pi_ooo")))
		assert.True(t, apply(t, st, checkoutsvc.Event{ID: "evt_f", Type: checkoutsvc.EventPaymentFailed, PaymentIntentID: "pi_ooo", Now: t2}))
		got := getKey(t, st, rec.Key)
		assert.Equal(t, checkoutsvc.StatusSucceeded, got.PIStatus, "out of order: succeeded stays")
		assert.Equal(t, t2, got.WebhookSeenAt)
		o, _, err := st.GetOrder(ctx, rec.UserID, "pi_ooo")
		require.NoError(t, err)
		assert.Equal(t, checkout.OrderPaid, o.Status)
	})
	t.Run("Failed", func(t *testing.T) {
		st := s.store(t)
		rec := issue(t, st, newUser(t), t0)
		_, err := st.RecordPaymentIntent(ctx, rec.Key, intent("pi_fail", checkoutsvc.StatusProcessing), t0)
		require.NoError(t, err)
		assert.True(t, apply(t, st, checkoutsvc.Event{ID: "evt_fail", Type: checkoutsvc.EventPaymentFailed, PaymentIntentID: "pi_fail", Now: t1}))
		got := getKey(t, st, rec.Key)
		assert.Equal(t, checkoutsvc.StatusRequiresPaymentMethod, got.PIStatus)
		assert.Equal(t, t1, got.WebhookSeenAt)
		assert.Equal(t, items5000, getCart(t, st, rec.UserID).Items, "the cart is kept for another try")
	})
	t.Run("Canceled", func(t *testing.T) {
		st := s.store(t)
		rec := issueWithPI(t, st, newUser(t), "pi_cancel", t0)
		assert.True(t, apply(t, st, checkoutsvc.Event{ID: "evt_c", Type: checkoutsvc.EventPaymentCanceled, PaymentIntentID: "pi_cancel", Now: t1}))
		got := getKey(t, st, rec.Key)
		assert.Equal(t, checkoutsvc.StatusCanceled, got.PIStatus)
		assert.Equal(t, t1, got.WebhookSeenAt)
		assert.True(t, apply(t, st, checkoutsvc.Event{ID: "evt_f", Type: checkoutsvc.EventPaymentFailed, PaymentIntentID: "pi_cancel", Now: t2}))
		assert.Equal(t, checkoutsvc.StatusCanceled, getKey(t, st, rec.Key).PIStatus, "payment_failed does not reopen a canceled intent")
	})
	t.Run("CanceledAfterSucceeded", func(t *testing.T) {
		st := s.store(t)
		rec := issueWithPI(t, st, newUser(t), "pi_sc", t0)
		require.True(t, apply(t, st, succeeded("evt_s", "pi_sc")))
		assert.True(t, apply(t, st, checkoutsvc.Event{ID: "evt_c", Type: checkoutsvc.EventPaymentCanceled, PaymentIntentID: "pi_sc", Now: t2}))
		assert.Equal(t, checkoutsvc.StatusSucceeded, getKey(t, st, rec.Key).PIStatus)
	})
	t.Run("CheckoutCompleted", func(t *testing.T) {
		for _, tc := range []struct {
			name, pi, orderID string
			amount            int64
			currency          string
			wantAmount        int64
		}{
			{"OK", "pi_hosted", "pi_hosted", 3200, "usd", 3200},
			{"NoPaymentIntent", "", "cs_hosted", 0, "", 3200},
		} {
			t.Run(tc.name, func(t *testing.T) {
				st := s.store(t)
				user := newUser(t)
				_, err := st.UpsertCart(ctx, user, items3200, "cs_hosted")
				require.NoError(t, err)
				assert.True(t, apply(t, st, checkoutsvc.Event{ID: "evt_cs", Type: checkoutsvc.EventCheckoutCompleted,
					PaymentIntentID: tc.pi, CheckoutSessionID: "cs_hosted", Amount: tc.amount, Currency: tc.currency, Now: t1}))
				o, ok, err := st.GetOrder(ctx, user, tc.orderID)
				require.NoError(t, err)
				require.True(t, ok)
				assert.Equal(t, checkout.OrderStatus{Status: checkout.OrderPaid, Amount: tc.wantAmount, Currency: "usd", Items: lines3200}, o)
				c := getCart(t, st, user)
				assert.Empty(t, c.Items, "cart emptied")
				assert.Equal(t, t1, c.UpdatedAt)
				_, ok, err = st.GetOrder(ctx, newUser(t), tc.orderID)
				require.NoError(t, err)
				assert.False(t, ok, "only the owner sees it")
			})
		}
	})
	t.Run("UnknownPaymentIntent", func(t *testing.T) {
		st := s.store(t)
		rec := issueWithPI(t, st, newUser(t), "pi_known", t0)
		cart := getCart(t, st, rec.UserID)
		for _, typ := range []string{checkoutsvc.EventPaymentSucceeded, checkoutsvc.EventPaymentFailed, checkoutsvc.EventPaymentCanceled} {
			assert.True(t, apply(t, st, checkoutsvc.Event{ID: "evt_" + typ, Type: typ, PaymentIntentID: "pi_unknown",
				OnechargeKey: newKey(t), Amount: 5000, Currency: "usd", Now: t1}), typ)
		}
		assert.Equal(t, rec, getKey(t, st, rec.Key), "nothing else changes")
		assert.Equal(t, cart, getCart(t, st, rec.UserID))
		_, ok, err := st.GetOrder(ctx, rec.UserID, "pi_unknown")
		require.NoError(t, err)
		assert.False(t, ok)
	})
	t.Run("UnknownSession", func(t *testing.T) {
		st := s.store(t)
		user := newUser(t)
		_, err := st.UpsertCart(ctx, user, items3200, "cs_mine")
		require.NoError(t, err)
		cart := getCart(t, st, user)
		assert.True(t, apply(t, st, checkoutsvc.Event{ID: "evt_cs", Type: checkoutsvc.EventCheckoutCompleted,
			PaymentIntentID: "pi_x", CheckoutSessionID: "cs_unknown", Now: t1}))
		assert.Equal(t, cart, getCart(t, st, user))
		_, ok, err := st.GetOrder(ctx, user, "pi_x")
		require.NoError(t, err)
		assert.False(t, ok)
	})
	t.Run("UnknownType", func(t *testing.T) {
		st := s.store(t)
		rec := issueWithPI(t, st, newUser(t), "pi_type", t0)
		assert.True(t, apply(t, st, checkoutsvc.Event{ID: "evt_t", Type: "charge.refunded", PaymentIntentID: "pi_type", Now: t1}))
		assert.False(t, apply(t, st, checkoutsvc.Event{ID: "evt_t", Type: "charge.refunded", PaymentIntentID: "pi_type", Now: t1}))
		assert.Equal(t, rec, getKey(t, st, rec.Key))
	})
	t.Run("Concurrent", func(t *testing.T) {
		st := s.store(t)
		rec := issueWithPI(t, st, newUser(t), "pi_race", t0)
		var applied atomic.Int32
		var wg sync.WaitGroup
		errs := make(chan error, 10)
		for i := 0; i < 10; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := st.ApplyEvent(ctx, succeeded("evt_race", "pi_race"))
				if ok {
					applied.Add(1)
				}
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		assert.Equal(t, int32(1), applied.Load(), "one delivery applies the event")
		assert.Equal(t, checkoutsvc.StatusSucceeded, getKey(t, st, rec.Key).PIStatus)
	})
}

func (s suite) testGetOrder(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		status string // recorded PaymentIntent status
		event  string // webhook applied afterwards, if any
		want   string
	}{
		{"Pending/RequiresPaymentMethod", checkoutsvc.StatusRequiresPaymentMethod, "", checkout.OrderPending},
		{"Pending/RequiresConfirmation", checkoutsvc.StatusRequiresConfirmation, "", checkout.OrderPending},
		{"Pending/RequiresAction", checkoutsvc.StatusRequiresAction, "", checkout.OrderPending},
		{"Pending/Processing", checkoutsvc.StatusProcessing, "", checkout.OrderPending},
		{"Paid/StripeSaidSucceeded", checkoutsvc.StatusSucceeded, "", checkout.OrderPaid},
		{"Paid/Webhook", checkoutsvc.StatusProcessing, checkoutsvc.EventPaymentSucceeded, checkout.OrderPaid},
		{"Failed/Canceled", checkoutsvc.StatusCanceled, "", checkout.OrderFailed},
		{"Failed/CanceledWebhook", checkoutsvc.StatusRequiresPaymentMethod, checkoutsvc.EventPaymentCanceled, checkout.OrderFailed},
		{"Failed/PaymentFailedWebhook", checkoutsvc.StatusProcessing, checkoutsvc.EventPaymentFailed, checkout.OrderFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := s.store(t)
			rec := issue(t, st, newUser(t), t0)
			_, err := st.RecordPaymentIntent(ctx, rec.Key, intent("pi_order", tc.status), t0)
			require.NoError(t, err)
			if tc.event != "" {
				require.True(t, apply(t, st, checkoutsvc.Event{ID: "evt_order", Type: tc.event, PaymentIntentID: "pi_order",
					Amount: 5000, Currency: "usd", Now: t1}))
			}
			o, ok, err := st.GetOrder(ctx, rec.UserID, "pi_order")
			require.NoError(t, err)
			require.True(t, ok)
			assert.Equal(t, checkout.OrderStatus{Status: tc.want, Amount: 5000, Currency: "usd", Items: lines5000}, o)
		})
	}
	t.Run("AmountOfPaymentIntent", func(t *testing.T) {
		st := s.store(t)
		rec := issue(t, st, newUser(t), t0)
		pi := intent("pi_amount", checkoutsvc.StatusRequiresPaymentMethod)
		pi.Amount = 4000
		_, err := st.RecordPaymentIntent(ctx, rec.Key, pi, t0)
		require.NoError(t, err)
		o, ok, err := st.GetOrder(ctx, rec.UserID, "pi_amount")
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, int64(4000), o.Amount, "what the PaymentIntent charges")
		assert.Equal(t, lines5000, o.Items)
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		st := s.store(t)
		rec := issueWithPI(t, st, newUser(t), "pi_owner", t0)
		require.True(t, apply(t, st, checkoutsvc.Event{ID: "evt_paid", Type: checkoutsvc.EventPaymentSucceeded,
			PaymentIntentID: "pi_owner", Amount: 5000, Currency: "usd", Now: t1}))
		rec2 := issueWithPI(t, st, newUser(t), "pi_owner_pending", t0)
		for _, tc := range []struct{ name, user, pi string }{
			{"OtherUserPaid", newUser(t), "pi_owner"},
			{"OtherUserPending", rec.UserID, rec2.PaymentIntentID},
			{"UnknownPaymentIntent", rec.UserID, "pi_unknown"},
			{"NoPaymentIntent", rec.UserID, ""},
		} {
			_, ok, err := st.GetOrder(ctx, tc.user, tc.pi)
			require.NoError(t, err, tc.name)
			assert.False(t, ok, tc.name)
		}
	})
}

func (s suite) testInvalidUserID(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	for _, bad := range []string{"", "not-a-uuid", "6f1c2d3e-0000-4000-8000-00000000000", "6f1c2d3e-0000-4000-8000-00000000000g", "6f1c2d3e000040008000000000000000aaaa"} {
		t.Run(bad, func(t *testing.T) {
			_, _, _, err := st.GetCart(ctx, bad)
			assert.Error(t, err, "GetCart")
			_, err = st.UpsertCart(ctx, bad, items5000, "")
			assert.Error(t, err, "UpsertCart")
			_, err = st.ClaimKey(ctx, checkoutsvc.ClaimInput{UserID: bad, Cart: items5000, Now: t0},
				func(*checkoutsvc.KeyRecord) checkoutsvc.Decision { return checkoutsvc.Decision{} })
			assert.Error(t, err, "ClaimKey")
			_, err = st.ReplayKey(ctx, checkoutsvc.KeyRecord{Key: newKey(t), UserID: bad, PaymentIntentID: "pi_x"}, items5000, t0)
			assert.Error(t, err, "ReplayKey")
			_, _, err = st.GetOrder(ctx, bad, "pi_x")
			assert.Error(t, err, "GetOrder")
		})
	}
}
