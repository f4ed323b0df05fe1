package keyflow

import (
	"math/rand/v2"
	"strconv"

	"github.com/onecharge/onecharge/shared/checkout"
)

// Locker serializes validations across the execution contexts that share
// one Store: the tabs of an origin sharing localStorage (the browser's
// Locker is the Web Locks API). The Client takes it after its own turn and
// before it reads the stored key, and holds it until the response's key is
// stored, so a second tab reads the key the first one stored instead of
// starting a second checkout.
type Locker interface {
	// Lock waits until the lock is held or ctx ends, and returns the
	// function that releases it; the Client calls that function exactly
	// once. An error means the lock was not taken: with ctx ended the
	// validation is canceled, otherwise it goes on without the lock.
	Lock(ctx Context) (unlock func(), err error)
}

// NonceHeader is the request header that carries the client nonce of a
// first validation (CONTRACT.md section 5, rule 3).
const NonceHeader = checkout.NonceHeader

// NewNonce returns a fresh first-call nonce: two 64-bit numbers from
// math/rand/v2 (the runtime's ChaCha8, seeded from the system's entropy;
// in the browser, from crypto.getRandomValues) in base 36, joined by a
// dot: 128 random bits in at most 27 characters. The nonce is no secret
// (the server binds it to the shopper's session), it only has to be
// unique; crypto/rand would cost the bundle about 55 KB.
func NewNonce() string {
	return strconv.FormatUint(rand.Uint64(), 36) + "." + strconv.FormatUint(rand.Uint64(), 36)
}

// Board is implemented by a Locker whose lock manager also keeps what the
// holders of the lock post, consistently with the lock, where the shared
// Store may not be: a tab's localStorage can show a key another tab stored
// only some milliseconds after that tab released the lock (Chromium
// propagates localStorage between processes asynchronously), so a tab
// taking the lock at once would read no key and start a second checkout.
// The Client posts every change of the stored key it makes (holding the
// lock, before releasing it), and when, holding the lock, its Store has no
// key, it sends the key last posted instead.
type Board interface {
	// Post records key ("" for none) as the stored key for a while (the
	// browser's board: 10 seconds, far longer than localStorage takes to
	// reach the other tabs), and returns once Latest, in any context,
	// would see it.
	Post(ctx Context, key string) error
	// Latest returns the key posted last ("" when that was a clear), or
	// false when nothing was posted recently.
	Latest(ctx Context) (key string, ok bool)
}

// lock takes this Client's turn and then its Locker, if any. It returns
// the function that releases both and the Locker's Board when the Locker
// was taken and has one, or a cancellation Rejection when ctx ended first.
func (c *Client) lock(ctx Context) (unlock func(), board Board, err error) {
	select {
	case c.turn <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, canceledRejection(ctx.Err())
	}
	release := func() { <-c.turn }
	if c.Locker == nil {
		return release, nil, nil
	}
	unlockShared, err := c.Locker.Lock(ctx)
	switch {
	case err == nil:
		board, _ = c.Locker.(Board)
		return func() { unlockShared(); release() }, board, nil
	case ctx.Err() != nil:
		release()
		return nil, nil, canceledRejection(ctx.Err())
	}
	c.log("onecharge: the lock shared with other tabs is unavailable (" + err.Error() + "); validations are serialized in this tab only")
	return release, nil, nil
}

// postedKey returns the key last posted on board, when it is a well-formed
// key: the Store had none, but another Client may have stored one that the
// Store does not show yet.
func (c *Client) postedKey(ctx Context, board Board) string {
	key, ok := board.Latest(ctx)
	if !ok || key == "" {
		return ""
	}
	if _, err := checkout.ParseKey(key); err != nil {
		return ""
	}
	c.log("onecharge: another tab stored a key that has not reached this tab's storage yet; sending it")
	return key
}

// post records the stored key on board.
func (c *Client) post(ctx Context, board Board) {
	key, _ := c.store.Get()
	if err := board.Post(ctx, key); err != nil {
		c.log("onecharge: the stored key could not be posted to the other tabs: " + err.Error())
	}
}

// posted posts key after a change made outside a validation (SetKey,
// ClearKey, a payment's end), in the background: those calls return at
// once, and hold no lock.
func (c *Client) posted(key string) {
	board, ok := c.Locker.(Board)
	if !ok {
		return
	}
	go func() {
		if err := board.Post(Background(), key); err != nil {
			c.log("onecharge: the stored key could not be posted to the other tabs: " + err.Error())
		}
	}()
}

// nonce returns a fresh nonce from c.Nonce, or from NewNonce when that is
// unset or returns "".
func (c *Client) nonce() string {
	if c.Nonce != nil {
		if n := c.Nonce(); n != "" {
			return n
		}
	}
	return NewNonce()
}
