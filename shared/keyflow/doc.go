// Package keyflow is the client side of onecharge's idempotency-key
// lifecycle (CONTRACT.md section 6): it sends the stored key with every
// validation, retries transient failures with the same key, stores the
// key the server issues (overwriting it on rotation), clears it and starts
// over once when the server says the payment already completed, and clears
// it when a payment succeeds.
//
// It imports the standard library and shared/checkout only and knows
// nothing of browsers: storage and HTTP are the Store and Transport
// interfaces. The WebAssembly module (wasm/browser) adapts them to
// localStorage and fetch; tests use MemoryStore and a scripted Transport.
//
// Because it is linked into the WebAssembly bundle, it avoids the standard
// packages that would blow the bundle's size budget: bodies are encoded and
// decoded with checkout's JSON codec rather than encoding/json, texts are
// built with strconv rather than fmt (Client.Log receives finished lines),
// the redirect URL's query is read by hand rather than with net/url, and
// Retry-After dates are parsed by hand rather than with time.Parse. Its
// browser build imports neither time nor context: lengths of time are its
// own Duration (nanoseconds, like time.Duration), cancellation is its own
// Context interface (which every context.Context satisfies), and the clock
// (Client.Sleep and Client.Now) is the module's, as the build has none of
// its own (native.go holds the defaults elsewhere).
//
// # Retries
//
// Network errors (the Transport returned an error), every 5xx (including
// 502 payment_unavailable and payment_intent_failed, which the contract
// lists among the retried 5xx) and 409 request_in_progress are retried
// with the same key, up to Client.MaxAttempts requests in all. Between
// attempts the client waits the server's Retry-After (delta seconds or an
// HTTP-date in any of the three forms of RFC 9110 section 5.6.7; an
// unreadable value counts as absent) when one is given, otherwise a "full
// jitter" exponential backoff: a uniformly random duration in [0,
// min(MaxDelay, BaseDelay·2^(n-1))) before retry n. A Retry-After longer than
// MaxRetryAfter ends the retries instead of hanging the checkout. Every
// other 4xx is answered at once, without a retry.
//
// # Keys
//
// The Store is the only source of the key: the IdempotencyKey field of the
// request passed to ValidateCartItems is ignored. A stored value that is
// not a well-formed key (checkout.ParseKey) is dropped rather than sent, so
// a corrupted storage entry cannot make every validation fail with 400.
// Requests are checked with the same rules the server applies
// (checkout.ValidateRequest.Validate) before anything is sent; a request
// the server would reject with 400 or 422 is rejected locally with the
// same code and status.
//
// # First validations
//
// A validation without a key (CARD and CARD_TEST) carries a fresh random
// nonce in its Idempotency-Key header, the same on each of its retries
// (rule 3 of CONTRACT.md section 5): when the server issued a key but the
// response was lost, the retry gets that key and its PaymentIntent instead
// of a second checkout. The retry after payment_already_completed is a new
// first validation, with a new nonce. Client.Nonce is the nonce source
// (default NewNonce: math/rand/v2, whose runtime generator the browser
// seeds from crypto.getRandomValues; tests make it deterministic).
//
// # Concurrency
//
// Validations of one Client take turns: a double-clicked "Pay" button sends
// the key the first validation stored instead of starting a second session
// (and a second PaymentIntent) without a key. With a Locker shared by
// several Clients on one Store (the browser's tabs, through the Web Locks
// API), their validations take turns too; each reads the stored key only
// once it holds the lock, so two tabs checking out at once, or both
// learning payment_already_completed, make one checkout.
//
// A Store shared that way need not be consistent with the lock: Chromium
// hands a localStorage write to the origin's other tab processes
// asynchronously, so the tab granted the lock next may still read no key.
// A Locker that is also a Board closes that gap: the Client posts every
// change of the stored key it makes (under the lock, before releasing it;
// SetKey, ClearKey and the payment calls in the background), and, holding
// the lock with no key in its Store, sends the key last posted; so does
// the retry after payment_already_completed, when the key last posted is
// another one (the other tab started the new checkout already). A key
// found in the Store is always sent as it is: a stale one is resolved by
// the server (a rotated key's alias, payment_already_completed).
package keyflow
