package keyflow

import (
	"context"
	"math/rand/v2"

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
	Lock(ctx context.Context) (unlock func(), err error)
}

// NonceHeader is the request header that carries the client nonce of a
// first validation (CONTRACT.md section 5, rule 3).
const NonceHeader = "Idempotency-Key"

// NonceBytes is the number of random bytes of a nonce from NewNonce.
const NonceBytes = 16

// NewNonce returns a fresh first-call nonce: NonceBytes random bytes from
// math/rand/v2 (the runtime's ChaCha8, seeded from the system's entropy),
// in lower-case hex: 32 characters. The nonce is no secret (the server binds
// it to the shopper's session), it only has to be unique; the browser
// build supplies one from crypto.getRandomValues instead (Client.Nonce),
// because crypto/rand would cost the bundle about 55 KB.
func NewNonce() string {
	var b [NonceBytes]byte
	for i := 0; i < NonceBytes; i += 8 {
		u := rand.Uint64()
		for j := range 8 {
			b[i+j] = byte(u >> (8 * j))
		}
	}
	return NonceFromBytes(b[:])
}

// NonceFromBytes encodes random bytes as a nonce, in lower-case hex (by
// hand: encoding/hex would link its error formatting into the bundle).
func NonceFromBytes(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i], out[2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(out)
}

// lock takes this Client's turn and then its Locker, if any. It returns
// the function that releases both, or a cancellation Rejection when ctx
// ended first.
func (c *Client) lock(ctx context.Context) (unlock func(), err error) {
	select {
	case c.turn <- struct{}{}:
	case <-ctx.Done():
		return nil, canceledRejection(ctx.Err())
	}
	release := func() { <-c.turn }
	if c.Locker == nil {
		return release, nil
	}
	unlockShared, err := c.Locker.Lock(ctx)
	switch {
	case err == nil:
		return func() { unlockShared(); release() }, nil
	case ctx.Err() != nil:
		release()
		return nil, canceledRejection(ctx.Err())
	}
	c.log("onecharge: the lock shared with other tabs is unavailable (" + err.Error() + "); validations are serialized in this tab only")
	return release, nil
}

// nonce returns a fresh nonce from c.Nonce, or from NewNonce when that is
// unset or returns something that is not a valid nonce.
func (c *Client) nonce() string {
	if c.Nonce != nil {
		if n := c.Nonce(); checkout.ValidateNonce(n) == nil {
			return n
		}
	}
	return NewNonce()
}
