package modeltest

import (
	"context"
	"testing"

	"pgregory.net/rapid"
)

// rapidTB lets testenv.New (which takes a testing.TB) build a server for
// one rapid check: cleanups run when the check ends (rapid.T.Cleanup), and
// failures fail the check, so that rapid shrinks them. The embedded
// testing.TB is nil: a method not overridden here would panic, which rapid
// reports as a failure naming it.
type rapidTB struct {
	testing.TB
	rt *rapid.T
}

func (a rapidTB) Helper()                           {}
func (a rapidTB) Name() string                      { return a.rt.Name() }
func (a rapidTB) Cleanup(f func())                  { a.rt.Cleanup(f) }
func (a rapidTB) Context() context.Context          { return a.rt.Context() }
func (a rapidTB) Log(args ...any)                   { a.rt.Log(args...) }
func (a rapidTB) Logf(format string, args ...any)   { a.rt.Logf(format, args...) }
func (a rapidTB) Error(args ...any)                 { a.rt.Error(args...) }
func (a rapidTB) Errorf(format string, args ...any) { a.rt.Errorf(format, args...) }
func (a rapidTB) Fatal(args ...any)                 { a.rt.Fatal(args...) }
func (a rapidTB) Fatalf(format string, args ...any) { a.rt.Fatalf(format, args...) }
func (a rapidTB) Fail()                             { a.rt.Fail() }
func (a rapidTB) FailNow()                          { a.rt.FailNow() }
func (a rapidTB) Failed() bool                      { return a.rt.Failed() }

// A check never skips: skipping is a failure.
func (a rapidTB) Skip(args ...any)                 { a.rt.Fatal(append([]any{"skip: "}, args...)...) }
func (a rapidTB) Skipf(format string, args ...any) { a.rt.Fatalf("skip: "+format, args...) }
func (a rapidTB) SkipNow()                         { a.rt.Fatal("skip") }
func (a rapidTB) Skipped() bool                    { return false }
