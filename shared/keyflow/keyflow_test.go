package keyflow_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onecharge/onecharge/shared/checkout"
	"github.com/onecharge/onecharge/shared/keyflow"
)

var (
	keyA = "ik_" + strings.Repeat("A", 32)
	keyB = "ik_" + strings.Repeat("B", 32)
	now  = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)
)

// step is one scripted answer of the fake transport.
type step struct {
	status int
	body   string
	header map[string]string
	err    error
}

func ok(method checkout.PaymentMethod, key string) step {
	resp := checkout.ValidateResponse{
		Order:          checkout.Order{Items: []checkout.Line{{ProductID: "tee", Name: "Tee", Quantity: 2, UnitAmount: 2500}}, Amount: 5000, Currency: "usd"},
		PaymentMethod:  method,
		IdempotencyKey: key,
	}
	if key != "" {
		resp.PaymentIntent = &checkout.PaymentIntent{ID: "pi_1", ClientSecret: "pi_1_secret", Status: "requires_payment_method", Amount: 5000, Currency: "usd"}
	}
	b, _ := json.Marshal(resp)
	return step{status: 200, body: string(b)}
}

func fail(status int, code checkout.Code, header map[string]string) step {
	b, _ := json.Marshal(checkout.ErrorBody{Error: checkout.ErrorDetail{Code: code, Message: "msg " + string(code)}})
	return step{status: status, body: string(b), header: header}
}

var errNetwork = errors.New("fetch failed")

func netErr() step { return step{err: errNetwork} }

// fakeTransport answers with its steps in order and records what it was sent.
type fakeTransport struct {
	mu     sync.Mutex
	steps  []step
	reqs   []keyflow.Request
	keys   []string // idempotency_key of each request, "" for none
	nonces []string // Idempotency-Key header of each request, "" for none
}

func (f *fakeTransport) Do(ctx keyflow.Context, req keyflow.Request) (keyflow.Response, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var body checkout.ValidateRequest
	if err := json.Unmarshal(req.Body, &body); err != nil {
		return keyflow.Response{}, fmt.Errorf("fake: bad body: %v", err)
	}
	f.reqs = append(f.reqs, req)
	f.keys = append(f.keys, body.IdempotencyKey)
	f.nonces = append(f.nonces, req.Header[keyflow.NonceHeader])
	if len(f.steps) == 0 {
		return keyflow.Response{}, errors.New("fake: no more scripted responses")
	}
	s := f.steps[0]
	f.steps = f.steps[1:]
	if s.err != nil {
		return keyflow.Response{}, s.err
	}
	return keyflow.Response{Status: s.status, Header: s.header, Body: []byte(s.body)}, nil
}

// harness is a Client on a MemoryStore and a fakeTransport, with instant
// sleeps that are recorded and a fixed Rand.
type harness struct {
	client *keyflow.Client
	store  *keyflow.MemoryStore
	tr     *fakeTransport
	delays []time.Duration
}

func newHarness(t *testing.T, stored string, steps ...step) *harness {
	t.Helper()
	h := &harness{store: &keyflow.MemoryStore{}, tr: &fakeTransport{steps: steps}}
	if stored != "" {
		h.store.Set(stored)
	}
	h.client = keyflow.New(h.store, h.tr)
	h.client.Sleep = func(ctx keyflow.Context, d keyflow.Duration) error {
		h.delays = append(h.delays, time.Duration(d))
		return ctx.Err()
	}
	h.client.Rand = func() float64 { return 0.5 }
	h.client.Now = func() int64 { return now.UnixNano() }
	var nonces atomic.Int32
	h.client.Nonce = func() string { return "nonce-" + strconv.Itoa(int(nonces.Add(1))) }
	return h
}

func request(method checkout.PaymentMethod) checkout.ValidateRequest {
	return checkout.ValidateRequest{
		Items:         []checkout.Item{{ProductID: "tee", Quantity: 2}},
		PaymentMethod: method,
	}
}

func TestValidateCartItems(t *testing.T) {
	const (
		card = checkout.MethodCard
		test = checkout.MethodCardTest
		cod  = checkout.MethodCashOnDelivery
	)
	retryIn2 := map[string]string{"retry-after": "2"}
	type want struct {
		sent   []string // keys sent, "" for none
		stored string   // "" for none
		kind   keyflow.Kind
		code   checkout.Code
		status int
		delays []time.Duration // nil: not checked
	}
	tests := []struct {
		name   string
		stored string
		method checkout.PaymentMethod
		steps  []step
		want   want
	}{
		{"FirstCallSendsNoKey", "", card, []step{ok(card, keyA)},
			want{sent: []string{""}, stored: keyA}},
		{"SendsStoredKey", keyA, card, []step{ok(card, keyA)},
			want{sent: []string{keyA}, stored: keyA}},
		{"RotationOverwrites", keyA, card, []step{ok(card, keyB)},
			want{sent: []string{keyA}, stored: keyB}},
		{"CardTestStoresKey", "", test, []step{ok(test, keyA)},
			want{sent: []string{""}, stored: keyA}},
		{"CashOnDeliveryStoresNothing", "", cod, []step{ok(cod, "")},
			want{sent: []string{""}, stored: ""}},
		{"CashOnDeliveryKeepsStoredKey", keyA, cod, []step{ok(cod, "")},
			want{sent: []string{keyA}, stored: keyA}},
		{"CashOnDeliveryIgnoresStrayKey", "", cod, []step{ok(cod, keyB)},
			want{sent: []string{""}, stored: ""}},
		{"MalformedStoredKeyIsDropped", "garbage", card, []step{ok(card, keyA)},
			want{sent: []string{""}, stored: keyA}},
		{"503ThenOKSameKey", keyA, card, []step{fail(503, checkout.CodeInternal, nil), ok(card, keyA)},
			want{sent: []string{keyA, keyA}, stored: keyA, delays: []time.Duration{125 * time.Millisecond}}},
		{"503ThenOKWithoutKey", "", card, []step{fail(503, checkout.CodeInternal, nil), ok(card, keyA)},
			want{sent: []string{"", ""}, stored: keyA}},
		{"NetworkErrorThenOKSameKey", keyA, card, []step{netErr(), ok(card, keyA)},
			want{sent: []string{keyA, keyA}, stored: keyA}},
		{"InProgressThenOK", keyA, card, []step{fail(409, checkout.CodeRequestInProgress, retryIn2), ok(card, keyA)},
			want{sent: []string{keyA, keyA}, stored: keyA, delays: []time.Duration{2 * time.Second}}},
		{"RetryAfterSeconds", keyA, card, []step{fail(503, checkout.CodeInternal, map[string]string{"retry-after": "7"}), ok(card, keyA)},
			want{sent: []string{keyA, keyA}, stored: keyA, delays: []time.Duration{7 * time.Second}}},
		{"RetryAfterAnyCase", keyA, card, []step{fail(503, checkout.CodeInternal, map[string]string{"Retry-After": "3"}), ok(card, keyA)},
			want{sent: []string{keyA, keyA}, stored: keyA, delays: []time.Duration{3 * time.Second}}},
		{"RetryAfterHTTPDate", keyA, card, []step{fail(503, checkout.CodeInternal, map[string]string{"retry-after": now.Add(5 * time.Second).Format("Mon, 02 Jan 2006 15:04:05 GMT")}), ok(card, keyA)},
			want{sent: []string{keyA, keyA}, stored: keyA, delays: []time.Duration{5 * time.Second}}},
		{"RetryAfterPastDate", keyA, card, []step{fail(503, checkout.CodeInternal, map[string]string{"retry-after": "Fri, 01 Jan 2021 00:00:00 GMT"}), ok(card, keyA)},
			want{sent: []string{keyA, keyA}, stored: keyA, delays: []time.Duration{0}}},
		{"RetryAfterUnreadableFallsBackToBackoff", keyA, card, []step{fail(503, checkout.CodeInternal, map[string]string{"retry-after": "soon"}), ok(card, keyA)},
			want{sent: []string{keyA, keyA}, stored: keyA, delays: []time.Duration{125 * time.Millisecond}}},
		{"RetryAfterTooLongGivesUp", keyA, card, []step{fail(503, checkout.CodeInternal, map[string]string{"retry-after": "3600"})},
			want{sent: []string{keyA}, stored: keyA, kind: keyflow.KindGeneric, code: checkout.CodeInternal, status: 503, delays: []time.Duration{}}},
		{"NetworkErrorsExhausted", keyA, card, []step{netErr(), netErr(), netErr(), netErr()},
			want{sent: []string{keyA, keyA, keyA, keyA}, stored: keyA, kind: keyflow.KindGeneric, code: keyflow.CodeNetworkError, status: 0,
				delays: []time.Duration{125 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond}}},
		{"5xxExhausted", keyA, card, []step{fail(500, checkout.CodeInternal, nil), fail(503, checkout.CodeInternal, nil), fail(500, checkout.CodeInternal, nil), fail(500, checkout.CodeInternal, nil)},
			want{sent: []string{keyA, keyA, keyA, keyA}, stored: keyA, kind: keyflow.KindGeneric, code: checkout.CodeInternal, status: 500}},
		{"5xxHTMLExhausted", keyA, card, []step{{status: 502, body: "<html>bad gateway</html>"}, {status: 502}, {status: 502}, {status: 502}},
			want{sent: []string{keyA, keyA, keyA, keyA}, stored: keyA, kind: keyflow.KindGeneric, code: keyflow.CodeUnexpectedResponse, status: 502}},
		{"InProgressExhausted", keyA, card, []step{fail(409, checkout.CodeRequestInProgress, nil), fail(409, checkout.CodeRequestInProgress, nil), fail(409, checkout.CodeRequestInProgress, nil), fail(409, checkout.CodeRequestInProgress, nil)},
			want{sent: []string{keyA, keyA, keyA, keyA}, stored: keyA, kind: keyflow.KindGeneric, code: checkout.CodeRequestInProgress, status: 409}},
		{"PaymentUnavailableExhausted", keyA, card, []step{fail(502, checkout.CodePaymentUnavailable, nil), fail(502, checkout.CodePaymentUnavailable, nil), fail(502, checkout.CodePaymentUnavailable, nil), fail(502, checkout.CodePaymentUnavailable, nil)},
			want{sent: []string{keyA, keyA, keyA, keyA}, stored: keyA, kind: keyflow.KindPaymentUnavailable, code: checkout.CodePaymentUnavailable, status: 502}},
		{"PaymentIntentFailedExhausted", "", card, []step{fail(502, checkout.CodePaymentIntentFailed, nil), fail(502, checkout.CodePaymentIntentFailed, nil), fail(502, checkout.CodePaymentIntentFailed, nil), fail(502, checkout.CodePaymentIntentFailed, nil)},
			want{sent: []string{"", "", "", ""}, stored: "", kind: keyflow.KindPaymentUnavailable, code: checkout.CodePaymentIntentFailed, status: 502}},
		{"PaymentIntentFailedThenOK", "", card, []step{fail(502, checkout.CodePaymentIntentFailed, nil), ok(card, keyA)},
			want{sent: []string{"", ""}, stored: keyA}},
		{"AlreadyCompletedClearsAndRetriesOnce", keyA, card, []step{fail(409, checkout.CodePaymentAlreadyCompleted, nil), ok(card, keyB)},
			want{sent: []string{keyA, ""}, stored: keyB, delays: []time.Duration{}}},
		{"AlreadyCompletedTwice", keyA, card, []step{fail(409, checkout.CodePaymentAlreadyCompleted, nil), fail(409, checkout.CodePaymentAlreadyCompleted, nil)},
			want{sent: []string{keyA, ""}, stored: "", kind: keyflow.KindAlreadyCompleted, code: checkout.CodePaymentAlreadyCompleted, status: 409}},
		{"AlreadyCompletedRetryRidesOutTransient", keyA, card, []step{fail(409, checkout.CodePaymentAlreadyCompleted, nil), fail(503, checkout.CodeInternal, nil), netErr(), ok(card, keyB)},
			want{sent: []string{keyA, "", "", ""}, stored: keyB}},
		{"AlreadyCompletedThenValidation", keyA, card, []step{fail(409, checkout.CodePaymentAlreadyCompleted, nil), fail(422, checkout.CodeInvalidItems, nil)},
			want{sent: []string{keyA, ""}, stored: "", kind: keyflow.KindValidation, code: checkout.CodeInvalidItems, status: 422}},
		{"Unprocessable422NotRetried", keyA, card, []step{fail(422, checkout.CodeInvalidItems, nil)},
			want{sent: []string{keyA}, stored: keyA, kind: keyflow.KindValidation, code: checkout.CodeInvalidItems, status: 422, delays: []time.Duration{}}},
		{"BadRequest400", keyA, card, []step{fail(400, checkout.CodeInvalidRequest, nil)},
			want{sent: []string{keyA}, stored: keyA, kind: keyflow.KindValidation, code: checkout.CodeInvalidRequest, status: 400}},
		{"TooLarge413", "", card, []step{fail(413, checkout.CodeRequestTooLarge, nil)},
			want{sent: []string{""}, kind: keyflow.KindValidation, code: checkout.CodeRequestTooLarge, status: 413}},
		{"NotFoundHTML404", "", card, []step{{status: 404, body: "<h1>404</h1>"}},
			want{sent: []string{""}, kind: keyflow.KindValidation, code: keyflow.CodeUnexpectedResponse, status: 404}},
		{"OtherConflictNotRetried", keyA, card, []step{fail(409, "conflict", nil)},
			want{sent: []string{keyA}, stored: keyA, kind: keyflow.KindValidation, code: "conflict", status: 409}},
		{"MalformedJSON200", keyA, card, []step{{status: 200, body: `{"order":`}},
			want{sent: []string{keyA}, stored: keyA, kind: keyflow.KindGeneric, code: keyflow.CodeUnexpectedResponse, status: 200}},
		{"Redirect3xxIsGeneric", "", card, []step{{status: 304}},
			want{sent: []string{""}, kind: keyflow.KindGeneric, code: keyflow.CodeUnexpectedResponse, status: 304}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.stored, tt.steps...)
			h.client.BaseDelay = 250 * keyflow.Millisecond
			h.client.MaxDelay = 4 * keyflow.Second
			resp, err := h.client.ValidateCartItems(context.Background(), request(tt.method))

			if !reflect.DeepEqual(h.tr.keys, tt.want.sent) {
				t.Errorf("keys sent = %q, want %q", h.tr.keys, tt.want.sent)
			}
			if len(h.tr.steps) != 0 {
				t.Errorf("%d scripted responses unused", len(h.tr.steps))
			}
			checkNonces(t, tt.method, h.tr)
			gotKey, gotOK := h.store.Get()
			if gotKey != tt.want.stored || gotOK != (tt.want.stored != "") {
				t.Errorf("stored = %q, %v; want %q", gotKey, gotOK, tt.want.stored)
			}
			if tt.want.delays != nil && !equalDelays(h.delays, tt.want.delays) {
				t.Errorf("delays = %v, want %v", h.delays, tt.want.delays)
			}
			if tt.want.kind == "" {
				if err != nil {
					t.Fatalf("err = %v, want nil", err)
				}
				if resp.Order.Amount != 5000 {
					t.Errorf("response = %+v", resp)
				}
				return
			}
			var rej *keyflow.Rejection
			if !errors.As(err, &rej) {
				t.Fatalf("err = %v (%T), want *Rejection", err, err)
			}
			if rej.Kind != tt.want.kind || rej.Code != tt.want.code || rej.Status != tt.want.status || rej.Message == "" {
				t.Errorf("rejection = %+v, want kind %s code %s status %d and a message", rej, tt.want.kind, tt.want.code, tt.want.status)
			}
		})
	}
}

// checkNonces checks the Idempotency-Key headers of one validation's
// requests: present exactly when no key is sent (for a method that uses
// keys), the same on the retries of one send, a new one for the send
// without a key after payment_already_completed.
func checkNonces(t *testing.T, method checkout.PaymentMethod, tr *fakeTransport) {
	t.Helper()
	seen := map[string]bool{}
	for i, key := range tr.keys {
		nonce := tr.nonces[i]
		if want := key == "" && method.UsesKey(); (nonce != "") != want {
			t.Errorf("request %d (key %q): nonce header %q, want one: %v", i+1, key, nonce, want)
		}
		if nonce == "" {
			continue
		}
		if i > 0 && tr.keys[i-1] == "" && tr.nonces[i-1] != nonce {
			t.Errorf("request %d: nonce %q, its previous attempt sent %q", i+1, nonce, tr.nonces[i-1])
		}
		if (i == 0 || tr.keys[i-1] != "") && seen[nonce] {
			t.Errorf("request %d: nonce %q reused by a new first validation", i+1, nonce)
		}
		seen[nonce] = true
	}
}

func equalDelays(got, want []time.Duration) bool {
	return len(got) == len(want) && (len(got) == 0 || reflect.DeepEqual(got, want))
}

func TestValidateCartItemsRequestShape(t *testing.T) {
	tests := []struct {
		name, baseURL, wantURL string
	}{
		{"SameOrigin", "", "/api/orders/validate"},
		{"BaseURL", "https://shop.example", "https://shop.example/api/orders/validate"},
		{"BaseURLTrailingSlash", "https://shop.example/", "https://shop.example/api/orders/validate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "", ok(checkout.MethodCard, keyA))
			h.client.BaseURL = tt.baseURL
			req := request(checkout.MethodCard)
			req.Email = "a@example.com"
			req.IdempotencyKey = keyB // ignored: the store is the source of keys
			if _, err := h.client.ValidateCartItems(context.Background(), req); err != nil {
				t.Fatal(err)
			}
			got := h.tr.reqs[0]
			if got.Method != "POST" || got.URL != tt.wantURL || got.Header["Content-Type"] != "application/json" {
				t.Errorf("request = %s %s %v", got.Method, got.URL, got.Header)
			}
			const wantBody = `{"items":[{"product_id":"tee","quantity":2}],"payment_method":"CARD","email":"a@example.com"}`
			if string(got.Body) != wantBody {
				t.Errorf("body = %s, want %s", got.Body, wantBody)
			}
		})
	}
}

func TestValidateCartItemsLocalValidation(t *testing.T) {
	tests := []struct {
		name   string
		req    checkout.ValidateRequest
		code   checkout.Code
		status int
	}{
		{"NoItems", checkout.ValidateRequest{PaymentMethod: checkout.MethodCard}, checkout.CodeInvalidItems, 422},
		{"BadQuantity", checkout.ValidateRequest{Items: []checkout.Item{{ProductID: "tee", Quantity: 0}}, PaymentMethod: checkout.MethodCard}, checkout.CodeInvalidItems, 422},
		{"BadMethod", checkout.ValidateRequest{Items: []checkout.Item{{ProductID: "tee", Quantity: 1}}, PaymentMethod: "BITCOIN"}, checkout.CodeInvalidPaymentMethod, 422},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, keyA)
			_, err := h.client.ValidateCartItems(context.Background(), tt.req)
			var rej *keyflow.Rejection
			if !errors.As(err, &rej) || rej.Kind != keyflow.KindValidation || rej.Code != tt.code || rej.Status != tt.status {
				t.Fatalf("err = %v, want validation %s %d", err, tt.code, tt.status)
			}
			if len(h.tr.reqs) != 0 {
				t.Errorf("%d requests sent, want none", len(h.tr.reqs))
			}
			if k, _ := h.store.Get(); k != keyA {
				t.Errorf("stored key = %q, want it kept", k)
			}
		})
	}
}

func TestValidateCartItemsBackoff(t *testing.T) {
	t.Run("GrowsAndCaps", func(t *testing.T) {
		h := newHarness(t, keyA, netErr(), netErr(), netErr(), netErr(), netErr(), ok(checkout.MethodCard, keyA))
		h.client.MaxAttempts = 6
		h.client.BaseDelay = 100 * keyflow.Millisecond
		h.client.MaxDelay = keyflow.Second
		if _, err := h.client.ValidateCartItems(context.Background(), request(checkout.MethodCard)); err != nil {
			t.Fatal(err)
		}
		want := []time.Duration{50, 100, 200, 400, 500} // Rand = 0.5 of 100, 200, 400, 800, 1000 (capped)
		for i := range want {
			want[i] *= time.Millisecond
		}
		if !reflect.DeepEqual(h.delays, want) {
			t.Errorf("delays = %v, want %v", h.delays, want)
		}
	})
	t.Run("JitterWithinBounds", func(t *testing.T) {
		seen := map[time.Duration]bool{}
		for range 50 {
			h := newHarness(t, keyA, netErr(), netErr(), netErr(), netErr())
			h.client.Rand = nil // the default source
			h.client.BaseDelay = 100 * keyflow.Millisecond
			h.client.MaxDelay = 300 * keyflow.Millisecond
			_, err := h.client.ValidateCartItems(context.Background(), request(checkout.MethodCard))
			if err == nil {
				t.Fatal("want a rejection")
			}
			ceilings := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond}
			if len(h.delays) != len(ceilings) {
				t.Fatalf("delays = %v", h.delays)
			}
			for i, d := range h.delays {
				if d < 0 || d >= ceilings[i] {
					t.Errorf("delay %d = %v, want in [0, %v)", i+1, d, ceilings[i])
				}
				seen[d] = true
			}
		}
		if len(seen) < 10 {
			t.Errorf("only %d distinct delays in 150: not jittered", len(seen))
		}
	})
	t.Run("MaxAttempts", func(t *testing.T) {
		for _, n := range []int{1, 2, 5} {
			steps := make([]step, n)
			for i := range steps {
				steps[i] = fail(503, checkout.CodeInternal, nil)
			}
			h := newHarness(t, keyA, steps...)
			h.client.MaxAttempts = n
			_, err := h.client.ValidateCartItems(context.Background(), request(checkout.MethodCard))
			var rej *keyflow.Rejection
			if !errors.As(err, &rej) || rej.Status != 503 {
				t.Errorf("MaxAttempts %d: err = %v", n, err)
			}
			if len(h.tr.reqs) != n || len(h.delays) != n-1 {
				t.Errorf("MaxAttempts %d: %d requests, %d sleeps", n, len(h.tr.reqs), len(h.delays))
			}
		}
	})
}

func TestValidateCartItemsContext(t *testing.T) {
	t.Run("CancelDuringBackoffStopsRetries", func(t *testing.T) {
		h := newHarness(t, keyA, netErr(), netErr(), netErr(), netErr())
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		h.client.Sleep = func(ctx keyflow.Context, d keyflow.Duration) error {
			cancel()
			return ctx.Err()
		}
		_, err := h.client.ValidateCartItems(ctx, request(checkout.MethodCard))
		assertCanceled(t, err)
		if len(h.tr.reqs) != 1 {
			t.Errorf("%d requests, want 1", len(h.tr.reqs))
		}
	})
	t.Run("AlreadyCanceled", func(t *testing.T) {
		h := newHarness(t, keyA, ok(checkout.MethodCard, keyA))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := h.client.ValidateCartItems(ctx, request(checkout.MethodCard))
		assertCanceled(t, err)
		if len(h.tr.reqs) != 0 {
			t.Errorf("%d requests, want 0", len(h.tr.reqs))
		}
	})
}

func assertCanceled(t *testing.T, err error) {
	t.Helper()
	var rej *keyflow.Rejection
	if !errors.As(err, &rej) || rej.Kind != keyflow.KindGeneric || rej.Code != keyflow.CodeCanceled || rej.Status != 0 {
		t.Fatalf("err = %v, want generic canceled rejection", err)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err does not wrap context.Canceled")
	}
}

func TestRejectionJSON(t *testing.T) {
	rej := &keyflow.Rejection{Kind: keyflow.KindPaymentUnavailable, Code: checkout.CodePaymentUnavailable, Message: "payment unavailable", Status: 502}
	b, err := json.Marshal(rej)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"kind":"payment_unavailable","code":"payment_unavailable","message":"payment unavailable","status":502}`
	if string(b) != want {
		t.Errorf("json = %s, want %s", b, want)
	}
	if !strings.Contains(rej.Error(), "payment_unavailable") {
		t.Errorf("Error() = %q", rej.Error())
	}
}

func TestHandleRedirectReturn(t *testing.T) {
	tests := []struct {
		name string
		url  string
		want bool
	}{
		{"Succeeded", "https://shop.example/checkout?payment_intent=pi_1&payment_intent_client_secret=s&redirect_status=succeeded", true},
		{"SucceededWithFragment", "/checkout?redirect_status=succeeded#done", true},
		{"SucceededEscaped", "/checkout?redirect%5Fstatus=succe%65ded", true},
		{"Failed", "https://shop.example/checkout?payment_intent=pi_1&redirect_status=failed", false},
		{"Processing", "https://shop.example/checkout?redirect_status=processing", false},
		{"FirstValueWins", "/c?redirect_status=failed&redirect_status=succeeded", false},
		{"NoQuery", "https://shop.example/checkout", false},
		{"OnlyInFragment", "https://shop.example/checkout#redirect_status=succeeded", false},
		{"OtherParameter", "/c?not_redirect_status=succeeded", false},
		{"Empty", "", false},
		{"GarbageEscape", "https://shop.example/%zz?redirect_status=succeeded", false},
		{"GarbageSpaces", "not a url ?redirect_status=succeeded", false},
		{"GarbageControl", "/c?redirect_status=succeeded\x00", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, keyA)
			if got := h.client.HandleRedirectReturn(tt.url); got != tt.want {
				t.Errorf("HandleRedirectReturn(%q) = %v, want %v", tt.url, got, tt.want)
			}
			_, stored := h.store.Get()
			if stored == tt.want {
				t.Errorf("stored = %v after %v", stored, tt.want)
			}
		})
	}
}

func TestKeyPassthroughs(t *testing.T) {
	h := newHarness(t, "")
	if _, ok := h.client.StoredKey(); ok {
		t.Fatal("new store has a key")
	}
	if err := h.client.SetKey(keyA); err != nil {
		t.Fatal(err)
	}
	if k, ok := h.client.StoredKey(); !ok || k != keyA {
		t.Errorf("StoredKey = %q, %v", k, ok)
	}
	if err := h.client.SetKey("not-a-key"); checkout.ErrorCode(err) != checkout.CodeInvalidRequest {
		t.Errorf("SetKey(malformed) = %v, want invalid_request", err)
	}
	if k, _ := h.client.StoredKey(); k != keyA {
		t.Errorf("malformed SetKey replaced the key: %q", k)
	}
	h.client.ClearKey()
	if _, ok := h.client.StoredKey(); ok {
		t.Error("ClearKey kept the key")
	}
	h.client.SetKey(keyB)
	h.client.PaymentSucceeded()
	if _, ok := h.client.StoredKey(); ok {
		t.Error("PaymentSucceeded kept the key")
	}
}

func TestMemoryStore(t *testing.T) {
	var s keyflow.MemoryStore
	if k, ok := s.Get(); ok || k != "" {
		t.Fatalf("zero store = %q, %v", k, ok)
	}
	s.Set(keyA)
	s.Set(keyB)
	if k, ok := s.Get(); !ok || k != keyB {
		t.Errorf("Get = %q, %v", k, ok)
	}
	s.Clear()
	if _, ok := s.Get(); ok {
		t.Error("Clear kept the key")
	}
}

// TestConcurrent runs validations in parallel (also for the race
// detector): they take turns, so only the first starts without a key and
// every other one sends the key it stored.
func TestConcurrent(t *testing.T) {
	const n = 16
	steps := make([]step, n)
	for i := range steps {
		steps[i] = ok(checkout.MethodCard, keyA)
	}
	h := newHarness(t, "", steps...)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if _, err := h.client.ValidateCartItems(context.Background(), request(checkout.MethodCard)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if k, _ := h.store.Get(); k != keyA {
		t.Errorf("stored = %q", k)
	}
	withoutKey := 0
	for _, k := range h.tr.keys {
		if k == "" {
			withoutKey++
		}
	}
	if len(h.tr.keys) != n || withoutKey != 1 {
		t.Errorf("keys sent = %q, want one empty and the rest %q", h.tr.keys, keyA)
	}
}

// TestWaitingForTurnHonoursContext: a validation waiting for another one
// gives up when its ctx ends.
func TestWaitingForTurnHonoursContext(t *testing.T) {
	block := make(chan struct{})
	h := newHarness(t, "", netErr(), ok(checkout.MethodCard, keyA))
	h.client.Sleep = func(ctx keyflow.Context, d keyflow.Duration) error {
		<-block // the first validation sits in its backoff
		return nil
	}
	first := make(chan error, 1)
	go func() {
		_, err := h.client.ValidateCartItems(context.Background(), request(checkout.MethodCard))
		first <- err
	}()
	for {
		h.tr.mu.Lock()
		started := len(h.tr.reqs) > 0
		h.tr.mu.Unlock()
		if started {
			break
		}
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := h.client.ValidateCartItems(ctx, request(checkout.MethodCard))
	assertCanceled(t, err)
	close(block)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
}

func TestAsRejection(t *testing.T) {
	own := &keyflow.Rejection{Kind: keyflow.KindValidation, Code: "x", Message: "m", Status: 400}
	tests := []struct {
		name   string
		err    error
		kind   keyflow.Kind
		code   checkout.Code
		status int
	}{
		{"Rejection", fmt.Errorf("wrapped: %w", own), keyflow.KindValidation, "x", 400},
		{"CheckoutError", checkout.NewError(checkout.CodeInvalidItems, "no items"), keyflow.KindValidation, checkout.CodeInvalidItems, 422},
		{"CheckoutErrorInvalidRequest", checkout.NewError(checkout.CodeInvalidRequest, "bad"), keyflow.KindValidation, checkout.CodeInvalidRequest, 400},
		{"Other", errors.New("boom"), keyflow.KindGeneric, checkout.CodeInternal, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rej := keyflow.AsRejection(tt.err)
			if rej.Kind != tt.kind || rej.Code != tt.code || rej.Status != tt.status || rej.Message == "" {
				t.Errorf("AsRejection = %+v", rej)
			}
		})
	}
	if keyflow.AsRejection(nil) != nil {
		t.Error("AsRejection(nil) != nil")
	}
}

// TestLogAndMessages checks the texts keyflow builds without fmt.
func TestLogAndMessages(t *testing.T) {
	h := newHarness(t, "garbage", fail(503, checkout.CodeInternal, nil), fail(409, checkout.CodePaymentAlreadyCompleted, nil),
		ok(checkout.MethodCard, keyA), ok(checkout.MethodCard, keyB))
	var lines []string
	h.client.Log = func(msg string) { lines = append(lines, msg) }
	if _, err := h.client.ValidateCartItems(context.Background(), request(checkout.MethodCard)); err != nil {
		t.Fatal(err)
	}
	if _, err := h.client.ValidateCartItems(context.Background(), request(checkout.MethodCard)); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`onecharge: dropping malformed stored idempotency key: onecharge error: code=invalid_request message=idempotency_key must start with "ik_".`,
		"onecharge: attempt 1 of 4 failed (internal, status 503); retrying in 125ms",
		"onecharge: payment already completed for the stored key; clearing it and starting a new checkout",
		"onecharge: the server rotated the idempotency key",
	}
	if !reflect.DeepEqual(lines, want) {
		t.Errorf("log =\n%q\nwant\n%q", lines, want)
	}

	h = newHarness(t, keyA, fail(503, checkout.CodeInternal, map[string]string{"retry-after": "3600"}))
	lines = nil
	h.client.Log = func(msg string) { lines = append(lines, msg) }
	h.client.ValidateCartItems(context.Background(), request(checkout.MethodCard))
	if want := []string{"onecharge: giving up: the server asks to retry after 1h0m0s"}; !reflect.DeepEqual(lines, want) {
		t.Errorf("log = %q, want %q", lines, want)
	}

	h = newHarness(t, keyA, step{status: 404, body: "<h1>404</h1>"})
	_, err := h.client.ValidateCartItems(context.Background(), request(checkout.MethodCard))
	const wantErr = "onecharge: validation: unexpected_response (status 404): The server answered with HTTP status 404."
	if err == nil || err.Error() != wantErr {
		t.Errorf("err = %v, want %s", err, wantErr)
	}
}
