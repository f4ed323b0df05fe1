//go:build js && wasm

package browser

import (
	"context"
	"errors"
	"syscall/js"
)

// LockName is the Web Lock that serializes validations across the tabs
// (and workers) of an origin: they share the localStorage entry it guards.
const LockName = "onecharge:" + StorageKey

// WebLocks is a keyflow.Locker over the Web Locks API (navigator.locks):
// the exclusive lock Name, shared by every tab of the origin. A lock is
// held while the Promise returned by its callback is pending; unlocking
// resolves that Promise. The browser releases the locks of a tab that
// closes or navigates away.
type WebLocks struct {
	Name    string
	manager js.Value
}

// NewWebLocks returns the Locker over navigator.locks, or false where the
// API is missing (older browsers, pages not in a secure context).
func NewWebLocks() (*WebLocks, bool) {
	nav, err := get(global, "navigator")
	var locks, request js.Value
	if err == nil && !isNullish(nav) {
		locks, err = get(nav, "locks")
	}
	if err == nil && !isNullish(locks) {
		request, err = get(locks, "request")
	}
	return &WebLocks{Name: LockName, manager: locks}, err == nil && request.Type() == js.TypeFunction
}

// Lock implements keyflow.Locker. The lock is held while the Promise
// returned by its callback is pending: that Promise is made first, and
// unlocking resolves it. Nothing blocks inside a callback from JavaScript:
// the lock's callback (granted) and the request's rejection handler
// (failed: navigator.locks.request rejects, as in an opaque origin) signal
// the waiting goroutine through a buffered channel. When ctx ends first, a
// lock granted later is released at once.
func (l *WebLocks) Lock(ctx context.Context) (func(), error) {
	var resolve js.Value
	executor := js.FuncOf(func(_ js.Value, args []js.Value) any {
		resolve = arg(args, 0)
		return nil
	})
	held := global.Get("Promise").New(executor) // runs executor at once
	executor.Release()
	ch := make(chan error, 2) // nil: granted
	granted := js.FuncOf(func(js.Value, []js.Value) any {
		ch <- nil
		return held
	})
	failed := js.FuncOf(func(_ js.Value, args []js.Value) any {
		ch <- errors.New(describe(arg(args, 0)))
		return nil
	})
	// Called once the lock is granted or the request failed: neither
	// function is called again (held never rejects).
	done := func() {
		granted.Release()
		failed.Release()
	}
	if err := try(func() { l.manager.Call("request", l.Name, granted).Call("catch", failed) }); err != nil {
		done()
		return nil, err
	}
	select {
	case err := <-ch:
		done()
		if err != nil {
			return nil, err
		}
		return func() { resolve.Invoke() }, nil
	case <-ctx.Done():
		go func() {
			if <-ch == nil {
				resolve.Invoke()
			}
			done()
		}()
		return nil, ctx.Err()
	}
}
