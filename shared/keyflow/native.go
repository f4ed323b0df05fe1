//go:build !js || workers

package keyflow

import (
	"context"
	"errors"
	"time"
)

// The parts of keyflow that use the time and context packages, outside the
// browser build (bundle.go): the default Sleep and Now, and the
// conversions to and from the standard types.

// sleep waits d or until ctx ends: the default Sleep.
func sleep(ctx Context, d Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(time.Duration(d))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// now returns the current time in nanoseconds since 1970: the default Now.
func now() int64 { return time.Now().UnixNano() }

// isCanceled reports whether err is a context's error: context.Canceled
// or context.DeadlineExceeded.
func isCanceled(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// StdContext returns ctx, a Context the Client passed to a Transport,
// Locker, Board or Sleep, as a context.Context, for passing on to the
// standard library (net/http): ctx itself when it is one (the Context given
// to ValidateCartItems), otherwise a context.Context that ends when ctx
// does, with its Err, and has no deadline or values.
func StdContext(ctx Context) context.Context {
	if c, ok := ctx.(context.Context); ok {
		return c
	}
	return stdContext{ctx}
}

type stdContext struct{ Context }

func (stdContext) Deadline() (time.Time, bool) { return time.Time{}, false }
func (stdContext) Value(any) any               { return nil }
