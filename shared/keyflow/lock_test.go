package keyflow_test

import (
	"context"
	"encoding/json"
	"errors"
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

// TestNonceHeader: a validation without a key carries a nonce in the
// Idempotency-Key header, the same on every retry; one with a key carries
// none; the retry after payment_already_completed is a new first
// validation with a new nonce.
func TestNonceHeader(t *testing.T) {
	const card, cod = checkout.MethodCard, checkout.MethodCashOnDelivery
	inProgress := fail(409, checkout.CodeRequestInProgress, map[string]string{"retry-after": "0"})
	tests := []struct {
		name   string
		stored string
		method checkout.PaymentMethod
		steps  []step
		keys   []string
		nonces []string
	}{
		{"FirstValidation", "", card, []step{ok(card, keyA)},
			[]string{""}, []string{"nonce-1"}},
		{"SameOnEveryRetry", "", card, []step{fail(503, checkout.CodeInternal, nil), netErr(), inProgress, ok(card, keyA)},
			[]string{"", "", "", ""}, []string{"nonce-1", "nonce-1", "nonce-1", "nonce-1"}},
		{"NoneWithAKey", keyA, card, []step{netErr(), ok(card, keyA)},
			[]string{keyA, keyA}, []string{"", ""}},
		{"NewAfterAlreadyCompleted", keyA, card, []step{fail(409, checkout.CodePaymentAlreadyCompleted, nil), netErr(), ok(card, keyB)},
			[]string{keyA, "", ""}, []string{"", "nonce-1", "nonce-1"}},
		{"MalformedStoredKeyIsAFirstValidation", "garbage", card, []step{ok(card, keyA)},
			[]string{""}, []string{"nonce-1"}},
		{"NoneForCashOnDelivery", "", cod, []step{ok(cod, "")},
			[]string{""}, []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.stored, tt.steps...)
			if _, err := h.client.ValidateCartItems(context.Background(), request(tt.method)); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(h.tr.keys, tt.keys) || !reflect.DeepEqual(h.tr.nonces, tt.nonces) {
				t.Errorf("sent keys %q nonces %q, want %q %q", h.tr.keys, h.tr.nonces, tt.keys, tt.nonces)
			}
		})
	}

	t.Run("NewForEachValidation", func(t *testing.T) {
		// A first validation that fails for good, then another one: the
		// second is a new validation (the shopper clicked again), with a
		// new nonce.
		h := newHarness(t, "", fail(422, checkout.CodeInvalidItems, nil), ok(checkout.MethodCard, keyA))
		h.client.ValidateCartItems(context.Background(), request(checkout.MethodCard))
		if _, err := h.client.ValidateCartItems(context.Background(), request(checkout.MethodCard)); err != nil {
			t.Fatal(err)
		}
		if want := []string{"nonce-1", "nonce-2"}; !reflect.DeepEqual(h.tr.nonces, want) {
			t.Errorf("nonces %q, want %q", h.tr.nonces, want)
		}
	})
	t.Run("NewAfterClear", func(t *testing.T) {
		// The first checkout's nonce is never sent again: after its key is
		// cleared (payment_already_completed), the retry draws a new one.
		h := newHarness(t, "", ok(checkout.MethodCard, keyA), fail(409, checkout.CodePaymentAlreadyCompleted, nil), ok(checkout.MethodCard, keyB))
		for range 2 {
			if _, err := h.client.ValidateCartItems(context.Background(), request(checkout.MethodCard)); err != nil {
				t.Fatal(err)
			}
		}
		if want := []string{"", keyA, ""}; !reflect.DeepEqual(h.tr.keys, want) {
			t.Errorf("keys %q, want %q", h.tr.keys, want)
		}
		if want := []string{"nonce-1", "", "nonce-2"}; !reflect.DeepEqual(h.tr.nonces, want) {
			t.Errorf("nonces %q, want %q", h.tr.nonces, want)
		}
		if k, _ := h.store.Get(); k != keyB {
			t.Errorf("stored %q, want %q", k, keyB)
		}
	})
	t.Run("EmptySourceFallsBack", func(t *testing.T) {
		h := newHarness(t, "", ok(checkout.MethodCard, keyA))
		h.client.Nonce = func() string { return "" }
		if _, err := h.client.ValidateCartItems(context.Background(), request(checkout.MethodCard)); err != nil {
			t.Fatal(err)
		}
		if n := h.tr.nonces[0]; checkout.ValidateNonce(n) != nil || !strings.Contains(n, ".") {
			t.Errorf("sent nonce %q, want NewNonce's", n)
		}
	})
	t.Run("DefaultSource", func(t *testing.T) {
		h := newHarness(t, "", netErr(), ok(checkout.MethodCard, keyA))
		h.client.Nonce = nil
		if _, err := h.client.ValidateCartItems(context.Background(), request(checkout.MethodCard)); err != nil {
			t.Fatal(err)
		}
		if n := h.tr.nonces; len(n) != 2 || n[0] == "" || n[0] != n[1] || checkout.ValidateNonce(n[0]) != nil {
			t.Errorf("nonces %q, want one valid nonce twice", n)
		}
	})
}

func TestNewNonce(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		n := keyflow.NewNonce()
		a, b, ok := strings.Cut(n, ".")
		if !ok || a == "" || b == "" || len(n) > 27 || strings.Trim(a+b, "0123456789abcdefghijklmnopqrstuvwxyz") != "" || checkout.ValidateNonce(n) != nil {
			t.Fatalf("NewNonce() = %q, want two base-36 numbers joined by a dot", n)
		}
		if seen[n] {
			t.Fatalf("NewNonce() repeated %q", n)
		}
		seen[n] = true
	}
}

// chanLocker is a Locker shared by the Clients of one test, as the Web
// Locks API is by the tabs of an origin. It counts the Lock calls waiting.
type chanLocker struct {
	ch      chan struct{}
	waiting atomic.Int32
	events  *eventLog // optional
}

func newChanLocker() *chanLocker { return &chanLocker{ch: make(chan struct{}, 1)} }

func (l *chanLocker) Lock(ctx keyflow.Context) (func(), error) {
	l.waiting.Add(1)
	defer l.waiting.Add(-1)
	select {
	case l.ch <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	l.events.add("lock")
	var once sync.Once
	return func() {
		once.Do(func() {
			l.events.add("unlock")
			<-l.ch
		})
	}, nil
}

// eventLog records what happened, in order; a nil *eventLog records nothing.
type eventLog struct {
	mu     sync.Mutex
	events []string
}

func (e *eventLog) add(ev string) {
	if e == nil {
		return
	}
	e.mu.Lock()
	e.events = append(e.events, ev)
	e.mu.Unlock()
}

func (e *eventLog) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.events...)
}

// loggedStore is a MemoryStore that records its calls.
type loggedStore struct {
	keyflow.MemoryStore
	events *eventLog
}

func (s *loggedStore) Get() (string, bool) { s.events.add("get"); return s.MemoryStore.Get() }
func (s *loggedStore) Set(key string)      { s.events.add("set"); s.MemoryStore.Set(key) }
func (s *loggedStore) Clear()              { s.events.add("clear"); s.MemoryStore.Clear() }

// loggedTransport records each request among the events.
type loggedTransport struct {
	keyflow.Transport
	events *eventLog
}

func (tr loggedTransport) Do(ctx keyflow.Context, req keyflow.Request) (keyflow.Response, error) {
	tr.events.add("request")
	return tr.Transport.Do(ctx, req)
}

// TestLockBeforeReadingKey: the shared lock is taken before the stored key
// is read and released after the new key is stored, for the whole
// validation, the retry after payment_already_completed included.
func TestLockBeforeReadingKey(t *testing.T) {
	events := &eventLog{}
	store := &loggedStore{events: events}
	store.MemoryStore.Set(keyA)
	tr := &fakeTransport{steps: []step{fail(409, checkout.CodePaymentAlreadyCompleted, nil), ok(checkout.MethodCard, keyB)}}
	c := keyflow.New(store, loggedTransport{tr, events})
	locker := newChanLocker()
	locker.events = events
	c.Locker = locker
	if _, err := c.ValidateCartItems(context.Background(), request(checkout.MethodCard)); err != nil {
		t.Fatal(err)
	}
	// remember reads the store before it writes, to tell a rotation.
	want := []string{"lock", "get", "request", "clear", "request", "get", "set", "unlock"}
	if got := events.list(); !reflect.DeepEqual(got, want) {
		t.Errorf("events = %q, want %q", got, want)
	}
	if len(locker.ch) != 0 {
		t.Error("the lock is still held")
	}
}

// fakeServer answers validations as the server does (section 5, rules 3,
// 4 and 6, simplified): a request without a key starts a checkout unless
// its nonce was seen; a known key is replayed; a completed key is 409.
// While gate is open, requests wait on it.
type fakeServer struct {
	mu        sync.Mutex
	gate      chan struct{} // closed: requests go through
	inFlight  int           // requests waiting on the gate
	checkouts int
	issued    map[string]bool
	completed map[string]bool
	byNonce   map[string]string
	keys      []string // keys sent, "" for none, in arrival order
}

func newFakeServer() *fakeServer {
	return &fakeServer{gate: make(chan struct{}), issued: map[string]bool{}, completed: map[string]bool{}, byNonce: map[string]string{}}
}

func (s *fakeServer) Do(ctx keyflow.Context, req keyflow.Request) (keyflow.Response, error) {
	var body checkout.ValidateRequest
	if err := json.Unmarshal(req.Body, &body); err != nil {
		return keyflow.Response{}, err
	}
	s.mu.Lock()
	s.keys = append(s.keys, body.IdempotencyKey)
	s.inFlight++
	s.mu.Unlock()
	select {
	case <-s.gate:
	case <-ctx.Done():
		return keyflow.Response{}, ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inFlight--
	answer := func(st step) (keyflow.Response, error) {
		return keyflow.Response{Status: st.status, Header: st.header, Body: []byte(st.body)}, nil
	}
	key := body.IdempotencyKey
	switch {
	case key != "" && s.completed[key]:
		return answer(fail(409, checkout.CodePaymentAlreadyCompleted, nil))
	case key != "" && s.issued[key]:
		return answer(ok(body.PaymentMethod, key))
	}
	nonce := req.Header[keyflow.NonceHeader]
	if k, seen := s.byNonce[nonce]; seen && nonce != "" {
		return answer(ok(body.PaymentMethod, k))
	}
	s.checkouts++
	k := "ik_" + strings.Repeat(strconv.Itoa(s.checkouts), 32)
	s.issued[k] = true
	if nonce != "" {
		s.byNonce[nonce] = k
	}
	return answer(ok(body.PaymentMethod, k))
}

func (s *fakeServer) state() (inFlight, requests, checkouts int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inFlight, len(s.keys), s.checkouts
}

// waitUntil polls cond for up to 5 seconds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestTwoClientsOneLocker: two Clients (two tabs) sharing one Store and
// one Locker check out at once with no stored key: the second waits for
// the lock while the first is at the server, then reads and sends the key
// the first stored. One checkout. Without the shared Locker (the
// fall-back), the same race makes two.
func TestTwoClientsOneLocker(t *testing.T) {
	for _, shared := range []bool{true, false} {
		t.Run("Shared="+strconv.FormatBool(shared), func(t *testing.T) {
			store := &keyflow.MemoryStore{}
			server := newFakeServer()
			locker := newChanLocker()
			var clients [2]*keyflow.Client
			for i := range clients {
				clients[i] = keyflow.New(store, server)
				if shared {
					clients[i].Locker = locker
				}
			}
			var wg sync.WaitGroup
			errs := make(chan error, 2)
			validate := func(c *keyflow.Client) {
				wg.Go(func() {
					_, err := c.ValidateCartItems(context.Background(), request(checkout.MethodCard))
					errs <- err
				})
			}
			validate(clients[0])
			waitUntil(t, "the first validation at the server", func() bool { in, _, _ := server.state(); return in == 1 })
			validate(clients[1])
			if shared {
				waitUntil(t, "the second validation waiting for the lock", func() bool { return locker.waiting.Load() == 1 })
				if in, n, _ := server.state(); in != 1 || n != 1 {
					t.Fatalf("%d requests at the server (%d in flight), want the first one only", n, in)
				}
			} else {
				waitUntil(t, "both validations at the server", func() bool { in, _, _ := server.state(); return in == 2 })
			}
			close(server.gate)
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			_, _, checkouts := server.state()
			first := "ik_" + strings.Repeat("1", 32)
			if shared {
				if want := []string{"", first}; checkouts != 1 || !reflect.DeepEqual(server.keys, want) {
					t.Errorf("%d checkouts, keys sent %q; want 1 and %q", checkouts, server.keys, want)
				}
				if k, _ := store.Get(); k != first {
					t.Errorf("stored %q, want %q", k, first)
				}
			} else if checkouts != 2 {
				t.Errorf("without the shared lock: %d checkouts, want 2 (the race the lock prevents)", checkouts)
			}
		})
	}
}

// TestTwoClientsAlreadyCompleted: two tabs holding a key whose payment
// completed validate at once. The first learns payment_already_completed,
// clears the key and starts one new checkout while holding the lock; the
// second then sends the new key. One new checkout, not two.
func TestTwoClientsAlreadyCompleted(t *testing.T) {
	store := &keyflow.MemoryStore{}
	store.Set(keyA)
	server := newFakeServer()
	server.issued[keyA], server.completed[keyA] = true, true
	close(server.gate)
	locker := newChanLocker()
	var wg sync.WaitGroup
	for range 2 {
		c := keyflow.New(store, server)
		c.Locker = locker
		wg.Go(func() {
			if _, err := c.ValidateCartItems(context.Background(), request(checkout.MethodCard)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	_, _, checkouts := server.state()
	newKey := "ik_" + strings.Repeat("1", 32)
	if want := []string{keyA, "", newKey}; checkouts != 1 || !reflect.DeepEqual(server.keys, want) {
		t.Errorf("%d checkouts, keys sent %q; want 1 and %q", checkouts, server.keys, want)
	}
}

// TestLostFirstResponse: the server issued a key but its answer was lost;
// the retry carries the same nonce and gets the same key: one checkout.
func TestLostFirstResponse(t *testing.T) {
	server := newFakeServer()
	close(server.gate)
	lost := &lossyTransport{Transport: server, lose: 1}
	h := newHarness(t, "")
	c := keyflow.New(h.store, lost)
	c.Sleep = h.client.Sleep
	if _, err := c.ValidateCartItems(context.Background(), request(checkout.MethodCard)); err != nil {
		t.Fatal(err)
	}
	_, requests, checkouts := server.state()
	if requests != 2 || checkouts != 1 {
		t.Errorf("%d requests, %d checkouts; want 2 and 1", requests, checkouts)
	}
	if k, _ := h.store.Get(); k != "ik_"+strings.Repeat("1", 32) {
		t.Errorf("stored %q, want the key of the lost answer", k)
	}
}

// lossyTransport passes requests on and loses the first lose answers.
type lossyTransport struct {
	keyflow.Transport
	lose int
}

func (tr *lossyTransport) Do(ctx keyflow.Context, req keyflow.Request) (keyflow.Response, error) {
	res, err := tr.Transport.Do(ctx, req)
	if err == nil && tr.lose > 0 {
		tr.lose--
		return keyflow.Response{}, errNetwork
	}
	return res, err
}

// failingLocker always fails, as navigator.locks.request does in an opaque
// origin.
type failingLocker struct{ calls atomic.Int32 }

func (l *failingLocker) Lock(keyflow.Context) (func(), error) {
	l.calls.Add(1)
	return nil, errors.New("SecurityError: the lock manager is unavailable")
}

// TestLockerFailureFallsBack: a Locker that fails does not fail the
// validation: it goes on with this Client's turn only, and says so.
func TestLockerFailureFallsBack(t *testing.T) {
	h := newHarness(t, "", ok(checkout.MethodCard, keyA), ok(checkout.MethodCard, keyA))
	locker := &failingLocker{}
	h.client.Locker = locker
	var lines []string
	h.client.Log = func(msg string) { lines = append(lines, msg) }
	for range 2 {
		if _, err := h.client.ValidateCartItems(context.Background(), request(checkout.MethodCard)); err != nil {
			t.Fatal(err)
		}
	}
	if want := []string{"", keyA}; !reflect.DeepEqual(h.tr.keys, want) {
		t.Errorf("keys sent %q, want %q", h.tr.keys, want)
	}
	if locker.calls.Load() != 2 || len(lines) != 2 || !strings.Contains(lines[0], "serialized in this tab only") || !strings.Contains(lines[0], "SecurityError") {
		t.Errorf("%d Lock calls, log %q", locker.calls.Load(), lines)
	}
}

// TestWaitingForLockHonoursContext: a validation waiting for the shared
// lock gives up when its ctx ends, sends nothing, and leaves this Client's
// turn free.
func TestWaitingForLockHonoursContext(t *testing.T) {
	locker := newChanLocker()
	locker.ch <- struct{}{} // another tab holds the lock
	h := newHarness(t, "", ok(checkout.MethodCard, keyA))
	h.client.Locker = locker
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := h.client.ValidateCartItems(ctx, request(checkout.MethodCard))
		done <- err
	}()
	waitUntil(t, "the validation waiting for the lock", func() bool { return locker.waiting.Load() == 1 })
	cancel()
	assertCanceled(t, <-done)
	if len(h.tr.reqs) != 0 {
		t.Errorf("%d requests, want none", len(h.tr.reqs))
	}
	<-locker.ch // the other tab is done
	if _, err := h.client.ValidateCartItems(context.Background(), request(checkout.MethodCard)); err != nil {
		t.Fatalf("the next validation: %v", err)
	}
	if len(locker.ch) != 0 {
		t.Error("the lock is still held")
	}
}

// boardLocker is a chanLocker with a Board: the lock manager of a browser,
// consistent across tabs where their localStorage is not.
type boardLocker struct {
	*chanLocker
	mu     sync.Mutex
	posts  []string
	reads  int
	latest func() (string, bool) // overrides the posts when set
}

func newBoardLocker() *boardLocker { return &boardLocker{chanLocker: newChanLocker()} }

func (b *boardLocker) Post(_ keyflow.Context, key string) error {
	b.events.add("post " + key)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.posts = append(b.posts, key)
	return nil
}

func (b *boardLocker) Latest(keyflow.Context) (string, bool) {
	b.events.add("latest")
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reads++
	if b.latest != nil {
		return b.latest()
	}
	if len(b.posts) == 0 {
		return "", false
	}
	return b.posts[len(b.posts)-1], true
}

func (b *boardLocker) state() (posts []string, reads int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.posts...), b.reads
}

// validateInTwoTabs validates one cart in tab A, then in tab B: each tab a
// Client with its own MemoryStore holding stored, both on server and
// sharing board (or, without the Board, only its lock). It returns B's
// store.
func validateInTwoTabs(t *testing.T, server *fakeServer, board *boardLocker, withBoard bool, stored string) *keyflow.MemoryStore {
	t.Helper()
	var storeA, storeB keyflow.MemoryStore
	if stored != "" {
		storeA.Set(stored)
		storeB.Set(stored)
	}
	a, b := keyflow.New(&storeA, server), keyflow.New(&storeB, server)
	a.Locker, b.Locker = board, board
	if !withBoard {
		a.Locker, b.Locker = board.chanLocker, board.chanLocker
	}
	for _, c := range []*keyflow.Client{a, b} {
		if _, err := c.ValidateCartItems(context.Background(), request(checkout.MethodCard)); err != nil {
			t.Fatal(err)
		}
	}
	return &storeB
}

// TestBoardBridgesStaleStorage: tab B takes the lock right after tab A
// stored a key, but B's storage does not show it yet (each Client has its
// own MemoryStore: the stalest view). With the Board, B sends the key A
// posted: one checkout. Without it, B starts a second one.
func TestBoardBridgesStaleStorage(t *testing.T) {
	first := "ik_" + strings.Repeat("1", 32)
	for _, withBoard := range []bool{true, false} {
		t.Run("Board="+strconv.FormatBool(withBoard), func(t *testing.T) {
			server := newFakeServer()
			close(server.gate)
			board := newBoardLocker()
			storeB := validateInTwoTabs(t, server, board, withBoard, "")
			_, _, checkouts := server.state()
			if !withBoard {
				if checkouts != 2 {
					t.Errorf("without the Board: %d checkouts, want 2 (the race the Board closes)", checkouts)
				}
				return
			}
			if want := []string{"", first}; checkouts != 1 || !reflect.DeepEqual(server.keys, want) {
				t.Errorf("%d checkouts, keys sent %q; want 1 and %q", checkouts, server.keys, want)
			}
			if k, _ := storeB.Get(); k != first {
				t.Errorf("B stored %q, want %q", k, first)
			}
			posts, _ := board.state()
			if want := []string{first, first}; !reflect.DeepEqual(posts, want) {
				t.Errorf("posts %q, want %q (A's new key, then B's store catching up)", posts, want)
			}
		})
	}
}

// TestBoardOrder: the Board is read after the lock is taken and the Store
// found empty, and the new key is posted before the lock is released.
func TestBoardOrder(t *testing.T) {
	events := &eventLog{}
	store := &loggedStore{events: events}
	board := newBoardLocker()
	board.events = events
	c := keyflow.New(store, loggedTransport{&fakeTransport{steps: []step{ok(checkout.MethodCard, keyA)}}, events})
	c.Locker = board
	if _, err := c.ValidateCartItems(context.Background(), request(checkout.MethodCard)); err != nil {
		t.Fatal(err)
	}
	want := []string{"lock", "get", "latest", "request", "get", "set", "get", "post " + keyA, "unlock"}
	if got := events.list(); !reflect.DeepEqual(got, want) {
		t.Errorf("events = %q, want %q", got, want)
	}

	// With a key in the Store, the Board is not read; nothing changed,
	// nothing is posted.
	events.events = nil
	c = keyflow.New(store, loggedTransport{&fakeTransport{steps: []step{ok(checkout.MethodCard, keyA)}}, events})
	c.Locker = board
	if _, err := c.ValidateCartItems(context.Background(), request(checkout.MethodCard)); err != nil {
		t.Fatal(err)
	}
	want = []string{"lock", "get", "request", "get", "unlock"}
	if got := events.list(); !reflect.DeepEqual(got, want) {
		t.Errorf("events = %q, want %q", got, want)
	}
}

// TestBoardPosts: what each change of the key posts, and when nothing is
// posted.
func TestBoardPosts(t *testing.T) {
	card := checkout.MethodCard
	tests := []struct {
		name   string
		stored string
		steps  []step
		posts  []string
	}{
		{"NewKey", "", []step{ok(card, keyA)}, []string{keyA}},
		{"Rotation", keyA, []step{ok(card, keyB)}, []string{keyB}},
		{"SameKey", keyA, []step{ok(card, keyA)}, nil},
		{"AlreadyCompleted", keyA, []step{fail(409, checkout.CodePaymentAlreadyCompleted, nil), ok(card, keyB)}, []string{keyB}},
		{"AlreadyCompletedTwice", keyA, []step{fail(409, checkout.CodePaymentAlreadyCompleted, nil), fail(409, checkout.CodePaymentAlreadyCompleted, nil)}, []string{""}},
		{"Failed", keyA, []step{fail(422, checkout.CodeInvalidItems, nil)}, nil},
		{"MalformedDropped", "garbage", []step{fail(422, checkout.CodeInvalidItems, nil)}, []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.stored, tt.steps...)
			board := newBoardLocker()
			h.client.Locker = board
			h.client.ValidateCartItems(context.Background(), request(checkout.MethodCard))
			if posts, _ := board.state(); !reflect.DeepEqual(posts, tt.posts) {
				t.Errorf("posts %q, want %q", posts, tt.posts)
			}
		})
	}

	t.Run("OutsideValidations", func(t *testing.T) {
		h := newHarness(t, "")
		board := newBoardLocker()
		h.client.Locker = board
		wait := func(n int) []string {
			t.Helper()
			var posts []string
			waitUntil(t, strconv.Itoa(n)+" posts", func() bool { posts, _ = board.state(); return len(posts) == n })
			return posts
		}
		h.client.SetKey(keyA)
		wait(1)
		h.client.ClearKey()
		wait(2)
		h.client.SetKey(keyB)
		wait(3)
		h.client.PaymentSucceeded()
		wait(4)
		h.client.SetKey(keyA)
		wait(5)
		h.client.HandleRedirectReturn("/?redirect_status=failed") // keeps the key: no post
		h.client.HandleRedirectReturn("/?redirect_status=succeeded")
		if posts := wait(6); !reflect.DeepEqual(posts, []string{keyA, "", keyB, "", keyA, ""}) {
			t.Errorf("posts %q", posts)
		}
	})
}

// TestBoardReads: what a validation finding its Store empty does with what
// the Board says.
func TestBoardReads(t *testing.T) {
	tests := []struct {
		name   string
		latest func() (string, bool)
		sent   string
	}{
		{"Nothing", func() (string, bool) { return "", false }, ""},
		{"Cleared", func() (string, bool) { return "", true }, ""},
		{"Key", func() (string, bool) { return keyB, true }, keyB},
		{"Malformed", func() (string, bool) { return "garbage", true }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "", ok(checkout.MethodCard, keyA))
			board := newBoardLocker()
			board.latest = tt.latest
			h.client.Locker = board
			if _, err := h.client.ValidateCartItems(context.Background(), request(checkout.MethodCard)); err != nil {
				t.Fatal(err)
			}
			if h.tr.keys[0] != tt.sent {
				t.Errorf("sent %q, want %q", h.tr.keys[0], tt.sent)
			}
			if (h.tr.nonces[0] != "") != (tt.sent == "") {
				t.Errorf("nonce %q with key %q", h.tr.nonces[0], tt.sent)
			}
		})
	}

	t.Run("NotWhenTheLockFailed", func(t *testing.T) {
		h := newHarness(t, "", ok(checkout.MethodCard, keyA))
		board := &failingBoard{}
		h.client.Locker = board
		if _, err := h.client.ValidateCartItems(context.Background(), request(checkout.MethodCard)); err != nil {
			t.Fatal(err)
		}
		if board.latestCalls != 0 || board.postCalls != 0 {
			t.Errorf("%d Latest, %d Post calls without the lock", board.latestCalls, board.postCalls)
		}
	})
}

// failingBoard is a Board whose lock always fails.
type failingBoard struct {
	failingLocker
	latestCalls, postCalls int
}

func (b *failingBoard) Post(keyflow.Context, string) error { b.postCalls++; return nil }
func (b *failingBoard) Latest(keyflow.Context) (string, bool) {
	b.latestCalls++
	return keyB, true
}

// TestBoardAlreadyCompletedStaleStorage: two tabs whose key's payment
// completed validate one after the other; the second's storage still
// shows the old key. The first learns payment_already_completed and starts
// the new checkout; the second learns it too, and then sends the key the
// first posted instead of starting another. One new checkout; without the
// Board, two.
func TestBoardAlreadyCompletedStaleStorage(t *testing.T) {
	newKey := "ik_" + strings.Repeat("1", 32)
	for _, withBoard := range []bool{true, false} {
		t.Run("Board="+strconv.FormatBool(withBoard), func(t *testing.T) {
			server := newFakeServer()
			server.issued[keyA], server.completed[keyA] = true, true
			close(server.gate)
			board := newBoardLocker()
			storeB := validateInTwoTabs(t, server, board, withBoard, keyA)
			_, _, checkouts := server.state()
			if !withBoard {
				if checkouts != 2 {
					t.Errorf("without the Board: %d checkouts, want 2", checkouts)
				}
				return
			}
			if want := []string{keyA, "", keyA, newKey}; checkouts != 1 || !reflect.DeepEqual(server.keys, want) {
				t.Errorf("%d checkouts, keys sent %q; want 1 and %q", checkouts, server.keys, want)
			}
			if k, _ := storeB.Get(); k != newKey {
				t.Errorf("B stored %q, want %q", k, newKey)
			}
		})
	}

	t.Run("PostedKeyIsTheCompletedOne", func(t *testing.T) {
		// The last post is the key that just completed: a new checkout.
		h := newHarness(t, keyA, fail(409, checkout.CodePaymentAlreadyCompleted, nil), ok(checkout.MethodCard, keyB))
		board := newBoardLocker()
		board.posts = []string{keyA}
		h.client.Locker = board
		if _, err := h.client.ValidateCartItems(context.Background(), request(checkout.MethodCard)); err != nil {
			t.Fatal(err)
		}
		if want := []string{keyA, ""}; !reflect.DeepEqual(h.tr.keys, want) || h.tr.nonces[1] == "" {
			t.Errorf("keys %q nonces %q, want %q and a nonce", h.tr.keys, h.tr.nonces, want)
		}
	})
}
