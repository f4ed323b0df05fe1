//go:build js && !workers

package keyflow

// The browser build (GOOS=js without the workers tag) links neither the
// time package nor context (about 55 KB brotli together), so it has no
// clock of its own: the module sets Client.Sleep and Client.Now (wasm/browser
// does, with setTimeout and Date.now). native.go has the defaults
// elsewhere.

func sleep(Context, Duration) error {
	panic("keyflow: Client.Sleep is not set; the browser build has no timer of its own")
}

func now() int64 {
	panic("keyflow: Client.Now is not set; the browser build has no clock of its own")
}

// isCanceled is false: without the context package linked, no error is
// one of its errors.
func isCanceled(error) bool { return false }
