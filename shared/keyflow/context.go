package keyflow

// Context is what the Client needs of a context.Context: the channel that
// closes when the caller gives up, and why. Every context.Context is one,
// so native callers pass theirs as it is. The Client hands the Context
// given to ValidateCartItems to its Transport, Locker, Board and Sleep
// unchanged (StdContext turns it back into a context.Context outside the
// browser build; posts made outside a validation get Background()), and
// the Rejection of a canceled validation wraps its Err. keyflow does not
// import context, which with the time package it imports would add about
// 55 KB brotli to the WebAssembly bundle.
type Context interface {
	// Done is closed when the work done on behalf of this Context should
	// stop; nil for a Context that never ends.
	Done() <-chan struct{}
	// Err is nil until Done is closed, and then the reason.
	Err() error
}

// Background returns a Context that never ends, like context.Background:
// for callers that do not cancel validations (the browser module).
func Background() Context { return background{} }

type background struct{}

func (background) Done() <-chan struct{} { return nil }
func (background) Err() error            { return nil }
