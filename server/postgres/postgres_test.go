package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/onecharge/onecharge/server/checkoutsvc"
	"github.com/onecharge/onecharge/server/postgres"
	"github.com/onecharge/onecharge/server/postgres/pgtest"
	"github.com/onecharge/onecharge/server/storetest"
	"github.com/onecharge/onecharge/shared/checkout"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) checkoutsvc.Store {
		return pgtest.Open(t, postgres.Config{})
	})
}

// open returns a store and a plain connection to one fresh database.
func open(t *testing.T, cfg postgres.Config) (*postgres.DB, *pgx.Conn) {
	t.Helper()
	cfg.URL = pgtest.URL(t)
	db, err := postgres.Open(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(db.Close)
	conn, err := pgx.Connect(context.Background(), cfg.URL)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return db, conn
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	t.Run("ErrInvalidURL", func(t *testing.T) {
		_, err := postgres.Open(ctx, postgres.Config{URL: "postgres://u:secret@host:notaport/db"})
		require.Error(t, err)
		assert.NotContains(t, err.Error(), "secret")
	})
	t.Run("ErrUnavailable", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		// Open connects lazily: the first query reports the failure.
		db, err := postgres.Open(ctx, postgres.Config{URL: "postgres://u:secret@127.0.0.1:1/db?connect_timeout=5"})
		require.NoError(t, err)
		defer db.Close()
		err = db.Ping(ctx)
		require.Error(t, err)
		assert.NotContains(t, err.Error(), "secret")
		var perr *postgres.Error
		assert.True(t, errors.As(err, &perr))
	})
}

func TestCartOneRowPerUser(t *testing.T) {
	ctx := context.Background()
	user := "0b6e3c1e-5d1f-4a57-9c53-2a1f0e9b7c11"
	rows := func(t *testing.T, conn *pgx.Conn) int {
		var n int
		require.NoError(t, conn.QueryRow(ctx, "select count(*) from carts where user_id = $1", user).Scan(&n))
		return n
	}
	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		db, conn := open(t, postgres.Config{})
		for i := 1; i <= 3; i++ {
			_, err := db.UpsertCart(ctx, user, []checkout.Item{{ProductID: "mug", Quantity: i}})
			var pgErr *pgconn.PgError
			require.False(t, errors.As(err, &pgErr) && pgErr.Code == "23505", "never a duplicate-key error")
			require.NoError(t, err)
		}
		assert.Equal(t, 1, rows(t, conn))
	})
	t.Run("Concurrent", func(t *testing.T) {
		t.Parallel()
		db, conn := open(t, postgres.Config{MaxConns: 20})
		var g errgroup.Group
		for i := 0; i < 50; i++ {
			g.Go(func() error {
				if i%2 == 0 {
					_, err := db.UpsertCart(ctx, user, []checkout.Item{{ProductID: "cap", Quantity: 1 + i%99}})
					return err
				}
				_, err := db.ClaimKey(ctx, checkoutsvc.ClaimInput{UserID: user, Cart: []checkout.Item{{ProductID: "mug", Quantity: 1}}, Now: time.Now()},
					func(checkoutsvc.Claim) checkoutsvc.Decision { return checkoutsvc.Decision{} })
				return err
			})
		}
		require.NoError(t, g.Wait())
		assert.Equal(t, 1, rows(t, conn))
	})
	t.Run("ErrUniqueViolation", func(t *testing.T) {
		t.Parallel()
		db, conn := open(t, postgres.Config{})
		_, err := db.UpsertCart(ctx, user, nil)
		require.NoError(t, err)
		// The constraint shops rely on is there, under its name.
		_, err = conn.Exec(ctx, `insert into carts (user_id, items) values ($1, '[]')`, user)
		var pgErr *pgconn.PgError
		require.ErrorAs(t, err, &pgErr)
		assert.Equal(t, "23505", pgErr.Code)
		assert.Equal(t, "carts_user_id_unique", pgErr.ConstraintName)
	})
}

func TestErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.Open(t, postgres.Config{})
	user := "3d2c1b0a-9f8e-4d7c-8b6a-5f4e3d2c1b0a"
	key, err := checkout.NewKey()
	require.NoError(t, err)
	insert := func(checkoutsvc.Claim) checkoutsvc.Decision {
		return checkoutsvc.Decision{Kind: checkoutsvc.DecideInsert, Record: checkoutsvc.KeyRecord{Key: key, UserID: user}}
	}
	in := checkoutsvc.ClaimInput{UserID: user, Now: time.Now()}
	_, err = db.ClaimKey(ctx, in, insert)
	require.NoError(t, err)

	t.Run("ErrUniqueViolation", func(t *testing.T) {
		_, err := db.ClaimKey(ctx, in, insert)
		var perr *postgres.Error
		require.ErrorAs(t, err, &perr)
		assert.Equal(t, "23505", perr.Code)
		assert.Equal(t, "postgres: claim key: SQLSTATE 23505 on idempotency_keys_pkey", err.Error(), "no SQL, no values")
		var pgErr *pgconn.PgError
		assert.ErrorAs(t, err, &pgErr, "the driver's error is still there")
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		_, err := db.ClaimKey(ctx, checkoutsvc.ClaimInput{UserID: user, Key: "ik_unknown", Now: time.Now()},
			func(checkoutsvc.Claim) checkoutsvc.Decision {
				return checkoutsvc.Decision{Kind: checkoutsvc.DecideTouch}
			})
		require.Error(t, err)
		assert.Equal(t, "postgres: claim key: idempotency key not found", err.Error())
	})
	t.Run("ErrInvalidUserID", func(t *testing.T) {
		_, err := db.UpsertCart(ctx, "42", nil)
		assert.ErrorIs(t, err, postgres.ErrInvalidUserID)
	})
	t.Run("ErrCanceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := db.Products(ctx)
		assert.ErrorIs(t, err, context.Canceled)
	})
}

func TestApplyEventOneOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, conn := open(t, postgres.Config{})
	user := "5c9d0a44-7b0e-4f5e-8d6a-1c2b3a4d5e6f"
	key, err := checkout.NewKey()
	require.NoError(t, err)
	_, err = db.ClaimKey(ctx, checkoutsvc.ClaimInput{UserID: user, Cart: []checkout.Item{{ProductID: "mug", Quantity: 1}}, Now: time.Now()},
		func(checkoutsvc.Claim) checkoutsvc.Decision {
			return checkoutsvc.Decision{Kind: checkoutsvc.DecideInsert, Record: checkoutsvc.KeyRecord{
				Key: key, UserID: user, PaymentMethod: checkout.MethodCard, Amount: 1200, Currency: "usd", LockToken: "tok",
				Items: []checkout.Line{{ProductID: "mug", Name: "Onecharge Mug", Quantity: 1, UnitAmount: 1200}}}}
		})
	require.NoError(t, err)
	_, err = db.RecordKey(ctx, key, checkoutsvc.RecordInput{Token: "tok", PI: checkoutsvc.PaymentIntent{ID: "pi_one", Status: "processing", Amount: 1200, Currency: "usd"}, Now: time.Now(), Sync: true})
	require.NoError(t, err)

	var g errgroup.Group
	for _, id := range []string{"evt_1", "evt_2", "evt_3", "evt_1", "evt_2", "evt_3"} {
		g.Go(func() error {
			_, err := db.ApplyEvent(ctx, checkoutsvc.Event{ID: id, Type: checkoutsvc.EventPaymentSucceeded,
				PaymentIntentID: "pi_one", Amount: 1200, Currency: "usd", Now: time.Now()})
			return err
		})
	}
	require.NoError(t, g.Wait())
	var orders, events int
	require.NoError(t, conn.QueryRow(ctx, "select count(*) from orders where payment_intent_id = 'pi_one'").Scan(&orders))
	require.NoError(t, conn.QueryRow(ctx, "select count(*) from stripe_events").Scan(&events))
	assert.Equal(t, 1, orders, "exactly one order per PaymentIntent")
	assert.Equal(t, 3, events)
}

func TestRoundTrips(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tracer := &pgtest.RoundTrips{}
	db, _ := open(t, postgres.Config{Tracer: tracer, MaxConns: 1})
	user := "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d"
	key, err := checkout.NewKey()
	require.NoError(t, err)
	lines := []checkout.Line{{ProductID: "tshirt", Name: "Onecharge T-Shirt", Quantity: 2, UnitAmount: 2500}}
	cart := []checkout.Item{{ProductID: "tshirt", Quantity: 2}}
	now := time.Now()
	claims := tracer.Count(func() {
		_, err = db.ClaimKey(ctx, checkoutsvc.ClaimInput{UserID: user, Cart: cart, Now: now},
			func(checkoutsvc.Claim) checkoutsvc.Decision {
				return checkoutsvc.Decision{Kind: checkoutsvc.DecideInsert, Record: checkoutsvc.KeyRecord{
					Key: key, UserID: user, PaymentMethod: checkout.MethodCard, Items: lines, Amount: 5000, Currency: "usd", LockToken: "tok"}}
			})
	})
	require.NoError(t, err)
	t.Logf("ClaimKey (insert): %d round trips: %q", claims, tracer.Queries())
	rec, err := db.RecordKey(ctx, key, checkoutsvc.RecordInput{Token: "tok", PI: checkoutsvc.PaymentIntent{ID: "pi_rt", ClientSecret: "s", Status: "requires_payment_method", Amount: 5000, Currency: "usd"}, Now: now})
	require.NoError(t, err)

	// The first run of a statement also prepares it (pgx caches prepared
	// statements per connection); the figures are those of the steady state.
	for _, name := range []string{"Warm", "Counted"} {
		var lookup, replay, miss int64
		lookup = tracer.Count(func() {
			products, got, err := db.Lookup(ctx, []string{"tshirt", "mug"}, key)
			require.NoError(t, err)
			assert.Len(t, products, 2)
			require.NotNil(t, got)
			assert.Equal(t, rec, *got)
		})
		replay = tracer.Count(func() {
			ok, err := db.ReplayKey(ctx, rec, cart, now)
			require.NoError(t, err)
			assert.True(t, ok)
		})
		miss = tracer.Count(func() {
			other := rec
			other.PIStatus = "succeeded"
			ok, err := db.ReplayKey(ctx, other, cart, now)
			require.NoError(t, err)
			assert.False(t, ok)
		})
		rec.LastUsedAt = now.UTC().Truncate(time.Microsecond)
		if name == "Counted" {
			assert.Equal(t, int64(1), lookup, "Lookup is one round trip")
			assert.Equal(t, int64(1), replay, "ReplayKey is one round trip")
			assert.Equal(t, int64(1), miss, "ReplayKey is one round trip when it misses too")
		}
	}
	noKey := tracer.Count(func() {
		_, got, err := db.Lookup(ctx, []string{"tshirt"}, "")
		require.NoError(t, err)
		assert.Nil(t, got)
	})
	assert.Equal(t, int64(1), noKey)
}
