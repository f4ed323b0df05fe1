package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"sync"

	"github.com/onecharge/onecharge/server/checkoutsvc"
	"github.com/onecharge/onecharge/shared/checkout"
)

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	setJSONHeaders(w.Header())
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeJSONBytes writes body, a JSON document encoded as writeJSON would
// (json.Encoder's final newline included), with status.
func writeJSONBytes(w http.ResponseWriter, status int, body []byte) {
	setJSONHeaders(w.Header())
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// buffers holds *[]byte for the bodies encoded by hand: the response
// writer copies what it is given, so a body's buffer is reused as soon
// as it is written.
var buffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func getBuffer() *[]byte { b := buffers.Get().(*[]byte); *b = (*b)[:0]; return b }

// putBuffer returns b to the pool, unless it grew large (a cart of many
// lines): such buffers are left to the garbage collector.
func putBuffer(b *[]byte) {
	if cap(*b) <= 16<<10 {
		buffers.Put(b)
	}
}

// The values of every JSON response's headers, shared: net/http only
// reads them, and Set or Add on the header replaces or copies them.
var (
	headerJSON    = []string{"application/json; charset=utf-8"}
	headerNoStore = []string{"no-store"}
)

func setJSONHeaders(h http.Header) {
	h["Content-Type"] = headerJSON
	h["Cache-Control"] = headerNoStore
}

// writeError is the one place errors become responses. Codes come from
// *checkout.Error; anything else is internal and its details stay in the log.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := checkout.ErrorCode(err)
	status := code.HTTPStatus()
	if status >= 500 {
		s.logger.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	} else {
		s.logger.DebugContext(r.Context(), "request rejected", "method", r.Method, "path", r.URL.Path, "status", status, "code", code)
	}
	if code == checkout.CodeRequestInProgress {
		after := "1"
		var ip *checkoutsvc.InProgressError
		if errors.As(err, &ip) {
			after = ip.RetryAfterSeconds()
		}
		w.Header().Set("Retry-After", after)
	}
	writeJSON(w, status, checkout.ErrorBody{Error: checkout.ErrorDetail{Code: code, Message: checkout.ErrorMessage(err)}})
}

// handlerFunc is an http handler that returns its error.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *server) handle(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}
