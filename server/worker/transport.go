package worker

import "net/http"

// NoBodyOnGet wraps the Workers fetch transport of github.com/syumai/workers
// v0.33.0, which hands any non-nil Request.Body to the runtime's fetch: for
// a GET or HEAD, even an empty one, fetch throws "Request with a GET or
// HEAD method cannot have a body" and the transport panics. stripe-go sends
// its GETs (retrieving a PaymentIntent) with an empty body, so without this
// every stale replay would panic.
func NoBodyOnGet(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		if (req.Method == http.MethodGet || req.Method == http.MethodHead) && req.Body != nil {
			req = req.Clone(req.Context())
			req.Body, req.GetBody, req.ContentLength = nil, nil, 0
		}
		return rt.RoundTrip(req)
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
