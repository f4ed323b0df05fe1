package stripesim

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stripe/stripe-go/v76"
)

// Defaults applied by New.
const (
	DefaultPublishableKey    = "pk_test_simulator"
	DefaultWebhookSecret     = "whsec_simulator"
	DefaultPathPrefix        = "/_stripe"
	DefaultIdempotencyTTL    = 24 * time.Hour
	DefaultWebhookAttempts   = 5
	DefaultWebhookBackoff    = time.Second
	DefaultWebhookMaxBackoff = time.Minute
	DefaultWebhookTimeout    = 10 * time.Second
)

// Config configures a Sim. The zero value is usable; New fills in defaults.
type Config struct {
	// SecretKey is the only secret key accepted. When empty, New draws one
	// at random ("sk_test_sim_" and 32 alphanumerics from crypto/rand),
	// which only SecretKey reveals: whoever reaches the simulator without
	// it (a shopper's browser, through /_stripe) cannot call the
	// secret-key API.
	SecretKey string
	// PublishableKey authenticates browsers (Bearer token or a "key" form
	// field) for confirming and retrieving a PaymentIntent with its client
	// secret. Default DefaultPublishableKey.
	PublishableKey string
	// WebhookSecret signs webhook deliveries. Default DefaultWebhookSecret.
	WebhookSecret string
	// WebhookURL receives events by POST. Empty records events without
	// delivering them. Change it later with SetWebhookURL.
	WebhookURL string
	// WebhookURLs are further endpoints (after WebhookURL, when both are
	// set): every event is delivered to each, with retries of its own, as
	// to the several replicas of a server sharing this simulator. Change
	// them later with SetWebhookURLs.
	WebhookURLs []string
	// WebhookMode is the initial delivery mode; see SetWebhookMode.
	WebhookMode WebhookMode
	// WebhookAttempts bounds the delivery attempts of one event (the first
	// included). Default DefaultWebhookAttempts.
	WebhookAttempts int
	// WebhookBackoff is the wait before the first retry, doubled for every
	// further retry up to WebhookMaxBackoff. Defaults DefaultWebhookBackoff
	// and DefaultWebhookMaxBackoff.
	WebhookBackoff    time.Duration
	WebhookMaxBackoff time.Duration
	// WebhookTimeout bounds one delivery attempt. Default DefaultWebhookTimeout.
	WebhookTimeout time.Duration
	// WebhookClient sends deliveries. Default a fresh http.Client.
	WebhookClient *http.Client
	// PathPrefix is where the handler is mounted (with http.StripPrefix),
	// used to build the absolute URLs of the hosted pages from the
	// request's Host. Default DefaultPathPrefix; "/" means the root.
	PathPrefix string
	// PublicURL, when set, is the absolute URL of the simulator's root as
	// browsers reach it (e.g. "https://shop.example/_stripe"); it replaces
	// the request's Host plus PathPrefix in page URLs, for deployments
	// where stripe-go reaches the simulator at another address.
	PublicURL string
	// IdempotencyTTL is how long an Idempotency-Key is remembered, measured
	// by Now. Default DefaultIdempotencyTTL (Stripe keeps keys 24 hours).
	IdempotencyTTL time.Duration
	// Now is the clock of object timestamps and idempotency expiry.
	// Default time.Now. Webhook signatures always use the wall clock,
	// because receivers check them against theirs.
	Now func() time.Time
	// Logger receives debug records and a warning when a webhook is given
	// up. Default: discard.
	Logger *slog.Logger
}

// Sim is the simulated Stripe API, an http.Handler. Create it with New and
// stop it with Close.
type Sim struct {
	cfg    Config
	prefix string
	log    *slog.Logger

	mu       sync.Mutex
	intents  map[string]*intent
	piOrder  []string
	sessions map[string]*session
	csOrder  []string
	events   []Event
	created  int

	idem   idemStore
	faults faultSet
	hooks  *dispatcher

	closeOnce sync.Once
	closed    chan struct{}
}

// New returns a simulator with cfg's defaults filled in. It starts the
// webhook dispatcher; call Close when done.
func New(cfg Config) *Sim {
	if cfg.SecretKey == "" {
		cfg.SecretKey = RandomSecretKey()
	}
	if cfg.PublishableKey == "" {
		cfg.PublishableKey = DefaultPublishableKey
	}
	if cfg.WebhookSecret == "" {
		cfg.WebhookSecret = DefaultWebhookSecret
	}
	if cfg.WebhookAttempts <= 0 {
		cfg.WebhookAttempts = DefaultWebhookAttempts
	}
	if cfg.WebhookBackoff <= 0 {
		cfg.WebhookBackoff = DefaultWebhookBackoff
	}
	if cfg.WebhookMaxBackoff <= 0 {
		cfg.WebhookMaxBackoff = DefaultWebhookMaxBackoff
	}
	if cfg.WebhookTimeout <= 0 {
		cfg.WebhookTimeout = DefaultWebhookTimeout
	}
	if cfg.WebhookClient == nil {
		cfg.WebhookClient = &http.Client{}
	}
	if cfg.PathPrefix == "" {
		cfg.PathPrefix = DefaultPathPrefix
	}
	if cfg.IdempotencyTTL <= 0 {
		cfg.IdempotencyTTL = DefaultIdempotencyTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Sim{
		cfg:      cfg,
		prefix:   strings.TrimSuffix(cfg.PathPrefix, "/"),
		log:      cfg.Logger,
		intents:  map[string]*intent{},
		sessions: map[string]*session{},
		idem:     idemStore{m: map[string]*idemEntry{}},
		closed:   make(chan struct{}),
	}
	s.hooks = newDispatcher(s)
	return s
}

// Close stops webhook delivery (pending retries are abandoned) and wakes
// requests sleeping in an injected latency. It waits for the delivery
// goroutines to end.
func (s *Sim) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.hooks.close()
	})
	return nil
}

// SecretKey returns the secret key stripe-go must use: Config.SecretKey,
// or the one drawn at random by New.
func (s *Sim) SecretKey() string { return s.cfg.SecretKey }

// RandomSecretKey returns a fresh secret key of the form New draws:
// "sk_test_sim_" followed by 32 alphanumerics from crypto/rand.
func RandomSecretKey() string { return newID("sk_test_sim_", 32) }

// PublishableKey returns the publishable key browsers use.
func (s *Sim) PublishableKey() string { return s.cfg.PublishableKey }

// WebhookSecret returns the secret webhook signatures are made with.
func (s *Sim) WebhookSecret() string { return s.cfg.WebhookSecret }

// CreatedPaymentIntents counts the PaymentIntents created so far, through
// the API or a hosted Checkout page; idempotent replays create none.
func (s *Sim) CreatedPaymentIntents() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.created
}

// PaymentIntent returns a copy of the PaymentIntent id.
func (s *Sim) PaymentIntent(id string) (PaymentIntent, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, ok := s.intents[id]
	if !ok {
		return PaymentIntent{}, false
	}
	return in.pi.clone(), true
}

// PaymentIntents returns copies of all PaymentIntents in creation order.
func (s *Sim) PaymentIntents() []PaymentIntent {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]PaymentIntent, 0, len(s.piOrder))
	for _, id := range s.piOrder {
		if in := s.intents[id]; in != nil { // nil: forgotten
			out = append(out, in.pi.clone())
		}
	}
	return out
}

// CheckoutSession returns a copy of the Checkout Session id.
func (s *Sim) CheckoutSession(id string) (CheckoutSession, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, ok := s.sessions[id]
	if !ok {
		return CheckoutSession{}, false
	}
	return cs.cs.clone(), true
}

// CheckoutSessions returns copies of all Checkout Sessions in creation order.
func (s *Sim) CheckoutSessions() []CheckoutSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]CheckoutSession, 0, len(s.csOrder))
	for _, id := range s.csOrder {
		out = append(out, s.sessions[id].cs.clone())
	}
	return out
}

// Events returns every event generated so far, delivered or not, in order.
func (s *Sim) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events)
}

// ForcePaymentIntentStatus moves a PaymentIntent to status as Stripe's
// back office would (for example to "processing", which no test card
// reaches, then to "succeeded"). Moving to succeeded or canceled emits the
// matching event. It bypasses the state machine.
func (s *Sim) ForcePaymentIntentStatus(id, status string) error {
	switch status {
	case StatusRequiresPaymentMethod, StatusRequiresConfirmation, StatusRequiresAction,
		StatusProcessing, StatusSucceeded, StatusCanceled:
	default:
		return fmt.Errorf("stripesim: unknown status %q", status)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	in, ok := s.intents[id]
	if !ok {
		return fmt.Errorf("stripesim: no such payment_intent %q", id)
	}
	in.pi.Status = status
	if status != StatusRequiresAction {
		in.pi.NextAction = nil
	}
	switch status {
	case StatusSucceeded:
		in.pi.AmountReceived = in.pi.Amount
		s.emitLocked(EventPaymentIntentSucceeded, in.pi, nil)
	case StatusCanceled:
		t := s.cfg.Now().Unix()
		in.pi.CanceledAt = &t
		s.emitLocked(EventPaymentIntentCanceled, in.pi, nil)
	}
	return nil
}

// InFlight reports how many requests carrying an Idempotency-Key are being
// processed right now (tests wait on it before sending a conflicting one).
func (s *Sim) InFlight() int {
	s.idem.mu.Lock()
	defer s.idem.mu.Unlock()
	return s.idem.inflight
}

// ServeHTTP serves the simulated API under /v1/ and the hosted pages.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Idempotency-Key, Stripe-Version, Stripe-Account")
	h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
	h.Set("Access-Control-Expose-Headers", "Request-Id, Idempotent-Replayed, Original-Request, Stripe-Version")
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	act := s.faults.decide(r.Method, r.URL.Path)
	if act.status != 0 {
		s.log.Debug("stripesim: injected error", "method", r.Method, "path", r.URL.Path, "status", act.status)
		writeResponse(w, newRequestID(), errResponse(act.status, Error{
			Type:    ErrorTypeAPI,
			Message: "Simulated server error (injected fault).",
		}))
		return
	}
	if strings.HasPrefix(r.URL.Path, "/v1/") {
		s.serveAPI(w, r, act)
		return
	}
	s.sleep(r.Context(), act.latency)
	s.servePage(w, r)
	// Pages are never answered twice, so drop is ignored for them.
}

// sleep waits d unless the client went away or the simulator closed.
// Processing continues afterwards either way, as on a real server whose
// client timed out.
func (s *Sim) sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	case <-s.closed:
	}
}

// call is one parsed API request.
type call struct {
	method    string
	path      string
	segs      []string
	form      url.Values
	apiKey    string
	public    bool // authenticated with the publishable key
	requestID string
	idemKey   string
	baseURL   string // absolute URL of the simulator's root, for pages
}

// response is what an endpoint answers.
type response struct {
	status int
	body   []byte
	// save reports whether the idempotency layer stores the response:
	// false for requests rejected before the endpoint started executing
	// (authentication, parameter validation), as Stripe does.
	save bool
}

func (s *Sim) serveAPI(w http.ResponseWriter, r *http.Request, act faultAction) {
	requestID := newRequestID()
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		writeResponse(w, requestID, paramError("", "", "The request body could not be parsed as form data."))
		return
	}
	c := &call{
		method:    r.Method,
		path:      r.URL.Path,
		segs:      strings.Split(strings.Trim(r.URL.Path, "/"), "/"),
		form:      r.Form,
		requestID: requestID,
		idemKey:   strings.TrimSpace(r.Header.Get("Idempotency-Key")),
		baseURL:   s.baseURL(r),
	}
	if resp, ok := s.authenticate(r, c); !ok {
		writeResponse(w, requestID, resp)
		return
	}
	c.form.Del("key")

	var (
		resp     response
		replayed bool
		original string
		entry    *idemEntry
		scope    string
	)
	if r.Method == http.MethodPost && c.idemKey != "" {
		scope = c.apiKey + "\x00" + c.idemKey
		var out claimOutcome
		entry, out = s.idem.claim(scope, fingerprint(c), s.cfg.Now(), s.cfg.IdempotencyTTL)
		switch out {
		case claimReplay:
			resp, replayed, original = entry.resp, true, entry.requestID
			entry = nil
		case claimInFlight:
			resp = errResponse(http.StatusConflict, Error{
				Type: ErrorTypeIdempotency, Code: "idempotency_key_in_use",
				Message: "There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through): " + c.idemKey + ". Please try again later.",
			})
			entry = nil
		case claimMismatch:
			resp = errResponse(http.StatusBadRequest, Error{
				Type:    ErrorTypeIdempotency,
				Message: "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '" + c.idemKey + "' if you meant to execute a different request.",
			})
			entry = nil
		case claimNew:
			entry.requestID = requestID
		}
	}
	if entry != nil {
		// Release the key if processing panics; finish clears this.
		defer s.idem.abandon(scope, entry)
	}
	s.sleep(r.Context(), act.latency)
	if resp.status == 0 {
		resp = s.route(c)
		if entry != nil {
			s.idem.finish(scope, entry, resp)
		}
	}
	if act.drop {
		s.log.Debug("stripesim: dropping response", "method", r.Method, "path", r.URL.Path, "status", resp.status)
		dropConnection(w)
		return
	}
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
		w.Header().Set("Original-Request", original)
	}
	if c.idemKey != "" {
		w.Header().Set("Idempotency-Key", c.idemKey)
	}
	writeResponse(w, requestID, resp)
}

// dropConnection closes the client's connection without an answer.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		conn.Close()
		return
	}
	// Not hijackable (HTTP/2, or a wrapping ResponseWriter without
	// Unwrap): abort the response, which net/http turns into a reset.
	panic(http.ErrAbortHandler)
}

func (s *Sim) authenticate(r *http.Request, c *call) (response, bool) {
	key := ""
	if auth := r.Header.Get("Authorization"); auth != "" {
		if b, ok := strings.CutPrefix(auth, "Bearer "); ok {
			key = strings.TrimSpace(b)
		} else if u, _, ok := r.BasicAuth(); ok {
			key = u
		}
	}
	if key == "" {
		key = c.form.Get("key")
	}
	switch {
	case key == "":
		return errResponse(http.StatusUnauthorized, Error{Type: ErrorTypeInvalidRequest,
			Message: "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."}), false
	case key == s.cfg.PublishableKey:
		c.apiKey, c.public = key, true
		return response{}, true
	case subtle.ConstantTimeCompare([]byte(key), []byte(s.cfg.SecretKey)) == 1:
		c.apiKey = key
		return response{}, true
	}
	return errResponse(http.StatusUnauthorized, Error{Type: ErrorTypeInvalidRequest,
		Message: "Invalid API Key provided: " + redactKey(key)}), false
}

func redactKey(k string) string {
	if len(k) <= 12 {
		return strings.Repeat("*", len(k))
	}
	return k[:8] + strings.Repeat("*", len(k)-12) + k[len(k)-4:]
}

// publicOnly answers the publishable key on endpoints that need the secret one.
func publicOnly() response {
	return errResponse(http.StatusUnauthorized, Error{Type: ErrorTypeInvalidRequest,
		Message: "This API call cannot be made with a publishable API key. Please use a secret API key."})
}

func (s *Sim) route(c *call) response {
	seg := c.segs[1:] // after "v1"
	switch {
	case len(seg) == 1 && seg[0] == "payment_intents" && c.method == http.MethodPost:
		return s.createPaymentIntent(c)
	case len(seg) == 1 && seg[0] == "payment_intents" && c.method == http.MethodGet:
		return s.listPaymentIntents(c)
	case len(seg) == 2 && seg[0] == "payment_intents" && c.method == http.MethodGet:
		return s.retrievePaymentIntent(c, seg[1])
	case len(seg) == 2 && seg[0] == "payment_intents" && c.method == http.MethodPost:
		return s.updatePaymentIntent(c, seg[1])
	case len(seg) == 3 && seg[0] == "payment_intents" && seg[2] == "confirm" && c.method == http.MethodPost:
		return s.confirmPaymentIntent(c, seg[1])
	case len(seg) == 3 && seg[0] == "payment_intents" && seg[2] == "cancel" && c.method == http.MethodPost:
		return s.cancelPaymentIntent(c, seg[1])
	case len(seg) == 2 && seg[0] == "checkout" && seg[1] == "sessions" && c.method == http.MethodPost:
		return s.createCheckoutSession(c)
	case len(seg) == 3 && seg[0] == "checkout" && seg[1] == "sessions" && c.method == http.MethodGet:
		return s.retrieveCheckoutSession(c, seg[2])
	case len(seg) == 4 && seg[0] == "checkout" && seg[1] == "sessions" && seg[3] == "expire" && c.method == http.MethodPost:
		return s.expireCheckoutSession(c, seg[2])
	}
	r := errResponse(http.StatusNotFound, Error{Type: ErrorTypeInvalidRequest,
		Message: fmt.Sprintf("Unrecognized request URL (%s: %s). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.", c.method, c.path)})
	r.save = false
	return r
}

// baseURL is the absolute URL of the simulator's root as the client sees it.
func (s *Sim) baseURL(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return strings.TrimSuffix(s.cfg.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	} else if p := r.Header.Get("X-Forwarded-Proto"); p == "https" || p == "http" {
		scheme = p
	}
	return scheme + "://" + r.Host + s.prefix
}

func writeResponse(w http.ResponseWriter, requestID string, resp response) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Request-Id", requestID)
	h.Set("Stripe-Version", stripe.APIVersion)
	h.Set("Cache-Control", "no-cache, no-store")
	w.WriteHeader(resp.status)
	_, _ = w.Write(resp.body)
}

func jsonResponse(status int, v any) response {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("stripesim: marshal response: %v", err))
	}
	return response{status: status, body: b, save: true}
}

func errResponse(status int, e Error) response {
	return jsonResponse(status, struct {
		Error Error `json:"error"`
	}{e})
}

// paramError is a 400 for invalid parameters, not stored for idempotency.
func paramError(code, param, msg string) response {
	r := errResponse(http.StatusBadRequest, Error{Type: ErrorTypeInvalidRequest, Code: code, Param: param, Message: msg})
	r.save = false
	return r
}

func missingParam(param string) response {
	return paramError("parameter_missing", param, "Missing required param: "+param+".")
}

// resourceMissing answers an unknown object: 404 for the object of the URL,
// 400 for an id passed as a parameter (as Stripe does).
func resourceMissing(kind, param, id string) response {
	status := http.StatusBadRequest
	if param == "intent" || param == "session" {
		status = http.StatusNotFound
	}
	return errResponse(status, Error{Type: ErrorTypeInvalidRequest, Code: "resource_missing",
		Param: param, Message: fmt.Sprintf("No such %s: '%s'", kind, id)})
}

const alnum = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// newID returns prefix followed by n random alphanumerics from
// crypto/rand, each uniform (bytes from 248 up are drawn again, so that
// the modulo has no bias).
func newID(prefix string, n int) string {
	out := make([]byte, 0, len(prefix)+n)
	out = append(out, prefix...)
	buf := make([]byte, n+n/4+8)
	for len(out) < len(prefix)+n {
		_, _ = rand.Read(buf) // never fails (crypto/rand)
		for _, b := range buf {
			if int(b) >= 256-256%len(alnum) {
				continue
			}
			out = append(out, alnum[int(b)%len(alnum)])
			if len(out) == len(prefix)+n {
				break
			}
		}
	}
	return string(out)
}

func newRequestID() string { return newID("req_", 14) }
