// Package checkout is onecharge's domain: the wire types of the HTTP API,
// the validation rules for orders, the error codes with their canonical
// messages and HTTP statuses, and the idempotency key format.
//
// It imports the standard library only, because it is compiled twice: into
// the Go backend and into the browser's WebAssembly module, so that client
// and server agree on every rule by construction.
//
// # The browser build
//
// The WebAssembly bundle has a size budget (700 KB brotli), so the code it
// links avoids encoding/json, fmt, reflect and crypto/rand, which together
// cost more than the rest of the bundle. Messages are built with strconv
// (NewError), and the bodies the browser sends and reads go through the
// small JSON codec of jsonwire.go and codec.go: EncodeValidateRequest,
// ParseValidateRequest (the server's request rules), DecodeValidateResponse,
// DecodeErrorBody and EncodeValidateResponse. Differential tests hold them
// to encoding/json's results.
//
// Four files are native-only (//go:build !js || workers: the server
// running as a Cloudflare Worker is a js build too), for the server:
//   - cart.go: Cart and CartResponse, whose time.Time would link the time
//     package (about 34 KB brotli) into the bundle, which has no cart.
//   - decode.go: Decode and DecodeValidateRequest, on encoding/json. Merely
//     compiling them into the js build adds about 26 KB (brotli) to the
//     bundle, unreferenced.
//   - errorf.go: Errorf, a NewError with a fmt format.
//   - key_rand.go: NewKey, on crypto/rand (which imports math/big and fmt).
package checkout
