package httpapi

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/onecharge/onecharge/server/checkoutsvc"
	"github.com/onecharge/onecharge/shared/checkout"
)

// Config holds the handler's dependencies.
type Config struct {
	Service *checkoutsvc.Service
	Auth    Authenticator
	Logger  *slog.Logger
	// Web is the storefront served at "/" (the web/ directory); nil serves none.
	Web fs.FS
	// Stripe is what GET /api/config tells the page.
	Stripe checkout.StripeConfig
	// StripeSim, when not nil, is mounted under /_stripe (the embedded
	// Stripe simulator).
	StripeSim http.Handler
	// ReadyTimeout bounds the store ping of /readyz; default 2s.
	ReadyTimeout time.Duration
	// Metrics receives every request's route, status and duration; nil
	// discards them.
	Metrics Metrics
	// MetricsHandler, when not nil, serves GET /metrics (Prometheus).
	MetricsHandler http.Handler
}

// Metrics is what the HTTP layer reports; server/metrics implements it.
type Metrics interface {
	// Request reports one request: route is the mux route's path
	// template ("" when no route matched), so its values are bounded.
	Request(route string, status int, d time.Duration)
}

type nopMetrics struct{}

func (nopMetrics) Request(string, int, time.Duration) {}

type server struct {
	Config
	logger *slog.Logger
}

// NewHandler returns the onecharge HTTP handler.
func NewHandler(cfg Config) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = 2 * time.Second
	}
	if cfg.Metrics == nil {
		cfg.Metrics = nopMetrics{}
	}
	s := &server{Config: cfg, logger: cfg.Logger}
	return s.recoverPanics(s.logRequests(s.routes()))
}

func (s *server) routes() http.Handler {
	r := mux.NewRouter()
	r.NotFoundHandler = s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return &checkout.Error{Code: checkout.CodeNotFound, Message: checkout.MessageNotFound}
	})
	r.MethodNotAllowedHandler = s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return checkout.Errorf(checkout.CodeMethodNotAllowed, "Method %s is not allowed here.", r.Method)
	})

	// API routes are registered on the root router (not a subrouter) so
	// that gorilla/mux answers a wrong method with 405, not 404. mux
	// tries the routes in this order, matching each one's path pattern,
	// so the busiest come first (the paths are distinct, but for
	// /orders/validate, which must precede /orders/{payment_intent_id}).
	handle := func(tmpl string, h http.Handler) *mux.Route { return r.Handle(tmpl, withRoute(tmpl, h)) }
	api := func(path string, h http.Handler) *mux.Route { return handle("/api"+path, s.authenticate(h)) }
	api("/orders/validate", s.jsonBody(s.handle(s.validate))).Methods(http.MethodPost)
	api("/cart", s.jsonBody(s.handle(s.putCart))).Methods(http.MethodPut)
	api("/cart", s.handle(s.getCart)).Methods(http.MethodGet)
	api("/orders/{payment_intent_id}", s.handle(s.order)).Methods(http.MethodGet)
	api("/checkout", s.jsonBody(s.handle(s.checkout))).Methods(http.MethodPost)
	api("/products", s.handle(s.products)).Methods(http.MethodGet)
	api("/config", s.handle(s.config)).Methods(http.MethodGet)

	// Stripe calls the webhook: no session, its own signature check.
	handle("/api/stripe/webhook", s.jsonBody(s.handle(s.webhook))).Methods(http.MethodPost)

	handle("/healthz", s.handle(s.healthz)).Methods(http.MethodGet, http.MethodHead)
	handle("/readyz", s.handle(s.readyz)).Methods(http.MethodGet, http.MethodHead)
	if s.MetricsHandler != nil {
		handle("/metrics", s.MetricsHandler).Methods(http.MethodGet, http.MethodHead)
	}

	if s.StripeSim != nil {
		r.PathPrefix("/_stripe/").Handler(withRoute("/_stripe/", http.StripPrefix("/_stripe", s.StripeSim)))
	}
	if s.Web != nil {
		r.PathPrefix("/").MatcherFunc(notAPI).Handler(withRoute("/", s.staticFiles(s.Web))).Methods(http.MethodGet, http.MethodHead)
	}
	return r
}

// notAPI keeps the storefront's catch-all route off the API's paths, so
// an unknown API path is a JSON 404.
func notAPI(r *http.Request, _ *mux.RouteMatch) bool {
	return !strings.HasPrefix(r.URL.Path, "/api/") && !strings.HasPrefix(r.URL.Path, "/_stripe/")
}

// jsonBody enforces the 64 KiB limit (413) and a JSON content type (415)
// before a handler reads the body.
func (s *server) jsonBody(next http.Handler) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		if r.ContentLength > checkout.MaxBodyBytes {
			return &checkout.Error{Code: checkout.CodeRequestTooLarge, Message: checkout.MessageRequestTooLarge}
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" { // what clients send, as ParseMediaType reads it
			mt, _, err := mime.ParseMediaType(ct)
			if err != nil || mt != "application/json" {
				return checkout.Errorf(checkout.CodeUnsupportedMediaType, "The request body must be application/json.")
			}
		}
		r.Body = http.MaxBytesReader(w, r.Body, checkout.MaxBodyBytes+1)
		next.ServeHTTP(w, r)
		return nil
	})
}

func (s *server) authenticate(next http.Handler) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		id, err := s.Auth.Authenticate(w, r)
		if err != nil {
			if checkout.ErrorCode(err) == checkout.CodeInternal {
				return fmt.Errorf("%w: %v", errUnauthenticated, err)
			}
			return err
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, id)))
		return nil
	})
}

// statusRecorder remembers the status for the access log, and the route
// that matched (withRoute fills it in).
type statusRecorder struct {
	http.ResponseWriter
	status int
	route  string
}

// withRoute tells the statusRecorder of the request which route answers
// it: tmpl, the route's path template (the metrics' route label), fixed
// when the route is registered. The router calls the route's handler with
// the writer logRequests gave it.
func withRoute(tmpl string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rec, ok := w.(*statusRecorder); ok {
			rec.route = tmpl
		}
		next.ServeHTTP(w, r)
	})
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the real writer (the simulator
// hijacks connections to drop responses).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (s *server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		d := time.Since(start)
		s.Metrics.Request(rec.route, rec.status, d)
		if strings.HasPrefix(r.URL.Path, "/api/") || rec.status >= 500 {
			s.accessLog(r, rec.status, d)
		}
	})
}

// accessLog logs one request at info level, as
// s.logger.LogAttrs(ctx, slog.LevelInfo, "http", ...) would, but for the
// record's source: it hands the record to the handler itself, without
// the runtime.Callers of every Logger call (about 2k instructions, a
// twentieth of a request's; the source would always be this line).
func (s *server) accessLog(r *http.Request, status int, d time.Duration) {
	ctx := r.Context()
	h := s.logger.Handler()
	if !h.Enabled(ctx, slog.LevelInfo) {
		return
	}
	rec := slog.NewRecord(time.Now(), slog.LevelInfo, "http", 0)
	rec.AddAttrs(slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.Int("status", status), slog.Duration("dur", d.Round(time.Microsecond)))
	_ = h.Handle(ctx, rec)
}

func (s *server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.writeError(w, r, fmt.Errorf("panic: %v\n%s", v, debug.Stack()))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func (s *server) healthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (s *server) readyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), s.ReadyTimeout)
	defer cancel()
	if err := s.Service.Store.Ping(ctx); err != nil {
		s.logger.WarnContext(ctx, "readyz: store does not answer", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "store unavailable"})
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}

func (s *server) config(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, checkout.ConfigResponse{Stripe: s.Stripe})
	return nil
}

func (s *server) products(w http.ResponseWriter, r *http.Request) error {
	ps, err := s.Service.Products(r.Context())
	if err != nil {
		return err
	}
	if ps == nil {
		ps = []checkout.Product{}
	}
	writeJSON(w, http.StatusOK, checkout.ProductsResponse{Products: ps})
	return nil
}

func (s *server) getCart(w http.ResponseWriter, r *http.Request) error {
	cart, err := s.Service.Cart(r.Context(), UserID(r.Context()))
	if err != nil {
		return err
	}
	writeCart(w, cart)
	return nil
}

// writeCart writes the cart as writeJSON would, through the hand-written
// encoder (byte for byte json.Marshal's, see its differential tests).
func writeCart(w http.ResponseWriter, cart checkout.Cart) {
	buf := getBuffer()
	defer putBuffer(buf)
	b, err := checkout.AppendCartResponse(*buf, checkout.CartResponse{Cart: cart})
	if err != nil { // a time json cannot encode either: as writeJSON answers it
		writeJSON(w, http.StatusOK, checkout.CartResponse{Cart: cart})
		return
	}
	*buf = append(b, '\n')
	writeJSONBytes(w, http.StatusOK, *buf)
}

func (s *server) putCart(w http.ResponseWriter, r *http.Request) error {
	req, err := checkout.DecodeCartRequest(r.Body)
	if err != nil {
		return err
	}
	cart, err := s.Service.PutCart(r.Context(), UserID(r.Context()), req.Items)
	if err != nil {
		return err
	}
	writeCart(w, cart)
	return nil
}

func (s *server) validate(w http.ResponseWriter, r *http.Request) error {
	req, err := checkout.DecodeValidateRequest(r.Body)
	if err != nil {
		return err
	}
	resp, err := s.Service.Validate(r.Context(), UserID(r.Context()), req, r.Header.Get(checkout.NonceHeader))
	if err != nil {
		return err
	}
	// What writeJSON writes, by the shared codec (byte for byte
	// json.Marshal's, see its differential tests), at a fraction of the cost.
	writeJSONBytes(w, http.StatusOK, append(checkout.EncodeValidateResponse(resp), '\n'))
	return nil
}

func (s *server) checkout(w http.ResponseWriter, r *http.Request) error {
	req, err := checkout.DecodeCartRequest(r.Body)
	if err != nil {
		return err
	}
	resp, err := s.Service.Checkout(r.Context(), UserID(r.Context()), req.Items, baseURL(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *server) order(w http.ResponseWriter, r *http.Request) error {
	o, err := s.Service.Order(r.Context(), UserID(r.Context()), mux.Vars(r)["payment_intent_id"])
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, checkout.OrderResponse{Order: o})
	return nil
}

func (s *server) webhook(w http.ResponseWriter, r *http.Request) error {
	payload, err := io.ReadAll(r.Body)
	if err != nil {
		return &checkout.Error{Code: checkout.CodeRequestTooLarge, Message: checkout.MessageRequestTooLarge}
	}
	applied, err := s.Service.HandleWebhook(r.Context(), payload, r.Header.Get("Stripe-Signature"))
	if err != nil {
		return err
	}
	// Stripe ignores the body; it tells people reading logs about replays.
	writeJSON(w, http.StatusOK, map[string]bool{"received": true, "duplicate": !applied})
	return nil
}

// baseURL is the origin the shopper used, for Stripe's return URLs.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
