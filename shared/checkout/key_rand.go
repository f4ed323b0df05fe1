//go:build !js || workers

package checkout

import "crypto/rand"

// NewKey returns a fresh idempotency key read from crypto/rand.
//
// Only the server issues keys, so NewKey exists in native builds only:
// crypto/rand imports math/big and with it fmt and reflect, which made
// the browser's WebAssembly bundle 55 KB (brotli) larger for nothing.
func NewKey() (string, error) { return NewKeyFrom(rand.Reader) }
