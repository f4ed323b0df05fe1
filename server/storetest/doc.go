// Package storetest is the conformance suite of checkoutsvc.Store: one set
// of tests that every store (server/memstore, server/postgres) passes, so
// the embedded default and the production store behave the same.
//
// A store's own test calls [Run] with a constructor of empty stores:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) checkoutsvc.Store { return memstore.New() })
//	}
//
// The suite pins down, beyond the doc comments of checkoutsvc.Store:
//   - the demo catalog itself ([Catalog]);
//   - ReplayKey matches only an unlocked row whose user, method,
//     PaymentIntent (id, status, amount, currency) and order snapshot
//     (items, amount, currency) all equal want's, and writes nothing,
//     not even the cart, otherwise;
//   - ClaimKey writes nothing, not even the cart, when it fails (for
//     example a Lock decision for a key that does not exist);
//   - RecordPaymentIntent keeps a terminal status (succeeded, canceled) of
//     the same PaymentIntent, and fails for an unknown key; ReleaseKey of an
//     unknown key is not an error;
//   - GetOrder's statuses: "paid" when an order was recorded or the
//     PaymentIntent succeeded; "failed" when it was canceled, or a webhook
//     left it in requires_payment_method (payment_failed); "pending"
//     otherwise;
//   - a user id that is not a UUID is an error;
//   - times come back in UTC, truncated to microseconds.
package storetest
