//go:build js && wasm

package browser

import (
	"math"
	"syscall/js"

	"github.com/onecharge/onecharge/shared/keyflow"
)

// The module's clock, for keyflow.Client's Sleep and Now: the browser
// build of keyflow has none of its own, because the bundle does not link
// the time package (wasm/size_test.go).

// maxTimeout is the longest delay setTimeout takes, in milliseconds
// (longer ones overflow and fire at once).
const maxTimeout = 1<<31 - 1

// Sleep waits d with setTimeout, or until ctx ends, as keyflow's default
// Sleep does natively; it fits keyflow.Client.Sleep. Delays are rounded up
// to whole milliseconds, setTimeout's unit.
func Sleep(ctx keyflow.Context, d keyflow.Duration) error {
	ms := math.Ceil(float64(d) / float64(keyflow.Millisecond))
	if ms <= 0 {
		return ctx.Err()
	}
	for ; ms > 0; ms -= maxTimeout {
		if err := timeout(ctx, min(ms, maxTimeout)); err != nil {
			return err
		}
	}
	return nil
}

// timeout waits ms milliseconds (at most maxTimeout) or until ctx ends.
func timeout(ctx keyflow.Context, ms float64) error {
	fired := make(chan struct{}, 1) // the callback runs once: never blocks
	callback := js.FuncOf(func(js.Value, []js.Value) any {
		fired <- struct{}{}
		return nil
	})
	defer callback.Release()
	var id js.Value
	if err := try(func() { id = global.Call("setTimeout", callback, ms) }); err != nil {
		return err
	}
	select {
	case <-fired:
		return nil
	case <-ctx.Done():
		// Before the callback is released: it cannot run after this.
		_ = try(func() { global.Call("clearTimeout", id) })
		return ctx.Err()
	}
}

// Now returns the time in nanoseconds since 1970, from Date.now() (whole
// milliseconds); it fits keyflow.Client.Now.
func Now() int64 { return nowMillis() * int64(keyflow.Millisecond) }

// nowMillis returns Date.now(): the time in milliseconds since 1970.
func nowMillis() int64 { return int64(dateJ.Call("now").Float()) }
