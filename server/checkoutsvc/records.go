package checkoutsvc

import (
	"errors"
	"time"

	"github.com/onecharge/onecharge/shared/checkout"
)

// The rules both stores apply inside their transactions, as pure
// functions, so that memory and PostgreSQL cannot drift apart.

// ApplyRecord returns the row RecordKey stores for row (read with its lock
// held) and in, and whether in.Cart is to be stored as the user's cart.
// It fails with ErrLeaseLost when in.Token no longer holds the key.
func ApplyRecord(row KeyRecord, in RecordInput) (KeyRecord, bool, error) {
	if in.Token == "" || row.LockToken != in.Token {
		return row, false, ErrLeaseLost
	}
	if !in.Sync && (Completed(row.PIStatus) || Completed(ForwardStatus(row.PIStatus, in.PI.Status))) {
		// Paid or under way (a webhook won the race, or Stripe says so):
		// the request is refused and writes nothing but its release.
		row.LockToken, row.LeaseUntil = "", time.Time{}
		return row, false, nil
	}
	if pi := in.PI; pi.ID != "" {
		if row.PaymentIntentID != "" && row.PaymentIntentID != pi.ID {
			return row, false, errors.New("record key: the key is bound to another PaymentIntent")
		}
		row.PaymentIntentID = pi.ID
		if pi.ClientSecret != "" {
			row.ClientSecret = pi.ClientSecret
		}
		row.PIAmount, row.PICurrency = pi.Amount, pi.Currency
		row.PIStatus = ForwardStatus(row.PIStatus, pi.Status)
		row.SyncedAt = in.Now
	}
	storeCart := false
	if StatusRank(row.PIStatus) <= 0 && !in.Sync {
		if in.Order != nil {
			row.Items = append([]checkout.Line{}, in.Order.Items...)
			row.Amount, row.Currency = in.Order.Amount, in.Order.Currency
			row.Pending = nil
		}
		storeCart = in.Cart != nil
		row.LastUsedAt = in.Now
	}
	row.LockToken, row.LeaseUntil = "", time.Time{}
	return row, storeCart, nil
}

// PaidOrder returns what a payment of amount in currency records for the
// key row: the bound order when the amounts match, else the pending one
// (an update Stripe applied before we learned it), else needs_review with
// the bound lines and the amount paid (I1).
func PaidOrder(row *KeyRecord, amount int64, currency string) (status string, items []checkout.Line) {
	switch {
	case amount == row.Amount && currency == row.Currency:
		return checkout.OrderPaid, row.Items
	case row.Pending != nil && amount == row.Pending.Amount && currency == row.Pending.Currency:
		return checkout.OrderPaid, row.Pending.Items
	}
	return checkout.OrderNeedsReview, row.Items
}

// SessionOrder is PaidOrder for a stored Checkout Session.
func SessionOrder(s *CheckoutSession, amount int64, currency string) string {
	if amount == s.Amount && currency == s.Currency {
		return checkout.OrderPaid
	}
	return checkout.OrderNeedsReview
}
