package worker

import (
	"net/http"
	"strings"
)

// JoinSplitHeaders undoes a quirk of github.com/syumai/workers v0.33.0:
// its request conversion (internal/jshttp, ToHeader) splits every header
// value on "," into several values, so a Stripe-Signature of
// "t=…,v1=…" reaches the handler as "t=…" alone and no webhook verifies.
// The runtime's Headers object had already folded repeated headers into one
// comma-separated value, so joining the pieces with "," restores exactly
// the value the runtime received.
func JoinSplitHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, vs := range r.Header {
			if len(vs) > 1 {
				r.Header[k] = []string{strings.Join(vs, ",")}
			}
		}
		next.ServeHTTP(w, r)
	})
}
