//go:build !js || workers

package keyflow_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/onecharge/onecharge/shared/checkout"
	"github.com/onecharge/onecharge/shared/keyflow"
)

// The defaults that exist outside the browser build only (native.go).

func TestDefaultSleepHonoursDeadline(t *testing.T) {
	h := newHarness(t, keyA, fail(503, checkout.CodeInternal, map[string]string{"retry-after": "20"}), ok(checkout.MethodCard, keyA))
	h.client.Sleep = nil // the default timer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := h.client.ValidateCartItems(ctx, request(checkout.MethodCard))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want DeadlineExceeded", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("took %v", el)
	}
}

func TestDefaultSleepWaits(t *testing.T) {
	h := newHarness(t, keyA, netErr(), ok(checkout.MethodCard, keyA))
	h.client.Sleep = nil // the default timer
	h.client.BaseDelay = 40 * keyflow.Millisecond
	h.client.Rand = func() float64 { return 0.5 } // 20ms
	start := time.Now()
	if _, err := h.client.ValidateCartItems(context.Background(), request(checkout.MethodCard)); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 20*time.Millisecond {
		t.Errorf("the backoff took %v, want 20ms", el)
	}
}

// TestDefaultNow: Retry-After dates are read against the system clock.
func TestDefaultNow(t *testing.T) {
	date := func(d time.Duration) map[string]string {
		return map[string]string{"retry-after": time.Now().Add(d).UTC().Format("Mon, 02 Jan 2006 15:04:05 GMT")}
	}
	h := newHarness(t, keyA, fail(503, checkout.CodeInternal, date(time.Hour)))
	h.client.Now = nil
	if _, err := h.client.ValidateCartItems(context.Background(), request(checkout.MethodCard)); err == nil || len(h.delays) != 0 {
		t.Errorf("Retry-After in an hour: err = %v, delays = %v; want the 503, no wait", err, h.delays)
	}
	h = newHarness(t, keyA, fail(503, checkout.CodeInternal, date(5*time.Second)), ok(checkout.MethodCard, keyA))
	h.client.Now = nil
	if _, err := h.client.ValidateCartItems(context.Background(), request(checkout.MethodCard)); err != nil {
		t.Fatal(err)
	}
	if len(h.delays) != 1 || h.delays[0] <= 3*time.Second || h.delays[0] > 5*time.Second {
		t.Errorf("Retry-After in 5s: delays = %v", h.delays)
	}
}

func TestAsRejectionContextErrors(t *testing.T) {
	for _, err := range []error{context.Canceled, context.DeadlineExceeded, fmt.Errorf("wrapped: %w", context.Canceled)} {
		rej := keyflow.AsRejection(err)
		if rej.Kind != keyflow.KindGeneric || rej.Code != keyflow.CodeCanceled || rej.Status != 0 || rej.Message == "" || !errors.Is(rej, err) {
			t.Errorf("AsRejection(%v) = %+v", err, rej)
		}
	}
}

// doneContext is a keyflow.Context that is not a context.Context.
type doneContext chan struct{}

func (c doneContext) Done() <-chan struct{} { return c }
func (c doneContext) Err() error {
	select {
	case <-c:
		return context.Canceled
	default:
		return nil
	}
}

type ctxKey struct{}

func TestStdContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
	defer cancel()
	if keyflow.StdContext(ctx) != ctx {
		t.Error("StdContext of a context.Context is not that context")
	}

	bg := keyflow.StdContext(keyflow.Background())
	if bg.Done() != nil || bg.Err() != nil {
		t.Error("StdContext(Background()) ends")
	}
	if _, ok := bg.Deadline(); ok || bg.Value(ctxKey{}) != nil {
		t.Error("StdContext(Background()) has a deadline or a value")
	}

	done := make(doneContext)
	std := keyflow.StdContext(done)
	if std.Err() != nil {
		t.Fatal("ended early")
	}
	close(done)
	select {
	case <-std.Done():
	default:
		t.Fatal("StdContext's Done is not closed with its Context's")
	}
	if !errors.Is(std.Err(), context.Canceled) {
		t.Errorf("Err = %v", std.Err())
	}
}
