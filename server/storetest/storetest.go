// Package storetest is the conformance suite every checkoutsvc.Store
// passes: server/memstore and server/postgres run it, so that the
// embedded default and the production store cannot drift apart.
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
	t.Run("Aliases", s.testAliases)
	t.Run("ReplayKey", s.testReplayKey)
	t.Run("RecordKey", s.testRecordKey)
	t.Run("ReleaseKey", s.testReleaseKey)
	t.Run("RenewLease", s.testRenewLease)
	t.Run("Checkout", s.testCheckout)
	t.Run("ApplyEvent", s.testApplyEvent)
	t.Run("GetOrder", s.testGetOrder)
	t.Run("Reaper", s.testReaper)
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

	items5000  = []checkout.Item{{ProductID: "tshirt", Quantity: 2}}
	lines5000  = []checkout.Line{{ProductID: "tshirt", Name: "Onecharge T-Shirt", Quantity: 2, UnitAmount: 2500}}
	order5000  = checkout.Order{Items: lines5000, Amount: 5000, Currency: "usd"}
	items3200  = []checkout.Item{{ProductID: "cap", Quantity: 1}, {ProductID: "mug", Quantity: 1}}
	lines3200  = []checkout.Line{{ProductID: "cap", Name: "Onecharge Cap", Quantity: 1, UnitAmount: 2000}, {ProductID: "mug", Name: "Onecharge Mug", Quantity: 1, UnitAmount: 1200}}
	order3200  = checkout.Order{Items: lines3200, Amount: 3200, Currency: "usd"}
	leaseUntil = t0.Add(3 * time.Second)
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

func newToken(t *testing.T) string { return "tok-" + newKey(t)[3:15] }

// newRecord is a new key row for user, held by token until leaseUntil.
func newRecord(t *testing.T, user, token string) checkoutsvc.KeyRecord {
	return checkoutsvc.KeyRecord{
		Key: newKey(t), UserID: user, PaymentMethod: checkout.MethodCard,
		Items: lines5000, Amount: 5000, Currency: "usd",
		CreateAmount: 5000, CreateCurrency: "usd",
		LockToken: token, LeaseUntil: leaseUntil,
	}
}

func insertDecision(rec checkoutsvc.KeyRecord, alias string) func(checkoutsvc.Claim) checkoutsvc.Decision {
	return func(checkoutsvc.Claim) checkoutsvc.Decision {
		return checkoutsvc.Decision{Kind: checkoutsvc.DecideInsert, Record: rec, Alias: alias, Outcome: checkoutsvc.OutcomeIssue}
	}
}

// issue inserts a new key for user through ClaimKey at now, held by the
// returned row's LockToken.
func issue(t *testing.T, st checkoutsvc.Store, user string, now time.Time) checkoutsvc.KeyRecord {
	t.Helper()
	rec := newRecord(t, user, newToken(t))
	_, err := st.ClaimKey(context.Background(), checkoutsvc.ClaimInput{UserID: user, Cart: items5000, Now: now}, insertDecision(rec, ""))
	require.NoError(t, err)
	return getKey(t, st, rec.Key)
}

// issueWithPI issues a key and records PaymentIntent piID for it
// (requires_payment_method, 5000 usd) at now, which releases it.
func issueWithPI(t *testing.T, st checkoutsvc.Store, user, piID string, now time.Time) checkoutsvc.KeyRecord {
	t.Helper()
	rec := issue(t, st, user, now)
	got, err := st.RecordKey(context.Background(), rec.Key, checkoutsvc.RecordInput{
		Token: rec.LockToken, PI: intent(piID, checkoutsvc.StatusRequiresPaymentMethod), Order: &order5000, Now: now})
	require.NoError(t, err)
	return got
}

// lock takes the lease of key for token through ClaimKey, with pending as
// the pending order.
func lock(t *testing.T, st checkoutsvc.Store, user, key, token string, until time.Time, pending *checkout.Order, now time.Time) checkoutsvc.KeyRecord {
	t.Helper()
	_, err := st.ClaimKey(context.Background(), checkoutsvc.ClaimInput{UserID: user, Key: key, Cart: items3200, Now: now},
		func(c checkoutsvc.Claim) checkoutsvc.Decision {
			rec := *c.Cur
			rec.LockToken, rec.LeaseUntil = token, until
			return checkoutsvc.Decision{Kind: checkoutsvc.DecideLock, Record: rec, Outcome: checkoutsvc.OutcomeSync}
		})
	require.NoError(t, err)
	if pending != nil {
		require.NoError(t, st.SetPending(context.Background(), key, token, pending))
	}
	return getKey(t, st, key)
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

func apply(t *testing.T, st checkoutsvc.Store, ev checkoutsvc.Event) checkoutsvc.EventResult {
	t.Helper()
	res, err := st.ApplyEvent(context.Background(), ev)
	require.NoError(t, err)
	return res
}

func getOrder(t *testing.T, st checkoutsvc.Store, user, id string) (checkout.OrderStatus, bool) {
	t.Helper()
	o, ok, err := st.GetOrder(context.Background(), user, id)
	require.NoError(t, err)
	return o, ok
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
		at, err := st.UpsertCart(ctx, user, items5000)
		require.NoError(t, err)
		assert.False(t, at.IsZero())
		assert.Equal(t, time.UTC, at.Location())
		assert.Equal(t, cartState{items5000, at, true}, getCart(t, st, user))
	})
	t.Run("UpsertCart/Repeated", func(t *testing.T) {
		st := s.store(t)
		user, other := newUser(t), newUser(t)
		_, err := st.UpsertCart(ctx, other, items3200)
		require.NoError(t, err)
		var last time.Time
		for i := 1; i <= 5; i++ {
			items := []checkout.Item{{ProductID: "mug", Quantity: i}}
			at, err := st.UpsertCart(ctx, user, items)
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
				_, err := st.UpsertCart(ctx, user, []checkout.Item{{ProductID: "stickers", Quantity: i}})
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
		_, err := st.UpsertCart(ctx, user, nil)
		require.NoError(t, err)
		c := getCart(t, st, user)
		assert.True(t, c.OK)
		assert.Empty(t, c.Items)
	})
	t.Run("UpsertCart/UpperCaseUserID", func(t *testing.T) {
		st := s.store(t)
		_, err := st.UpsertCart(ctx, "6F1C2D3E-0000-4000-8000-0000000000AB", items5000)
		require.NoError(t, err)
		assert.Equal(t, items5000, getCart(t, st, "6f1c2d3e-0000-4000-8000-0000000000ab").Items, "user ids are case-insensitive")
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
				rec := newRecord(t, user, newToken(t))
				calls := 0
				d, err := st.ClaimKey(ctx, in, func(c checkoutsvc.Claim) checkoutsvc.Decision {
					calls++
					assert.Nil(t, c.Cur, "decide sees no row for an unknown key")
					assert.Equal(t, in.Key, c.Key, "the key sent, unresolved")
					return checkoutsvc.Decision{Kind: checkoutsvc.DecideInsert, Record: rec, Outcome: checkoutsvc.OutcomeIssue, Reason: "r"}
				})
				require.NoError(t, err)
				assert.GreaterOrEqual(t, calls, 1)
				assert.Equal(t, checkoutsvc.DecideInsert, d.Kind)
				assert.Equal(t, checkoutsvc.OutcomeIssue, d.Outcome, "the outcome is passed back")
				assert.Equal(t, "r", d.Reason)

				want := rec
				want.CreatedAt, want.LastUsedAt = t0, t0
				assert.Equal(t, want, getKey(t, st, rec.Key), "stored held")
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
		cart := getCart(t, st, user)
		var seen checkoutsvc.Claim
		d, err := st.ClaimKey(ctx, checkoutsvc.ClaimInput{UserID: user, Key: rec.Key, Cart: items3200, Now: t1},
			func(c checkoutsvc.Claim) checkoutsvc.Decision {
				seen = c
				next := *c.Cur
				next.LockToken, next.LeaseUntil, next.Pending = "tok-lock", t1.Add(time.Second), &order3200
				next.Items, next.Amount = lines3200, 1 // only the lease is stored
				return checkoutsvc.Decision{Kind: checkoutsvc.DecideLock, Record: next, Outcome: checkoutsvc.OutcomeSync}
			})
		require.NoError(t, err)
		assert.Equal(t, checkoutsvc.OutcomeSync, d.Outcome)
		require.NotNil(t, seen.Cur)
		assert.Equal(t, rec.Key, seen.Key)
		assert.Equal(t, rec, *seen.Cur, "decide sees the stored row")

		want := rec
		want.LockToken, want.LeaseUntil = "tok-lock", t1.Add(time.Second)
		assert.Equal(t, want, getKey(t, st, rec.Key), "the lease, nothing else")
		assert.Equal(t, cart, getCart(t, st, user), "the cart waits for the outcome")

		// The holder stores its pending order before an update.
		require.NoError(t, st.SetPending(ctx, rec.Key, "tok-lock", &order3200))
		want.Pending = &order3200
		assert.Equal(t, want, getKey(t, st, rec.Key))
		assert.ErrorIs(t, st.SetPending(ctx, rec.Key, "tok-other", &order5000), checkoutsvc.ErrLeaseLost, "only the holder")
		assert.ErrorIs(t, st.SetPending(ctx, newKey(t), "tok-lock", &order5000), checkoutsvc.ErrLeaseLost)
		assert.Equal(t, want, getKey(t, st, rec.Key))
		require.NoError(t, st.SetPending(ctx, rec.Key, "tok-lock", nil))
		assert.Nil(t, getKey(t, st, rec.Key).Pending, "nil clears it")
		require.NoError(t, st.SetPending(ctx, rec.Key, "tok-lock", &order3200))

		// A later lease keeps the stored pending order.
		lock(t, st, user, rec.Key, "tok-2", t2, nil, t2)
		got := getKey(t, st, rec.Key)
		assert.Equal(t, "tok-2", got.LockToken)
		assert.Equal(t, &order3200, got.Pending)
	})
	t.Run("Touch", func(t *testing.T) {
		st := s.store(t)
		user := newUser(t)
		rec := issueWithPI(t, st, user, "pi_touch", t0)
		_, err := st.ClaimKey(ctx, checkoutsvc.ClaimInput{UserID: user, Key: rec.Key, Cart: items3200, Now: t1},
			func(c checkoutsvc.Claim) checkoutsvc.Decision {
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
			func(c checkoutsvc.Claim) checkoutsvc.Decision {
				return checkoutsvc.Decision{Kind: checkoutsvc.DecideNone, Record: *c.Cur, Alias: checkoutsvc.AliasRotation(rec.Key), Outcome: checkoutsvc.OutcomeCompleted}
			})
		require.NoError(t, err)
		assert.Equal(t, checkoutsvc.OutcomeCompleted, d.Outcome)
		assert.Equal(t, rec, d.Record)
		assert.Equal(t, rec, getKey(t, st, rec.Key), "key unchanged")
		assert.Equal(t, before, getCart(t, st, user), "a refusal does not write the cart")
		// Nor an alias.
		var seen string
		_, err = st.ClaimKey(ctx, checkoutsvc.ClaimInput{UserID: user, Key: rec.Key, Now: t1},
			func(c checkoutsvc.Claim) checkoutsvc.Decision { seen = c.Key; return checkoutsvc.Decision{} })
		require.NoError(t, err)
		assert.Equal(t, rec.Key, seen)
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		for name, kind := range map[string]checkoutsvc.DecisionKind{"Lock": checkoutsvc.DecideLock, "Touch": checkoutsvc.DecideTouch} {
			t.Run(name, func(t *testing.T) {
				st := s.store(t)
				user := newUser(t)
				_, err := st.ClaimKey(ctx, checkoutsvc.ClaimInput{UserID: user, Key: newKey(t), Cart: items5000, Now: t0},
					func(c checkoutsvc.Claim) checkoutsvc.Decision {
						return checkoutsvc.Decision{Kind: kind, Record: newRecord(t, user, "x")}
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
					func(c checkoutsvc.Claim) checkoutsvc.Decision {
						n := inside.Add(1)
						defer inside.Add(-1)
						for m := maxInside.Load(); n > m && !maxInside.CompareAndSwap(m, n); m = maxInside.Load() {
						}
						time.Sleep(time.Millisecond)
						if c.Cur != nil && c.Cur.LockToken == "" {
							next := *c.Cur
							next.LockToken, next.LeaseUntil = fmt.Sprint("tok-", i), t2
							return checkoutsvc.Decision{Kind: checkoutsvc.DecideLock, Record: next, Outcome: checkoutsvc.OutcomeSync}
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
		assert.Equal(t, int32(1), winners.Load(), "exactly one claim takes the lease")
		assert.Equal(t, int32(1), maxInside.Load(), "decide runs with the row held exclusively")
		assert.Equal(t, t2, getKey(t, st, rec.Key).LeaseUntil)
	})
}

// testAliases: nonces and rotations resolve, and concurrent rotations of
// one key make one successor.
func (s suite) testAliases(t *testing.T) {
	ctx := context.Background()
	resolve := func(t *testing.T, st checkoutsvc.Store, in checkoutsvc.ClaimInput) checkoutsvc.Claim {
		t.Helper()
		var c checkoutsvc.Claim
		_, err := st.ClaimKey(ctx, in, func(got checkoutsvc.Claim) checkoutsvc.Decision { c = got; return checkoutsvc.Decision{} })
		require.NoError(t, err)
		return c
	}
	t.Run("Nonce", func(t *testing.T) {
		st := s.store(t)
		user, other := newUser(t), newUser(t)
		rec := newRecord(t, user, "tok")
		_, err := st.ClaimKey(ctx, checkoutsvc.ClaimInput{UserID: user, Nonce: "n1", Cart: items5000, Now: t1}, insertDecision(rec, checkoutsvc.AliasNonce("n1")))
		require.NoError(t, err)

		c := resolve(t, st, checkoutsvc.ClaimInput{UserID: user, Nonce: "n1", NonceSince: t0, Now: t2})
		assert.Equal(t, rec.Key, c.Key, "the nonce resolves to the key it was issued")
		require.NotNil(t, c.Cur)
		assert.Equal(t, rec.Key, c.Cur.Key)
		for name, in := range map[string]checkoutsvc.ClaimInput{
			"OtherNonce":  {UserID: user, Nonce: "n2", NonceSince: t0, Now: t2},
			"OtherUser":   {UserID: other, Nonce: "n1", NonceSince: t0, Now: t2},
			"TooOld":      {UserID: user, Nonce: "n1", NonceSince: t2, Now: t2},
			"NoNonceSent": {UserID: user, Now: t2},
		} {
			c := resolve(t, st, in)
			assert.Empty(t, c.Key, name)
			assert.Nil(t, c.Cur, name)
		}
		// A key sent wins over a nonce.
		k := newKey(t)
		assert.Equal(t, k, resolve(t, st, checkoutsvc.ClaimInput{UserID: user, Key: k, Nonce: "n1", NonceSince: t0, Now: t2}).Key)
	})
	t.Run("RotationChain", func(t *testing.T) {
		st := s.store(t)
		user, other := newUser(t), newUser(t)
		stale := newKey(t)
		a := newRecord(t, user, "tok-a")
		_, err := st.ClaimKey(ctx, checkoutsvc.ClaimInput{UserID: user, Key: stale, Cart: items5000, Now: t0}, insertDecision(a, checkoutsvc.AliasRotation(stale)))
		require.NoError(t, err)
		b := newRecord(t, user, "tok-b")
		_, err = st.ClaimKey(ctx, checkoutsvc.ClaimInput{UserID: user, Key: a.Key, Cart: items5000, Now: t1}, func(c checkoutsvc.Claim) checkoutsvc.Decision {
			assert.Equal(t, a.Key, c.Key)
			return checkoutsvc.Decision{Kind: checkoutsvc.DecideInsert, Record: b, Alias: checkoutsvc.AliasRotation(c.Key), Outcome: checkoutsvc.OutcomeIssue}
		})
		require.NoError(t, err)

		for _, sent := range []string{stale, a.Key, b.Key} {
			c := resolve(t, st, checkoutsvc.ClaimInput{UserID: user, Key: sent, Now: t2})
			assert.Equal(t, b.Key, c.Key, "%s resolves to the newest successor", sent)
			require.NotNil(t, c.Cur)
		}
		c := resolve(t, st, checkoutsvc.ClaimInput{UserID: other, Key: stale, Now: t2})
		assert.Equal(t, stale, c.Key, "aliases are per user")
		assert.Nil(t, c.Cur)
		c = resolve(t, st, checkoutsvc.ClaimInput{UserID: other, Key: b.Key, Now: t2})
		assert.Equal(t, b.Key, c.Key)
		require.NotNil(t, c.Cur, "another user sees the row itself (and decides it is foreign)")
	})
	t.Run("ConcurrentRotationOneSuccessor", func(t *testing.T) {
		st := s.store(t)
		user := newUser(t)
		stale := newKey(t)
		var inserted atomic.Int32
		keys := make([]string, 10)
		var g errgroup.Group
		for i := range keys {
			g.Go(func() error {
				rec := newRecord(t, user, fmt.Sprint("tok-", i))
				d, err := st.ClaimKey(ctx, checkoutsvc.ClaimInput{UserID: user, Key: stale, Cart: items5000, Now: t0},
					func(c checkoutsvc.Claim) checkoutsvc.Decision {
						if c.Cur == nil {
							return checkoutsvc.Decision{Kind: checkoutsvc.DecideInsert, Record: rec, Alias: checkoutsvc.AliasRotation(c.Key), Outcome: checkoutsvc.OutcomeIssue}
						}
						return checkoutsvc.Decision{Kind: checkoutsvc.DecideNone, Record: *c.Cur, Outcome: checkoutsvc.OutcomeInProgress}
					})
				if err == nil {
					if d.Kind == checkoutsvc.DecideInsert {
						inserted.Add(1)
					}
					keys[i] = d.Record.Key
				}
				return err
			})
		}
		require.NoError(t, g.Wait())
		assert.Equal(t, int32(1), inserted.Load(), "one successor")
		for _, k := range keys {
			assert.Equal(t, keys[0], k, "every claim answers with it")
		}
	})
	t.Run("ConcurrentNonceOneKey", func(t *testing.T) {
		st := s.store(t)
		user := newUser(t)
		var inserted atomic.Int32
		var g errgroup.Group
		for i := 0; i < 10; i++ {
			g.Go(func() error {
				rec := newRecord(t, user, fmt.Sprint("tok-", i))
				d, err := st.ClaimKey(ctx, checkoutsvc.ClaimInput{UserID: user, Nonce: "same", NonceSince: t0, Cart: items5000, Now: t0},
					func(c checkoutsvc.Claim) checkoutsvc.Decision {
						if c.Cur == nil {
							return checkoutsvc.Decision{Kind: checkoutsvc.DecideInsert, Record: rec, Alias: checkoutsvc.AliasNonce("same"), Outcome: checkoutsvc.OutcomeIssue}
						}
						return checkoutsvc.Decision{Kind: checkoutsvc.DecideNone, Outcome: checkoutsvc.OutcomeInProgress}
					})
				if err == nil && d.Kind == checkoutsvc.DecideInsert {
					inserted.Add(1)
				}
				return err
			})
		}
		require.NoError(t, g.Wait())
		assert.Equal(t, int32(1), inserted.Load())
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
	t.Run("Mismatch/Held", func(t *testing.T) {
		st, rec, _ := setup(t)
		held := lock(t, st, rec.UserID, rec.Key, "tok-held", t1, nil, t1)
		cart := getCart(t, st, rec.UserID)
		ok, err := st.ReplayKey(ctx, rec, items3200, t2)
		require.NoError(t, err)
		assert.False(t, ok, "a held key never replays, even once its lease ran out (what the holder did is unknown)")
		assert.Equal(t, held, getKey(t, st, rec.Key))
		assert.Equal(t, cart, getCart(t, st, rec.UserID))
	})
	t.Run("Mismatch/StatusChanged", func(t *testing.T) {
		st, rec, _ := setup(t)
		require.True(t, apply(t, st, checkoutsvc.Event{ID: "evt_cancel", Type: checkoutsvc.EventPaymentCanceled, PaymentIntentID: rec.PaymentIntentID, Now: t1}).Applied)
		changed, cart := getKey(t, st, rec.Key), getCart(t, st, rec.UserID)
		ok, err := st.ReplayKey(ctx, rec, items3200, t2)
		require.NoError(t, err)
		assert.False(t, ok, "the row changed since it was read")
		assert.Equal(t, changed, getKey(t, st, rec.Key))
		assert.Equal(t, cart, getCart(t, st, rec.UserID))
	})
}

func (s suite) testRecordKey(t *testing.T) {
	ctx := context.Background()
	t.Run("OK", func(t *testing.T) {
		st := s.store(t)
		rec := issue(t, st, newUser(t), t0)
		pi := intent("pi_record", checkoutsvc.StatusRequiresPaymentMethod)
		got, err := st.RecordKey(ctx, rec.Key, checkoutsvc.RecordInput{Token: rec.LockToken, PI: pi, Order: &order5000, Cart: items5000, Now: t1})
		require.NoError(t, err)
		want := rec
		want.LockToken, want.LeaseUntil = "", time.Time{}
		want.PaymentIntentID, want.ClientSecret, want.PIStatus = pi.ID, pi.ClientSecret, pi.Status
		want.PIAmount, want.PICurrency = pi.Amount, pi.Currency
		want.SyncedAt, want.LastUsedAt = t1, t1
		assert.Equal(t, want, got, "stored, lease released")
		assert.Equal(t, want, getKey(t, st, rec.Key))
		assert.Equal(t, cartState{items5000, t1, true}, getCart(t, st, rec.UserID))
	})
	t.Run("AcceptsOrderClearsPending", func(t *testing.T) {
		st := s.store(t)
		user := newUser(t)
		rec := issueWithPI(t, st, user, "pi_accept", t0)
		held := lock(t, st, user, rec.Key, "tok", t1.Add(time.Second), &order3200, t1)
		pi := intent("pi_accept", checkoutsvc.StatusRequiresPaymentMethod)
		pi.Amount = 3200
		got, err := st.RecordKey(ctx, rec.Key, checkoutsvc.RecordInput{Token: "tok", PI: pi, Order: &order3200, Cart: items3200, Now: t2})
		require.NoError(t, err)
		assert.Equal(t, lines3200, got.Items)
		assert.Equal(t, int64(3200), got.Amount)
		assert.Nil(t, got.Pending, "Stripe holds it: no longer pending")
		assert.Equal(t, int64(3200), got.PIAmount)
		assert.Equal(t, held.CreateAmount, got.CreateAmount, "the create parameters never change")
		assert.Equal(t, items3200, getCart(t, st, user).Items)
	})
	t.Run("WithoutOrderKeepsBound", func(t *testing.T) {
		st := s.store(t)
		user := newUser(t)
		rec := issueWithPI(t, st, user, "pi_keep", t0)
		lock(t, st, user, rec.Key, "tok", t1.Add(time.Second), &order3200, t1)
		got, err := st.RecordKey(ctx, rec.Key, checkoutsvc.RecordInput{Token: "tok", PI: intent("pi_keep", checkoutsvc.StatusRequiresAction), Now: t2})
		require.NoError(t, err)
		assert.Equal(t, lines5000, got.Items, "no order accepted: the bound order stays")
		assert.Equal(t, &order3200, got.Pending, "and the pending one")
		assert.Equal(t, checkoutsvc.StatusRequiresAction, got.PIStatus)
	})
	for _, status := range []string{checkoutsvc.StatusSucceeded, checkoutsvc.StatusProcessing} {
		t.Run("RefusedWritesNothing/"+status, func(t *testing.T) {
			st := s.store(t)
			user := newUser(t)
			rec := issueWithPI(t, st, user, "pi_done", t0)
			cart := getCart(t, st, user)
			lock(t, st, user, rec.Key, "tok", t1.Add(time.Second), nil, t1)
			got, err := st.RecordKey(ctx, rec.Key, checkoutsvc.RecordInput{Token: "tok", PI: intent("pi_done", status), Order: &order3200, Cart: items3200, Now: t2})
			require.NoError(t, err)
			assert.Equal(t, rec, got, "a refused request writes nothing but its release (I4): the webhook records the payment")
			assert.Equal(t, rec, getKey(t, st, rec.Key))
			assert.Equal(t, cart, getCart(t, st, user))
		})
		t.Run("SyncLearns/"+status, func(t *testing.T) {
			st := s.store(t)
			user := newUser(t)
			rec := issueWithPI(t, st, user, "pi_sync", t0)
			lock(t, st, user, rec.Key, "tok", t1.Add(time.Second), nil, t1)
			got, err := st.RecordKey(ctx, rec.Key, checkoutsvc.RecordInput{Token: "tok", PI: intent("pi_sync", status), Now: t2, Sync: true})
			require.NoError(t, err)
			want := rec
			want.PIStatus, want.SyncedAt = status, t2
			assert.Equal(t, want, got, "the reaper records what Stripe said, and does not touch the key")
		})
	}
	t.Run("CanceledIsLearned", func(t *testing.T) {
		st := s.store(t)
		user := newUser(t)
		rec := issueWithPI(t, st, user, "pi_gone", t0)
		cart := getCart(t, st, user)
		lock(t, st, user, rec.Key, "tok", t1.Add(time.Second), nil, t1)
		got, err := st.RecordKey(ctx, rec.Key, checkoutsvc.RecordInput{Token: "tok", PI: intent("pi_gone", checkoutsvc.StatusCanceled), Order: &order3200, Cart: items3200, Now: t2})
		require.NoError(t, err)
		want := rec
		want.PIStatus, want.SyncedAt = checkoutsvc.StatusCanceled, t2
		assert.Equal(t, want, got, "canceled is stored (the key rotates next); the order, the cart and last_used_at are not")
		assert.Equal(t, cart, getCart(t, st, user))
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
				PaymentIntentID: "pi_keep", OnechargeKey: rec.Key, Amount: 5000, Currency: "usd", Now: t1}).Applied)
			got, err := st.RecordKey(ctx, rec.Key, checkoutsvc.RecordInput{Token: rec.LockToken, PI: intent("pi_keep", checkoutsvc.StatusRequiresPaymentMethod), Now: t2})
			require.NoError(t, err)
			assert.Equal(t, tc.status, got.PIStatus, "the status never moves back")
			assert.Empty(t, got.LockToken, "lease released")
			assert.Equal(t, got, getKey(t, st, rec.Key))
		})
	}
	t.Run("ErrLeaseLost", func(t *testing.T) {
		st := s.store(t)
		user := newUser(t)
		rec := issue(t, st, user, t0)
		// The lease ran out and a successor took the key over.
		succ := lock(t, st, user, rec.Key, "tok-successor", t2, nil, t1)
		cart := getCart(t, st, user)
		for _, token := range []string{rec.LockToken, "", "tok-other"} {
			_, err := st.RecordKey(ctx, rec.Key, checkoutsvc.RecordInput{Token: token, PI: intent("pi_late", checkoutsvc.StatusRequiresPaymentMethod),
				Order: &order3200, Cart: items3200, Now: t1})
			assert.ErrorIs(t, err, checkoutsvc.ErrLeaseLost, "token %q", token)
		}
		assert.Equal(t, succ, getKey(t, st, rec.Key), "the successor's row is untouched")
		assert.Equal(t, cart, getCart(t, st, user))
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		st := s.store(t)
		_, err := st.RecordKey(ctx, newKey(t), checkoutsvc.RecordInput{Token: "x", PI: intent("pi_nokey", checkoutsvc.StatusRequiresPaymentMethod), Now: t0})
		assert.Error(t, err)
	})
}

func (s suite) testReleaseKey(t *testing.T) {
	ctx := context.Background()
	t.Run("OK", func(t *testing.T) {
		st := s.store(t)
		rec := issueWithPI(t, st, newUser(t), "pi_release", t0)
		held := lock(t, st, rec.UserID, rec.Key, "tok", t2, nil, t1)
		require.NoError(t, st.ReleaseKey(ctx, rec.Key, "tok", false))
		want := held
		want.LockToken, want.LeaseUntil = "", time.Time{}
		assert.Equal(t, want, getKey(t, st, rec.Key))
	})
	t.Run("Stale", func(t *testing.T) {
		st := s.store(t)
		rec := issueWithPI(t, st, newUser(t), "pi_stale", t0)
		require.True(t, apply(t, st, checkoutsvc.Event{ID: "evt_f", Type: checkoutsvc.EventPaymentFailed, PaymentIntentID: "pi_stale", Now: t1}).Applied)
		lock(t, st, rec.UserID, rec.Key, "tok", t2, nil, t1)
		require.NoError(t, st.ReleaseKey(ctx, rec.Key, "tok", true))
		got := getKey(t, st, rec.Key)
		assert.True(t, got.SyncedAt.IsZero(), "the next request re-reads the intent")
		assert.True(t, got.WebhookSeenAt.IsZero())
		assert.Empty(t, got.LockToken)
	})
	t.Run("TakenOverLeaseStays", func(t *testing.T) {
		// A request whose lease ran out must not release the lease its
		// successor took later.
		st := s.store(t)
		rec := issue(t, st, newUser(t), t0)
		lock(t, st, rec.UserID, rec.Key, "tok-successor", t2, nil, t1)
		require.NoError(t, st.ReleaseKey(ctx, rec.Key, rec.LockToken, true))
		got := getKey(t, st, rec.Key)
		assert.Equal(t, "tok-successor", got.LockToken, "the successor's lease stays")
		require.NoError(t, st.ReleaseKey(ctx, rec.Key, "tok-successor", false))
		assert.Empty(t, getKey(t, st, rec.Key).LockToken)
	})
	t.Run("MarkStale", func(t *testing.T) {
		st := s.store(t)
		rec := issueWithPI(t, st, newUser(t), "pi_mark", t0)
		held := lock(t, st, rec.UserID, rec.Key, "tok", t2, nil, t1)
		require.NoError(t, st.MarkStale(ctx, rec.Key))
		got := getKey(t, st, rec.Key)
		assert.True(t, got.SyncedAt.IsZero())
		assert.Equal(t, held.LockToken, got.LockToken, "whoever holds it keeps it")
		require.NoError(t, st.MarkStale(ctx, newKey(t)), "an unknown key is no error")
	})
	t.Run("UnknownKey", func(t *testing.T) {
		st := s.store(t)
		assert.NoError(t, st.ReleaseKey(ctx, newKey(t), "tok", false))
	})
}

func (s suite) testRenewLease(t *testing.T) {
	ctx := context.Background()
	t.Run("Key", func(t *testing.T) {
		st := s.store(t)
		rec := issue(t, st, newUser(t), t0) // held until leaseUntil = t0+3s
		l := checkoutsvc.Lease{Kind: checkoutsvc.LeaseKey, ID: rec.Key, Token: rec.LockToken}
		require.NoError(t, st.RenewLease(ctx, l, t0.Add(time.Second), t0.Add(4*time.Second)))
		assert.Equal(t, t0.Add(4*time.Second), getKey(t, st, rec.Key).LeaseUntil)

		assert.ErrorIs(t, st.RenewLease(ctx, l, t0.Add(4*time.Second), t0.Add(7*time.Second)), checkoutsvc.ErrLeaseLost,
			"a lease that ran out is not renewed, even if nobody took it")
		other := l
		other.Token = "tok-other"
		assert.ErrorIs(t, st.RenewLease(ctx, other, t0, t1), checkoutsvc.ErrLeaseLost)
		unknown := l
		unknown.ID = newKey(t)
		assert.ErrorIs(t, st.RenewLease(ctx, unknown, t0, t1), checkoutsvc.ErrLeaseLost)
		assert.Equal(t, t0.Add(4*time.Second), getKey(t, st, rec.Key).LeaseUntil)
	})
	t.Run("Checkout", func(t *testing.T) {
		st := s.store(t)
		user := newUser(t)
		_, err := st.ClaimCheckout(ctx, checkoutsvc.CheckoutClaimInput{UserID: user, Cart: items5000, Token: "tok", LeaseUntil: leaseUntil, Now: t0})
		require.NoError(t, err)
		l := checkoutsvc.Lease{Kind: checkoutsvc.LeaseCheckout, ID: user, Token: "tok"}
		require.NoError(t, st.RenewLease(ctx, l, t0, t1))
		claim, err := st.ClaimCheckout(ctx, checkoutsvc.CheckoutClaimInput{UserID: user, Cart: items3200, Token: "tok2", LeaseUntil: t1, Now: t0.Add(10 * time.Second)})
		require.NoError(t, err)
		assert.True(t, claim.InProgress, "renewed past the claim")
		assert.Equal(t, t1, claim.LeaseUntil)
		assert.ErrorIs(t, st.RenewLease(ctx, l, t1, t2), checkoutsvc.ErrLeaseLost)
	})
}

func (s suite) testCheckout(t *testing.T) {
	ctx := context.Background()
	session := func(id, user string) *checkoutsvc.CheckoutSession {
		return &checkoutsvc.CheckoutSession{ID: id, URL: "https://pay/" + id, UserID: user, Items: lines3200, Amount: 3200, Currency: "usd", Status: checkoutsvc.SessionOpen}
	}
	claim := func(t *testing.T, st checkoutsvc.Store, user, token string, now time.Time) checkoutsvc.CheckoutClaim {
		t.Helper()
		c, err := st.ClaimCheckout(ctx, checkoutsvc.CheckoutClaimInput{UserID: user, Cart: items3200, Token: token, LeaseUntil: now.Add(3 * time.Second), Now: now})
		require.NoError(t, err)
		return c
	}
	t.Run("Lifecycle", func(t *testing.T) {
		st := s.store(t)
		user := newUser(t)
		c := claim(t, st, user, "tok1", t0)
		assert.Equal(t, checkoutsvc.CheckoutClaim{}, c, "no sessions yet")
		assert.Equal(t, cartState{items3200, t0, true}, getCart(t, st, user), "the cart is stored")

		busy := claim(t, st, user, "tok-busy", t0.Add(time.Second))
		assert.True(t, busy.InProgress, "one checkout of a user at a time")
		assert.Equal(t, t0.Add(3*time.Second), busy.LeaseUntil)

		require.NoError(t, st.RecordCheckout(ctx, checkoutsvc.CheckoutRecord{UserID: user, Token: "tok1", Session: session("cs_1", user), Now: t0}))
		o, ok := getOrder(t, st, user, "cs_1")
		require.True(t, ok)
		assert.Equal(t, checkout.OrderStatus{Status: checkout.OrderPending, Amount: 3200, Currency: "usd", Items: lines3200}, o)

		c = claim(t, st, user, "tok2", t1)
		assert.Equal(t, []string{"cs_1"}, c.Open)
		assert.Equal(t, "cs_1", c.Last)
		require.NoError(t, st.RecordCheckout(ctx, checkoutsvc.CheckoutRecord{UserID: user, Token: "tok2",
			Closed: map[string]string{"cs_1": checkoutsvc.SessionExpired}, Session: session("cs_2", user), Now: t1}))
		o, _ = getOrder(t, st, user, "cs_1")
		assert.Equal(t, checkout.OrderFailed, o.Status, "the replaced session is expired")

		c = claim(t, st, user, "tok3", t2)
		assert.Equal(t, []string{"cs_2"}, c.Open)
		assert.Equal(t, "cs_2", c.Last, "the newest")
		require.NoError(t, st.ReleaseCheckout(ctx, user, "tok3"))
		assert.False(t, claim(t, st, user, "tok4", t2).InProgress, "released")
	})
	t.Run("NewestAfterRetention", func(t *testing.T) {
		// Sessions deleted by retention never make a later one tie with
		// an older one: the newest stays the newest.
		st := s.store(t)
		user := newUser(t)
		claim(t, st, user, "tok1", t0)
		require.NoError(t, st.RecordCheckout(ctx, checkoutsvc.CheckoutRecord{UserID: user, Token: "tok1", Session: session("cs_1", user), Now: t0}))
		claim(t, st, user, "tok2", t0)
		require.NoError(t, st.RecordCheckout(ctx, checkoutsvc.CheckoutRecord{UserID: user, Token: "tok2",
			Closed: map[string]string{"cs_1": checkoutsvc.SessionExpired}, Session: session("cs_2", user), Now: t0}))
		d, err := st.DeleteBefore(ctx, t1, t1, 100)
		require.NoError(t, err)
		require.Equal(t, 1, d.Sessions, "the closed cs_1")
		claim(t, st, user, "tok3", t1)
		require.NoError(t, st.RecordCheckout(ctx, checkoutsvc.CheckoutRecord{UserID: user, Token: "tok3",
			Closed: map[string]string{"cs_2": checkoutsvc.SessionExpired}, Session: session("cs_3", user), Now: t1}))
		for i := range 20 { // the memory store's maps are read in a random order
			tok := fmt.Sprintf("tok-%d", i)
			c := claim(t, st, user, tok, t2)
			require.Equal(t, "cs_3", c.Last, "the newest, claim %d", i)
			require.NoError(t, st.ReleaseCheckout(ctx, user, tok))
		}
	})
	t.Run("LeaseRunsOut", func(t *testing.T) {
		st := s.store(t)
		user := newUser(t)
		claim(t, st, user, "tok-dead", t0)
		c := claim(t, st, user, "tok-next", t0.Add(3*time.Second))
		assert.False(t, c.InProgress, "a dead checkout's lease runs out")
		err := st.RecordCheckout(ctx, checkoutsvc.CheckoutRecord{UserID: user, Token: "tok-dead", Session: session("cs_dead", user), Now: t1})
		assert.ErrorIs(t, err, checkoutsvc.ErrLeaseLost)
		_, ok := getOrder(t, st, user, "cs_dead")
		assert.False(t, ok, "nothing of the fenced write stays")
		require.NoError(t, st.ReleaseCheckout(ctx, user, "tok-dead"))
		assert.True(t, claim(t, st, user, "tok-x", t0.Add(4*time.Second)).InProgress, "the old token does not release the new lease")
	})
	t.Run("Concurrent", func(t *testing.T) {
		st := s.store(t)
		user := newUser(t)
		var got atomic.Int32
		var g errgroup.Group
		for i := 0; i < 10; i++ {
			g.Go(func() error {
				c, err := st.ClaimCheckout(ctx, checkoutsvc.CheckoutClaimInput{UserID: user, Cart: items3200, Token: fmt.Sprint("tok", i), LeaseUntil: t1, Now: t0})
				if err == nil && !c.InProgress {
					got.Add(1)
				}
				return err
			})
		}
		require.NoError(t, g.Wait())
		assert.Equal(t, int32(1), got.Load(), "one of ten concurrent checkouts takes the lease")
	})
	t.Run("OtherUsersSessions", func(t *testing.T) {
		st := s.store(t)
		a, b := newUser(t), newUser(t)
		claim(t, st, a, "tok", t0)
		require.NoError(t, st.RecordCheckout(ctx, checkoutsvc.CheckoutRecord{UserID: a, Token: "tok", Session: session("cs_a", a), Now: t0}))
		assert.Equal(t, checkoutsvc.CheckoutClaim{}, claim(t, st, b, "tok", t1))
		_, ok := getOrder(t, st, b, "cs_a")
		assert.False(t, ok)
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
		res := apply(t, st, succeeded("evt_1", "pi_ok"))
		assert.True(t, res.Applied)
		assert.Equal(t, &checkoutsvc.RecordedOrder{ID: "pi_ok", UserID: rec.UserID, Status: checkout.OrderPaid, Amount: 5000, Currency: "usd", Bound: 5000}, res.Order)

		want := rec
		want.PIStatus, want.WebhookSeenAt = checkoutsvc.StatusSucceeded, t1
		assert.Equal(t, want, getKey(t, st, rec.Key), "a webhook never sets synced_at: only a Stripe answer does")
		o, ok := getOrder(t, st, rec.UserID, "pi_ok")
		assert.True(t, ok)
		assert.Equal(t, paid, o)
		c := getCart(t, st, rec.UserID)
		assert.True(t, c.OK)
		assert.Empty(t, c.Items, "cart emptied")
		assert.Equal(t, t1, c.UpdatedAt)
	})
	t.Run("PendingOrderMatches", func(t *testing.T) {
		// The update to 3200 reached Stripe but its answer was lost, and
		// the shopper paid 3200: the pending order is what was paid.
		st := s.store(t)
		rec := issueWithPI(t, st, newUser(t), "pi_pending", t0)
		lock(t, st, rec.UserID, rec.Key, "tok", t2, &order3200, t1)
		require.NoError(t, st.ReleaseKey(ctx, rec.Key, "tok", true))
		ev := succeeded("evt_p", "pi_pending")
		ev.Amount = 3200
		res := apply(t, st, ev)
		require.NotNil(t, res.Order)
		assert.Equal(t, checkout.OrderPaid, res.Order.Status)
		o, _ := getOrder(t, st, rec.UserID, "pi_pending")
		assert.Equal(t, checkout.OrderStatus{Status: checkout.OrderPaid, Amount: 3200, Currency: "usd", Items: lines3200}, o)
	})
	t.Run("NeedsReview", func(t *testing.T) {
		st := s.store(t)
		rec := issueWithPI(t, st, newUser(t), "pi_review", t0)
		ev := succeeded("evt_r", "pi_review")
		ev.Amount = 9999
		res := apply(t, st, ev)
		require.NotNil(t, res.Order)
		assert.Equal(t, &checkoutsvc.RecordedOrder{ID: "pi_review", UserID: rec.UserID, Status: checkout.OrderNeedsReview, Amount: 9999, Currency: "usd", Bound: 5000}, res.Order)
		o, _ := getOrder(t, st, rec.UserID, "pi_review")
		assert.Equal(t, checkout.OrderStatus{Status: checkout.OrderNeedsReview, Amount: 9999, Currency: "usd", Items: lines5000},
			o, "the amount paid, the lines known")
	})
	t.Run("Dedup", func(t *testing.T) {
		st := s.store(t)
		rec := issueWithPI(t, st, newUser(t), "pi_dedup", t0)
		require.True(t, apply(t, st, succeeded("evt_dup", "pi_dedup")).Applied)
		_, err := st.UpsertCart(ctx, rec.UserID, items3200)
		require.NoError(t, err)
		key, cart := getKey(t, st, rec.Key), getCart(t, st, rec.UserID)

		again := succeeded("evt_dup", "pi_dedup")
		again.Type, again.Now = checkoutsvc.EventPaymentCanceled, t2
		assert.Equal(t, checkoutsvc.EventResult{}, apply(t, st, again), "an event id is applied once")
		assert.Equal(t, key, getKey(t, st, rec.Key), "nothing changed")
		assert.Equal(t, cart, getCart(t, st, rec.UserID), "the new cart is not emptied")
	})
	t.Run("SucceededTwice", func(t *testing.T) {
		st := s.store(t)
		rec := issueWithPI(t, st, newUser(t), "pi_twice", t0)
		require.True(t, apply(t, st, succeeded("evt_a", "pi_twice")).Applied)
		second := succeeded("evt_b", "pi_twice")
		second.Amount = 9999
		res := apply(t, st, second)
		assert.True(t, res.Applied, "another event id is new")
		assert.Nil(t, res.Order, "but records no second order")
		o, ok := getOrder(t, st, rec.UserID, "pi_twice")
		assert.True(t, ok)
		assert.Equal(t, paid, o, "one order per PaymentIntent: the first stays")
	})
	t.Run("SucceededBindsOnechargeKey", func(t *testing.T) {
		st := s.store(t)
		rec := issue(t, st, newUser(t), t0) // held, no PaymentIntent recorded yet
		ev := succeeded("evt_bind", "pi_bind")
		ev.OnechargeKey = rec.Key
		assert.True(t, apply(t, st, ev).Applied)
		got := getKey(t, st, rec.Key)
		assert.Equal(t, "pi_bind", got.PaymentIntentID, "bound")
		assert.Equal(t, checkoutsvc.StatusSucceeded, got.PIStatus)
		assert.Equal(t, int64(5000), got.PIAmount)
		assert.Equal(t, "usd", got.PICurrency)
		assert.Equal(t, t1, got.WebhookSeenAt)
		assert.Equal(t, rec.LockToken, got.LockToken, "the request holding the key releases it")
		o, ok := getOrder(t, st, rec.UserID, "pi_bind")
		assert.True(t, ok)
		assert.Equal(t, paid, o)
		assert.Empty(t, getCart(t, st, rec.UserID).Items)
	})
	t.Run("SucceededKeyBoundElsewhere", func(t *testing.T) {
		st := s.store(t)
		rec := issueWithPI(t, st, newUser(t), "pi_mine", t0)
		ev := succeeded("evt_else", "pi_stranger")
		ev.OnechargeKey = rec.Key
		ev.MetadataUserID = rec.UserID
		res := apply(t, st, ev)
		assert.Equal(t, rec, getKey(t, st, rec.Key), "a key bound to another PaymentIntent is not rebound")
		require.NotNil(t, res.Order, "but the payment is not silently dropped")
		assert.Equal(t, checkout.OrderNeedsReview, res.Order.Status)
		o, ok := getOrder(t, st, rec.UserID, "pi_stranger")
		require.True(t, ok)
		assert.Equal(t, checkout.OrderStatus{Status: checkout.OrderNeedsReview, Amount: 5000, Currency: "usd", Items: []checkout.Line{}}, o)
	})
	t.Run("FailedAfterSucceeded", func(t *testing.T) {
		st := s.store(t)
		rec := issueWithPI(t, st, newUser(t), "pi_ooo", t0)
		require.True(t, apply(t, st, succeeded("evt_s", "pi_ooo")).Applied)
		assert.True(t, apply(t, st, checkoutsvc.Event{ID: "evt_f", Type: checkoutsvc.EventPaymentFailed, PaymentIntentID: "pi_ooo", Now: t2}).Applied)
		got := getKey(t, st, rec.Key)
		assert.Equal(t, checkoutsvc.StatusSucceeded, got.PIStatus, "out of order: succeeded stays")
		assert.Equal(t, t2, got.WebhookSeenAt)
		o, _ := getOrder(t, st, rec.UserID, "pi_ooo")
		assert.Equal(t, checkout.OrderPaid, o.Status)
	})
	t.Run("Failed", func(t *testing.T) {
		st := s.store(t)
		rec := issue(t, st, newUser(t), t0)
		_, err := st.RecordKey(ctx, rec.Key, checkoutsvc.RecordInput{Token: rec.LockToken, PI: intent("pi_fail", checkoutsvc.StatusRequiresAction), Now: t0})
		require.NoError(t, err)
		assert.True(t, apply(t, st, checkoutsvc.Event{ID: "evt_fail", Type: checkoutsvc.EventPaymentFailed, PaymentIntentID: "pi_fail", Now: t1}).Applied)
		got := getKey(t, st, rec.Key)
		assert.Equal(t, checkoutsvc.StatusRequiresPaymentMethod, got.PIStatus)
		assert.Equal(t, t1, got.WebhookSeenAt)
		assert.Equal(t, items5000, getCart(t, st, rec.UserID).Items, "the cart is kept for another try")
	})
	t.Run("FailedNeverUndoesProcessing", func(t *testing.T) {
		st := s.store(t)
		rec := issue(t, st, newUser(t), t0)
		_, err := st.RecordKey(ctx, rec.Key, checkoutsvc.RecordInput{Token: rec.LockToken, PI: intent("pi_proc", checkoutsvc.StatusProcessing), Now: t0, Sync: true})
		require.NoError(t, err)
		apply(t, st, checkoutsvc.Event{ID: "evt_pf", Type: checkoutsvc.EventPaymentFailed, PaymentIntentID: "pi_proc", Now: t1})
		assert.Equal(t, checkoutsvc.StatusProcessing, getKey(t, st, rec.Key).PIStatus, "statuses only move forward (I5)")
	})
	t.Run("Canceled", func(t *testing.T) {
		st := s.store(t)
		rec := issueWithPI(t, st, newUser(t), "pi_cancel", t0)
		assert.True(t, apply(t, st, checkoutsvc.Event{ID: "evt_c", Type: checkoutsvc.EventPaymentCanceled, PaymentIntentID: "pi_cancel", Now: t1}).Applied)
		got := getKey(t, st, rec.Key)
		assert.Equal(t, checkoutsvc.StatusCanceled, got.PIStatus)
		assert.Equal(t, t1, got.WebhookSeenAt)
		assert.True(t, apply(t, st, checkoutsvc.Event{ID: "evt_f", Type: checkoutsvc.EventPaymentFailed, PaymentIntentID: "pi_cancel", Now: t2}).Applied)
		assert.Equal(t, checkoutsvc.StatusCanceled, getKey(t, st, rec.Key).PIStatus, "payment_failed does not reopen a canceled intent")
	})
	t.Run("CanceledAfterSucceeded", func(t *testing.T) {
		st := s.store(t)
		rec := issueWithPI(t, st, newUser(t), "pi_sc", t0)
		require.True(t, apply(t, st, succeeded("evt_s", "pi_sc")).Applied)
		assert.True(t, apply(t, st, checkoutsvc.Event{ID: "evt_c", Type: checkoutsvc.EventPaymentCanceled, PaymentIntentID: "pi_sc", Now: t2}).Applied)
		assert.Equal(t, checkoutsvc.StatusSucceeded, getKey(t, st, rec.Key).PIStatus)
	})
	t.Run("CheckoutCompleted", func(t *testing.T) {
		for _, tc := range []struct {
			name     string
			pi       string
			amount   int64
			currency string
			status   string
		}{
			{"Paid", "pi_hosted", 3200, "usd", checkout.OrderPaid},
			{"PaidNoPaymentIntent", "", 3200, "usd", checkout.OrderPaid},
			{"OtherAmount", "pi_hosted", 1, "usd", checkout.OrderNeedsReview},
			{"OtherCurrency", "pi_hosted", 3200, "eur", checkout.OrderNeedsReview},
		} {
			t.Run(tc.name, func(t *testing.T) {
				st := s.store(t)
				user := newUser(t)
				_, err := st.ClaimCheckout(ctx, checkoutsvc.CheckoutClaimInput{UserID: user, Cart: items3200, Token: "tok", LeaseUntil: t1, Now: t0})
				require.NoError(t, err)
				sess := &checkoutsvc.CheckoutSession{ID: "cs_hosted", UserID: user, Items: lines3200, Amount: 3200, Currency: "usd", Status: checkoutsvc.SessionOpen}
				require.NoError(t, st.RecordCheckout(ctx, checkoutsvc.CheckoutRecord{UserID: user, Token: "tok", Session: sess, Now: t0}))
				// The cart moved on after the checkout: the order is the session's.
				_, err = st.UpsertCart(ctx, user, []checkout.Item{{ProductID: "mug", Quantity: 99}})
				require.NoError(t, err)

				res := apply(t, st, checkoutsvc.Event{ID: "evt_cs", Type: checkoutsvc.EventCheckoutCompleted,
					PaymentIntentID: tc.pi, CheckoutSessionID: "cs_hosted", Amount: tc.amount, Currency: tc.currency, Now: t1})
				require.NotNil(t, res.Order)
				assert.Equal(t, tc.status, res.Order.Status)
				assert.Equal(t, "cs_hosted", res.Order.ID)
				want := checkout.OrderStatus{Status: tc.status, Amount: tc.amount, Currency: tc.currency, Items: lines3200}
				for _, id := range []string{"cs_hosted", tc.pi} {
					if id == "" {
						continue
					}
					o, ok := getOrder(t, st, user, id)
					require.True(t, ok, id)
					assert.Equal(t, want, o, "found by %s", id)
					_, ok = getOrder(t, st, newUser(t), id)
					assert.False(t, ok, "only the owner sees it")
				}
				c := getCart(t, st, user)
				assert.Empty(t, c.Items, "cart emptied")
				assert.Equal(t, t1, c.UpdatedAt)
				assert.Empty(t, claimOpen(t, st, user), "the session is complete")
			})
		}
	})
	t.Run("CheckoutExpired", func(t *testing.T) {
		st := s.store(t)
		user := newUser(t)
		_, err := st.ClaimCheckout(ctx, checkoutsvc.CheckoutClaimInput{UserID: user, Cart: items3200, Token: "tok", LeaseUntil: t1, Now: t0})
		require.NoError(t, err)
		require.NoError(t, st.RecordCheckout(ctx, checkoutsvc.CheckoutRecord{UserID: user, Token: "tok",
			Session: &checkoutsvc.CheckoutSession{ID: "cs_exp", UserID: user, Items: lines3200, Amount: 3200, Currency: "usd", Status: checkoutsvc.SessionOpen}, Now: t0}))
		assert.True(t, apply(t, st, checkoutsvc.Event{ID: "evt_exp", Type: checkoutsvc.EventCheckoutExpired, CheckoutSessionID: "cs_exp", Now: t1}).Applied)
		o, _ := getOrder(t, st, user, "cs_exp")
		assert.Equal(t, checkout.OrderFailed, o.Status)
		assert.Empty(t, claimOpen(t, st, user))
	})
	t.Run("UnknownPaymentIntent", func(t *testing.T) {
		st := s.store(t)
		rec := issueWithPI(t, st, newUser(t), "pi_known", t0)
		cart := getCart(t, st, rec.UserID)
		for _, typ := range []string{checkoutsvc.EventPaymentSucceeded, checkoutsvc.EventPaymentFailed, checkoutsvc.EventPaymentCanceled} {
			res := apply(t, st, checkoutsvc.Event{ID: "evt_" + typ, Type: typ, PaymentIntentID: "pi_unknown", Amount: 5000, Currency: "usd", Now: t1})
			assert.True(t, res.Applied, typ)
			assert.Nil(t, res.Order, "not ours (no onecharge metadata): %s", typ)
		}
		assert.Equal(t, rec, getKey(t, st, rec.Key), "nothing else changes")
		assert.Equal(t, cart, getCart(t, st, rec.UserID))
		_, ok := getOrder(t, st, rec.UserID, "pi_unknown")
		assert.False(t, ok)
	})
	t.Run("OursWithoutKeyRow", func(t *testing.T) {
		st := s.store(t)
		user := newUser(t)
		_, err := st.UpsertCart(ctx, user, items5000)
		require.NoError(t, err)
		res := apply(t, st, checkoutsvc.Event{ID: "evt_orphan", Type: checkoutsvc.EventPaymentSucceeded, PaymentIntentID: "pi_orphan",
			OnechargeKey: newKey(t), MetadataUserID: user, Amount: 5000, Currency: "usd", Now: t1})
		require.NotNil(t, res.Order)
		assert.Equal(t, checkout.OrderNeedsReview, res.Order.Status, "a payment of ours that no key knows is never dropped")
		o, ok := getOrder(t, st, user, "pi_orphan")
		require.True(t, ok)
		assert.Equal(t, int64(5000), o.Amount)
		assert.Empty(t, getCart(t, st, user).Items, "cart emptied, as by every recorded order")
	})
	t.Run("UnknownSession", func(t *testing.T) {
		st := s.store(t)
		user := newUser(t)
		_, err := st.UpsertCart(ctx, user, items3200)
		require.NoError(t, err)
		res := apply(t, st, checkoutsvc.Event{ID: "evt_cs", Type: checkoutsvc.EventCheckoutCompleted,
			PaymentIntentID: "pi_x", CheckoutSessionID: "cs_unknown", ClientReferenceID: user, Amount: 3200, Currency: "usd", Now: t1})
		require.NotNil(t, res.Order)
		assert.Equal(t, checkout.OrderNeedsReview, res.Order.Status)
		o, ok := getOrder(t, st, user, "cs_unknown")
		require.True(t, ok)
		assert.Equal(t, checkout.OrderStatus{Status: checkout.OrderNeedsReview, Amount: 3200, Currency: "usd", Items: []checkout.Line{}}, o)
		assert.Empty(t, getCart(t, st, user).Items, "cart emptied, as by every recorded order")
		res = apply(t, st, checkoutsvc.Event{ID: "evt_cs2", Type: checkoutsvc.EventCheckoutCompleted, CheckoutSessionID: "cs_nobody",
			ClientReferenceID: "not-a-user", Amount: 3200, Currency: "usd", Now: t1})
		assert.True(t, res.Applied)
		assert.Nil(t, res.Order, "no user to record it for")
	})
	t.Run("UnknownType", func(t *testing.T) {
		st := s.store(t)
		rec := issueWithPI(t, st, newUser(t), "pi_type", t0)
		assert.True(t, apply(t, st, checkoutsvc.Event{ID: "evt_t", Type: "charge.refunded", PaymentIntentID: "pi_type", Now: t1}).Applied)
		assert.False(t, apply(t, st, checkoutsvc.Event{ID: "evt_t", Type: "charge.refunded", PaymentIntentID: "pi_type", Now: t1}).Applied)
		assert.Equal(t, rec, getKey(t, st, rec.Key))
	})
	t.Run("Concurrent", func(t *testing.T) {
		st := s.store(t)
		rec := issueWithPI(t, st, newUser(t), "pi_race", t0)
		var applied, orders atomic.Int32
		var wg sync.WaitGroup
		errs := make(chan error, 10)
		for i := 0; i < 10; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := st.ApplyEvent(ctx, succeeded(fmt.Sprint("evt_race", i%2), "pi_race"))
				if res.Applied {
					applied.Add(1)
				}
				if res.Order != nil {
					orders.Add(1)
				}
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		assert.Equal(t, int32(2), applied.Load(), "one delivery of each event id applies it")
		assert.Equal(t, int32(1), orders.Load(), "one order")
		assert.Equal(t, checkoutsvc.StatusSucceeded, getKey(t, st, rec.Key).PIStatus)
	})
}

// claimOpen lists the user's open sessions (taking and releasing the
// checkout lease).
func claimOpen(t *testing.T, st checkoutsvc.Store, user string) []string {
	t.Helper()
	c, err := st.ClaimCheckout(context.Background(), checkoutsvc.CheckoutClaimInput{UserID: user, Token: "tok-list", LeaseUntil: t2.Add(time.Hour), Now: t2})
	require.NoError(t, err)
	require.False(t, c.InProgress)
	require.NoError(t, st.ReleaseCheckout(context.Background(), user, "tok-list"))
	return c.Open
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
		{"Pending/StripeSaidSucceededNoWebhookYet", checkoutsvc.StatusSucceeded, "", checkout.OrderPending},
		{"Pending/AfterDecline", checkoutsvc.StatusRequiresAction, checkoutsvc.EventPaymentFailed, checkout.OrderPending},
		{"Paid/Webhook", checkoutsvc.StatusProcessing, checkoutsvc.EventPaymentSucceeded, checkout.OrderPaid},
		{"Failed/Canceled", checkoutsvc.StatusCanceled, "", checkout.OrderFailed},
		{"Failed/CanceledWebhook", checkoutsvc.StatusRequiresPaymentMethod, checkoutsvc.EventPaymentCanceled, checkout.OrderFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := s.store(t)
			rec := issue(t, st, newUser(t), t0)
			_, err := st.RecordKey(ctx, rec.Key, checkoutsvc.RecordInput{Token: rec.LockToken, PI: intent("pi_order", tc.status), Now: t0, Sync: true})
			require.NoError(t, err)
			if tc.event != "" {
				require.True(t, apply(t, st, checkoutsvc.Event{ID: "evt_order", Type: tc.event, PaymentIntentID: "pi_order",
					Amount: 5000, Currency: "usd", Now: t1}).Applied)
			}
			o, ok := getOrder(t, st, rec.UserID, "pi_order")
			require.True(t, ok)
			assert.Equal(t, checkout.OrderStatus{Status: tc.want, Amount: 5000, Currency: "usd", Items: lines5000}, o)
		})
	}
	t.Run("ErrNotFound", func(t *testing.T) {
		st := s.store(t)
		rec := issueWithPI(t, st, newUser(t), "pi_owner", t0)
		require.True(t, apply(t, st, checkoutsvc.Event{ID: "evt_paid", Type: checkoutsvc.EventPaymentSucceeded,
			PaymentIntentID: "pi_owner", Amount: 5000, Currency: "usd", Now: t1}).Applied)
		rec2 := issueWithPI(t, st, newUser(t), "pi_owner_pending", t0)
		for _, tc := range []struct{ name, user, pi string }{
			{"OtherUserPaid", newUser(t), "pi_owner"},
			{"OtherUserPending", rec.UserID, rec2.PaymentIntentID},
			{"UnknownPaymentIntent", rec.UserID, "pi_unknown"},
			{"UnknownSession", rec.UserID, "cs_unknown"},
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
			_, err = st.UpsertCart(ctx, bad, items5000)
			assert.Error(t, err, "UpsertCart")
			_, err = st.ClaimKey(ctx, checkoutsvc.ClaimInput{UserID: bad, Cart: items5000, Now: t0},
				func(checkoutsvc.Claim) checkoutsvc.Decision { return checkoutsvc.Decision{} })
			assert.Error(t, err, "ClaimKey")
			_, err = st.ReplayKey(ctx, checkoutsvc.KeyRecord{Key: newKey(t), UserID: bad, PaymentIntentID: "pi_x"}, items5000, t0)
			assert.Error(t, err, "ReplayKey")
			_, err = st.ClaimCheckout(ctx, checkoutsvc.CheckoutClaimInput{UserID: bad, Now: t0})
			assert.Error(t, err, "ClaimCheckout")
			assert.Error(t, st.RecordCheckout(ctx, checkoutsvc.CheckoutRecord{UserID: bad}), "RecordCheckout")
			assert.Error(t, st.ReleaseCheckout(ctx, bad, "tok"), "ReleaseCheckout")
			_, _, err = st.GetOrder(ctx, bad, "pi_x")
			assert.Error(t, err, "GetOrder")
		})
	}
}

// testReaper: the store's side of the reaper and of retention.
func (s suite) testReaper(t *testing.T) {
	ctx := context.Background()
	t.Run("TryReaperLock", func(t *testing.T) {
		st := s.store(t)
		release, ok, err := st.TryReaperLock(ctx)
		require.NoError(t, err)
		require.True(t, ok)
		_, again, err := st.TryReaperLock(ctx)
		require.NoError(t, err)
		assert.False(t, again, "one reaper at a time")
		release()
		release2, ok, err := st.TryReaperLock(ctx)
		require.NoError(t, err)
		assert.True(t, ok, "free again once released")
		release2()
	})
	t.Run("ReapableKeys", func(t *testing.T) {
		st := s.store(t)
		user := newUser(t)
		old := issueWithPI(t, st, user, "pi_old", t0) // idle since t0: reapable
		older := issueWithPI(t, st, user, "pi_older", t0.Add(-time.Hour))
		fresh := issueWithPI(t, st, user, "pi_fresh", t2) // used after idleBefore
		held := issueWithPI(t, st, user, "pi_held", t0)
		lock(t, st, user, held.Key, "tok", t2.Add(time.Hour), nil, t0)
		challenge := issue(t, st, user, t0)
		_, err := st.RecordKey(ctx, challenge.Key, checkoutsvc.RecordInput{Token: challenge.LockToken, PI: intent("pi_3ds", checkoutsvc.StatusRequiresAction), Now: t0})
		require.NoError(t, err)
		paid := issueWithPI(t, st, user, "pi_paid", t0)
		apply(t, st, checkoutsvc.Event{ID: "evt_paid", Type: checkoutsvc.EventPaymentSucceeded, PaymentIntentID: "pi_paid", Amount: 5000, Currency: "usd", Now: t0})
		issue(t, st, user, t0) // no PaymentIntent yet: nothing to cancel
		_ = paid

		got, err := st.ReapableKeys(ctx, t1, t2, 10)
		require.NoError(t, err)
		var keys []string
		for _, k := range got {
			keys = append(keys, k.Key)
		}
		assert.Equal(t, []string{older.Key, old.Key}, keys, "idle, payable, unheld, oldest first")
		got, err = st.ReapableKeys(ctx, t1, t2, 1)
		require.NoError(t, err)
		require.Len(t, got, 1, "limit")
		assert.Equal(t, older.Key, got[0].Key)
		_ = fresh
		// A lease that ran out does not protect a key.
		got, err = st.ReapableKeys(ctx, t1, t2.Add(2*time.Hour), 10)
		require.NoError(t, err)
		assert.Len(t, got, 3)
	})
	t.Run("Sessions", func(t *testing.T) {
		st := s.store(t)
		a, b := newUser(t), newUser(t)
		record := func(user, id string, closed map[string]string) {
			_, err := st.ClaimCheckout(ctx, checkoutsvc.CheckoutClaimInput{UserID: user, Token: "tok", LeaseUntil: t1, Now: t0})
			require.NoError(t, err)
			require.NoError(t, st.RecordCheckout(ctx, checkoutsvc.CheckoutRecord{UserID: user, Token: "tok", Closed: closed,
				Session: &checkoutsvc.CheckoutSession{ID: id, UserID: user, Items: lines3200, Amount: 3200, Currency: "usd", Status: checkoutsvc.SessionOpen}, Now: t0}))
		}
		record(a, "cs_a1", nil)
		record(a, "cs_a2", nil) // a failed expire left cs_a1 open
		record(a, "cs_a3", map[string]string{"cs_a2": checkoutsvc.SessionExpired})
		record(b, "cs_b1", nil)
		got, err := st.ReplacedSessions(ctx, 10)
		require.NoError(t, err)
		require.Len(t, got, 1)
		assert.Equal(t, "cs_a1", got[0].ID, "open and not the newest of its user")
		assert.Equal(t, a, got[0].UserID)
		assert.Equal(t, lines3200, got[0].Items)
		require.NoError(t, st.CloseSessions(ctx, map[string]string{"cs_a1": checkoutsvc.SessionExpired, "cs_a2": checkoutsvc.SessionComplete}))
		got, err = st.ReplacedSessions(ctx, 10)
		require.NoError(t, err)
		assert.Empty(t, got)
		o, _ := getOrder(t, st, a, "cs_a2")
		assert.Equal(t, checkout.OrderFailed, o.Status, "only open sessions change")
	})
	t.Run("DeleteBefore", func(t *testing.T) {
		st := s.store(t)
		user := newUser(t)
		oldKey := issueWithPI(t, st, user, "pi_oldkey", t0)
		paidKey := issueWithPI(t, st, user, "pi_paidkey", t0)
		apply(t, st, checkoutsvc.Event{ID: "evt_old", Type: checkoutsvc.EventPaymentSucceeded, PaymentIntentID: "pi_paidkey", Amount: 5000, Currency: "usd", Now: t0})
		heldKey := issueWithPI(t, st, user, "pi_heldkey", t0)
		lock(t, st, user, heldKey.Key, "tok", t2.Add(time.Hour), nil, t0)
		newKey := issueWithPI(t, st, user, "pi_newkey", t2)
		stale := newRecord(t, user, "tok-r")
		_, err := st.ClaimKey(ctx, checkoutsvc.ClaimInput{UserID: user, Key: oldKey.Key, Cart: items5000, Now: t0}, insertDecision(stale, checkoutsvc.AliasRotation("ik_gone")))
		require.NoError(t, err)
		_, err = st.ClaimCheckout(ctx, checkoutsvc.CheckoutClaimInput{UserID: user, Token: "tok-c", LeaseUntil: t1, Now: t0})
		require.NoError(t, err)
		require.NoError(t, st.RecordCheckout(ctx, checkoutsvc.CheckoutRecord{UserID: user, Token: "tok-c",
			Session: &checkoutsvc.CheckoutSession{ID: "cs_old", UserID: user, Items: lines3200, Amount: 3200, Currency: "usd", Status: checkoutsvc.SessionOpen}, Now: t0}))
		apply(t, st, checkoutsvc.Event{ID: "evt_cs", Type: checkoutsvc.EventCheckoutCompleted, CheckoutSessionID: "cs_old", PaymentIntentID: "pi_cs", Amount: 3200, Currency: "usd", Now: t0})

		d, err := st.DeleteBefore(ctx, t1, t2, 100)
		require.NoError(t, err)
		assert.Equal(t, checkoutsvc.Deleted{Keys: 3, Aliases: 1, Events: 2, Sessions: 1}, d,
			"the old key, the paid key and the stale alias's new key; not the held one or the new one")
		for _, k := range []string{oldKey.Key, paidKey.Key, stale.Key} {
			_, ok, err := st.GetKey(ctx, k)
			require.NoError(t, err)
			assert.False(t, ok, k)
		}
		for _, k := range []string{heldKey.Key, newKey.Key} {
			getKey(t, st, k)
		}
		for _, id := range []string{"pi_paidkey", "cs_old", "pi_cs"} {
			o, ok := getOrder(t, st, user, id)
			require.True(t, ok, "orders are kept: %s", id)
			assert.Equal(t, checkout.OrderPaid, o.Status)
		}
		// The deleted event ids are new again: retention must outlast
		// Stripe's retries (MinRetention).
		assert.True(t, apply(t, st, checkoutsvc.Event{ID: "evt_old", Type: "charge.refunded", Now: t2}).Applied)
		d, err = st.DeleteBefore(ctx, t1, t2, 100)
		require.NoError(t, err)
		assert.Equal(t, checkoutsvc.Deleted{}, d, "nothing left to delete")
	})
	t.Run("DeleteBeforeLimit", func(t *testing.T) {
		st := s.store(t)
		user := newUser(t)
		for i := 0; i < 5; i++ {
			issueWithPI(t, st, user, fmt.Sprint("pi_lim", i), t0)
		}
		d, err := st.DeleteBefore(ctx, t1, t2, 2)
		require.NoError(t, err)
		assert.Equal(t, 2, d.Keys)
		d, err = st.DeleteBefore(ctx, t1, t2, 10)
		require.NoError(t, err)
		assert.Equal(t, 3, d.Keys)
	})
}
