package checkoutsvc

import (
	"context"
	"errors"
	"time"
)

// Defaults of Reaper.
const (
	DefaultReapInterval = 5 * time.Minute
	DefaultRetention    = 720 * time.Hour
	// MinRetention: Stripe retries a webhook for three days, so an event
	// id must be remembered at least that long to be applied once.
	MinRetention = 72 * time.Hour
	// DefaultReapBatch bounds the rows one pass looks at or deletes per
	// kind, so that no pass holds the database or Stripe for long.
	DefaultReapBatch = 500
)

// Reaper cleans up behind abandoned checkouts (contract section 9), on one
// replica at a time (Store.TryReaperLock):
//   - it cancels at Stripe the PaymentIntents of keys unused for KeyTTL
//     that can still be paid, after asking Stripe: never one that
//     succeeded, is processing or waits on a 3-D Secure challenge
//     (requires_action). A rotated key's PaymentIntent was canceled when
//     it was rotated; the reaper catches the ones a crash left behind. A
//     key in use by a live tab is not idle, so it is never reaped;
//   - it expires the open Checkout Sessions that a newer one replaced (a
//     new checkout expires them already; this catches the failures);
//   - it deletes key rows, aliases, applied event ids and closed sessions
//     older than Retention. Orders are kept.
//
// Each key is held by a lease while the reaper calls Stripe about it, as a
// request would hold it, so a validation arriving meanwhile waits (409
// request_in_progress) instead of racing the cancel.
type Reaper struct {
	Service   *Service
	Interval  time.Duration // default DefaultReapInterval
	Retention time.Duration // default DefaultRetention; never under MinRetention
	Batch     int           // default DefaultReapBatch
}

// ReapReport says what one pass did.
type ReapReport struct {
	Ran      bool // false: another replica holds the reaper lock
	Canceled int  // PaymentIntents canceled at Stripe
	Settled  int  // keys found paid, processing or in a challenge: left alone
	Expired  int  // Checkout Sessions expired at Stripe
	Deleted  Deleted
	Errors   int
}

func (r *Reaper) defaults() {
	if r.Interval <= 0 {
		r.Interval = DefaultReapInterval
	}
	if r.Retention <= 0 {
		r.Retention = DefaultRetention
	}
	if r.Retention < MinRetention {
		r.Retention = MinRetention
	}
	if r.Batch <= 0 {
		r.Batch = DefaultReapBatch
	}
}

// Run reaps every Interval until ctx ends.
func (r *Reaper) Run(ctx context.Context) {
	r.defaults()
	t := time.NewTicker(r.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rep, err := r.Once(ctx)
		log := r.Service.Logger
		switch {
		case err != nil:
			log.Error("reaper pass failed", "err", err)
		case rep.Ran && (rep.Canceled+rep.Expired+rep.Deleted.Keys+rep.Deleted.Events+rep.Errors > 0):
			log.Info("reaper pass", "canceled", rep.Canceled, "settled", rep.Settled, "expired_sessions", rep.Expired,
				"deleted_keys", rep.Deleted.Keys, "deleted_aliases", rep.Deleted.Aliases, "deleted_events", rep.Deleted.Events,
				"deleted_sessions", rep.Deleted.Sessions, "errors", rep.Errors)
		}
	}
}

// Once runs one pass, if this replica gets the reaper lock.
func (r *Reaper) Once(ctx context.Context) (ReapReport, error) {
	r.defaults()
	s := r.Service
	release, ok, err := s.Store.TryReaperLock(ctx)
	if err != nil || !ok {
		return ReapReport{}, err
	}
	defer release()
	rep := ReapReport{Ran: true}
	now := s.Now()

	keys, err := s.Store.ReapableKeys(ctx, now.Add(-s.KeyTTL), now, r.Batch)
	if err != nil {
		return rep, err
	}
	for _, k := range keys {
		switch err := r.reapKey(ctx, k); {
		case err == nil:
			rep.Canceled++
		case errors.Is(err, errSettled):
			rep.Settled++
		case errors.Is(err, errNotReapable):
		default:
			rep.Errors++
			s.Logger.Warn("reaper: cancel payment intent", "payment_intent", k.PaymentIntentID, "err", err)
		}
	}

	sessions, err := s.Store.ReplacedSessions(ctx, r.Batch)
	if err != nil {
		return rep, err
	}
	closed := map[string]string{}
	for _, cs := range sessions {
		start := time.Now()
		status, err := s.Gateway.ExpireCheckoutSession(ctx, cs.ID)
		s.stripeCall("expire_checkout_session", start, err)
		switch {
		case err == nil:
			closed[cs.ID] = status
			rep.Expired++
		case errors.Is(err, ErrUnexpectedState) && status != "" && status != SessionOpen:
			closed[cs.ID] = status
		case errors.Is(err, ErrNotFound):
			closed[cs.ID] = SessionExpired
		default:
			rep.Errors++
			s.Logger.Warn("reaper: expire checkout session", "session", cs.ID, "err", err)
		}
	}
	if err := s.Store.CloseSessions(ctx, closed); err != nil {
		return rep, err
	}

	if rep.Deleted, err = s.Store.DeleteBefore(ctx, now.Add(-r.Retention), now, r.Batch); err != nil {
		return rep, err
	}
	s.Metrics.ReaperAction("cancel_payment_intent", rep.Canceled)
	s.Metrics.ReaperAction("expire_checkout_session", rep.Expired)
	s.Metrics.ReaperAction("delete_keys", rep.Deleted.Keys)
	s.Metrics.ReaperAction("delete_events", rep.Deleted.Events)
	s.Metrics.ReaperAction("error", rep.Errors)
	return rep, nil
}

var (
	errSettled     = errors.New("the payment intent is paid, under way or in a challenge")
	errNotReapable = errors.New("the key is in use again")
)

// reapKey cancels k's PaymentIntent at Stripe, holding the key meanwhile,
// unless Stripe says it must be left alone.
func (r *Reaper) reapKey(ctx context.Context, k KeyRecord) error {
	s := r.Service
	now := s.Now()
	token := newToken()
	dec, err := s.Store.ClaimKey(ctx, ClaimInput{UserID: k.UserID, Key: k.Key, Now: now}, func(c Claim) Decision {
		cur := c.Cur
		if c.Key != k.Key || cur == nil || cur.Held(now) || cur.PaymentIntentID != k.PaymentIntentID ||
			StatusRank(cur.PIStatus) != 0 || cur.PIStatus == StatusRequiresAction ||
			now.Sub(cur.LastUsedAt) <= s.KeyTTL {
			return Decision{Kind: DecideNone}
		}
		rec := *cur
		rec.LockToken, rec.LeaseUntil = token, now.Add(s.LockLease)
		return Decision{Kind: DecideLock, Record: rec, Outcome: OutcomeCancel}
	})
	if err != nil {
		return err
	}
	if dec.Kind != DecideLock {
		return errNotReapable
	}
	rec := dec.Record
	h := s.hold(ctx, Lease{Kind: LeaseKey, ID: rec.Key, Token: token}, rec.LeaseUntil)
	defer h.stop()
	// Ask first: a shopper may be in a 3-D Secure challenge on an old
	// tab, which the stored status does not show.
	pi, err := s.getIntent(h.ctx, h, rec.PaymentIntentID)
	if err == nil && pi.Status != StatusCanceled && StatusRank(pi.Status) == 0 && pi.Status != StatusRequiresAction {
		pi, err = s.cancelIntent(h.ctx, h, rec.PaymentIntentID, StripeCancelKey(rec.Key))
		if errors.Is(err, ErrUnexpectedState) {
			pi, err = s.getIntent(h.ctx, h, rec.PaymentIntentID)
		}
	}
	switch {
	case errors.Is(err, ErrNotFound):
		pi, err = PaymentIntent{ID: rec.PaymentIntentID, Status: StatusCanceled, Amount: rec.PIAmount, Currency: rec.PICurrency, ClientSecret: rec.ClientSecret}, nil
	case err != nil:
		s.release(ctx, rec, false)
		return err
	}
	// What Stripe said is recorded (Sync: the key is not used by it), so
	// that a paid, processing or challenged intent is not asked about
	// again on every pass.
	if _, err := s.Store.RecordKey(ctx, rec.Key, RecordInput{Token: token, PI: pi, Now: s.Now(), Sync: true}); err != nil {
		s.release(ctx, rec, false)
		return err
	}
	if pi.Status != StatusCanceled {
		return errSettled // paid, under way, or waiting on the shopper
	}
	s.Logger.Info("reaper: canceled the payment intent of an idle key", "payment_intent", pi.ID)
	return nil
}
