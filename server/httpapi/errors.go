package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"

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
