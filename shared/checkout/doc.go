// Package checkout is onecharge's domain: the wire types of the HTTP API,
// the validation rules for orders, the error codes with their canonical
// messages and HTTP statuses, and the idempotency key format.
//
// It imports the standard library only, because it is compiled twice: into
// the Go backend and into the browser's WebAssembly module, so that client
// and server agree on every rule by construction.
package checkout
