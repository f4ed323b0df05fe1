//go:build js && wasm

package browser

import (
	"errors"
	"syscall/js"

	"github.com/onecharge/onecharge/shared/keyflow"
)

// await waits for promise p to settle or ctx to end. On ctx's end it calls
// cancel (if any) and returns at once; the callbacks are released when p
// settles, whenever that is.
func await(ctx keyflow.Context, p js.Value, cancel func()) (js.Value, error) {
	type result struct {
		v   js.Value
		err error
	}
	ch := make(chan result, 1) // one of the two callbacks runs, once: never blocks
	onFulfilled := js.FuncOf(func(_ js.Value, args []js.Value) any {
		ch <- result{v: arg(args, 0)}
		return nil
	})
	onRejected := js.FuncOf(func(_ js.Value, args []js.Value) any {
		ch <- result{err: errors.New(describe(arg(args, 0)))}
		return nil
	})
	release := func() {
		onFulfilled.Release()
		onRejected.Release()
	}
	if err := try(func() { p.Call("then", onFulfilled, onRejected) }); err != nil {
		release()
		return js.Undefined(), err
	}
	select {
	case r := <-ch:
		release()
		return r.v, r.err
	case <-ctx.Done():
		if cancel != nil {
			cancel()
		}
		go func() {
			<-ch
			release()
		}()
		return js.Undefined(), ctx.Err()
	}
}

// newPromise returns a Promise settled by run, which runs in its own
// goroutine: a js.FuncOf callback must not block. run returns the value to
// resolve with, or the value to reject with and false. A panic in run
// rejects the Promise instead of stopping the module.
func newPromise(run func() (js.Value, bool)) js.Value {
	executor := js.FuncOf(func(_ js.Value, args []js.Value) any {
		resolve, reject := args[0], args[1]
		go func() {
			defer func() {
				if r := recover(); r != nil {
					reject.Invoke(internalRejection(panicError(r)))
				}
			}()
			if v, ok := run(); ok {
				resolve.Invoke(v)
			} else {
				reject.Invoke(v)
			}
		}()
		return nil
	})
	defer executor.Release() // the executor runs synchronously inside new Promise
	return global.Get("Promise").New(executor)
}

func arg(args []js.Value, i int) js.Value {
	if i < len(args) {
		return args[i]
	}
	return js.Undefined()
}
