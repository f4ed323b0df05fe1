//go:build js && wasm

// Package browser adapts keyflow to the browser: a Store over localStorage
// (whose changes, here or in another tab, are dispatched as the window
// event "onecharge:keychange"), a Transport over fetch, a Locker and Board
// over the Web Locks API (validations take turns across the origin's
// tabs), the clock keyflow's browser build lacks (Sleep over setTimeout,
// Now over Date.now), and the JavaScript API installed on
// globalThis.onecharge (CONTRACT.md section 6). It is the only package of
// the module that imports syscall/js.
//
// Every call into JavaScript that may throw goes through Reflect (whose
// calls syscall/js guards), so a throwing getter such as a blocked
// localStorage becomes a Go error instead of tearing down the runtime.
// Asynchronous calls return Promises; callbacks never block: the work runs
// in a goroutine, and per-call js.Funcs are released once they have run.
//
// Requests and responses cross the boundary as JSON text (JSON.stringify
// and JSON.parse on the JavaScript side, checkout's codec on the Go side):
// the bundle must not link encoding/json or fmt, nor time or context
// (wasm/size_test.go checks this and the bundle's size budget).
package browser
