//go:build js && wasm

package browser

import (
	"errors"
	"strconv"
	"strings"
	"syscall/js"

	"github.com/onecharge/onecharge/shared/keyflow"
)

// LockName is the Web Lock that serializes validations across the tabs
// (and workers) of an origin: they share the localStorage entry it guards.
const LockName = "onecharge:" + StorageKey

// PostTTL is how long a post stays on the board: far longer than
// localStorage takes to reach the other tabs.
const PostTTL = 10 * keyflow.Second

const postPrefix = LockName + " posted "

// WebLocks is a keyflow.Locker over the Web Locks API (navigator.locks):
// the exclusive lock Name, shared by every tab of the origin. A lock is
// held while the Promise returned by its callback is pending; unlocking
// resolves that Promise. The browser releases the locks of a tab that
// closes or navigates away.
//
// It is a keyflow.Board too. Chromium propagates localStorage between the
// processes of an origin's tabs asynchronously: a tab granted the lock as
// another releases it reads the entry as it was some milliseconds before
// (measured in headless Chromium 156: 124 stale reads in 300 such
// hand-overs). The lock manager is
// consistent: a lock held by a tab before it released the main lock is in
// every later navigator.locks.query(). So a post is a shared lock, held
// for PostTTL, whose name carries the key: Name, " posted ", the time in
// milliseconds since 1970 (13 digits, so that names sort by time), ":"
// and the key ("" for none).
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
func (l *WebLocks) Lock(ctx keyflow.Context) (func(), error) {
	release, err := l.lock(ctx, l.Name, "exclusive")
	if err != nil {
		return nil, err
	}
	return func() { release.Invoke() }, nil
}

// lock takes the lock name in mode ("exclusive" or "shared") and returns
// the function that releases it (a JavaScript function).
func (l *WebLocks) lock(ctx keyflow.Context, name, mode string) (js.Value, error) {
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
	opts := newObject()
	opts.Set("mode", mode)
	if err := try(func() { l.manager.Call("request", name, opts, granted).Call("catch", failed) }); err != nil {
		done()
		return js.Value{}, err
	}
	select {
	case err := <-ch:
		done()
		return resolve, err
	case <-ctx.Done():
		go func() {
			if <-ch == nil {
				resolve.Invoke()
			}
			done()
		}()
		return js.Value{}, ctx.Err()
	}
}

// Post implements keyflow.Board.
func (l *WebLocks) Post(ctx keyflow.Context, key string) error {
	// Shared: two posts of one key in one millisecond have one name.
	release, err := l.lock(ctx, postPrefix+strconv.FormatInt(nowMillis(), 10)+":"+key, "shared")
	if err == nil {
		err = try(func() { global.Call("setTimeout", release, int64(PostTTL/keyflow.Millisecond)) })
	}
	return err
}

// Latest implements keyflow.Board: the key of the newest post held.
func (l *WebLocks) Latest(ctx keyflow.Context) (string, bool) {
	var query js.Value
	if try(func() { query = l.manager.Call("query") }) != nil {
		return "", false
	}
	snapshot, err := await(ctx, query, nil)
	latest := ""
	if err == nil {
		_ = try(func() {
			held := snapshot.Get("held")
			for i, n := 0, held.Length(); i < n; i++ {
				if name := held.Index(i).Get("name").String(); strings.HasPrefix(name, postPrefix) && name > latest {
					latest = name
				}
			}
		})
	}
	_, key, ok := strings.Cut(strings.TrimPrefix(latest, postPrefix), ":")
	return key, ok
}
