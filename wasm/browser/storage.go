//go:build js && wasm

package browser

import (
	"errors"
	"sync"
	"syscall/js"
)

// StorageKey is the localStorage entry holding the idempotency key: a
// plain string, without expiry (the server owns the key's lifecycle).
const StorageKey = "checkout-idempotency-key"

// LocalStorage is a keyflow.Store over window.localStorage. When
// localStorage is missing or any call to it throws (storage disabled,
// sandboxed frames, Safari's private mode, a full quota), it keeps the key
// in memory for the life of the page from then on, and says so once with
// console.warn.
type LocalStorage struct {
	// Warn reports the fall-back, once; the default is console.warn.
	Warn func(msg string)

	mu       sync.Mutex
	fallback bool
	key      string
	ok       bool
	// onChange is the Watch callback; heardKey and heardOK what it was
	// last told (the key when Watch was called, at first).
	onChange func(key string, ok bool)
	heardKey string
	heardOK  bool
}

// NewLocalStorage returns a Store over localStorage.
func NewLocalStorage() *LocalStorage {
	return &LocalStorage{Warn: func(msg string) { console("warn", msg) }}
}

// storage returns globalThis.localStorage.
func storage() (js.Value, error) {
	ls, err := get(global, "localStorage")
	if err != nil {
		return js.Value{}, err
	}
	if isNullish(ls) {
		return js.Value{}, errors.New("localStorage is not available")
	}
	return ls, nil
}

// call runs localStorage[method](args...).
func call(method string, args ...any) (v js.Value, err error) {
	ls, err := storage()
	if err != nil {
		return v, err
	}
	err = try(func() { v = ls.Call(method, args...) })
	return v, err
}

// fallBack switches to memory; s.mu is held.
func (s *LocalStorage) fallBack(reason error) {
	if s.fallback {
		return
	}
	s.fallback = true
	if s.Warn != nil {
		s.Warn("onecharge: localStorage is unusable (" + reason.Error() + "); the checkout idempotency key is kept in memory for this page only.")
	}
}

// Get implements keyflow.Store.
func (s *LocalStorage) Get() (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.fallback {
		v, err := call("getItem", StorageKey)
		if err == nil {
			// Mirror what localStorage holds, for a later fall-back.
			s.key, s.ok = "", false
			if v.Type() == js.TypeString && v.String() != "" {
				s.key, s.ok = v.String(), true
			}
			return s.key, s.ok
		}
		s.fallBack(err)
	}
	return s.key, s.ok
}

// Set implements keyflow.Store.
func (s *LocalStorage) Set(key string) {
	s.mu.Lock()
	s.key, s.ok = key, true
	if !s.fallback {
		if _, err := call("setItem", StorageKey, key); err != nil {
			s.fallBack(err)
		}
	}
	s.mu.Unlock()
	s.report(key, true)
}

// Clear implements keyflow.Store.
func (s *LocalStorage) Clear() {
	s.mu.Lock()
	s.key, s.ok = "", false
	if !s.fallback {
		if _, err := call("removeItem", StorageKey); err != nil {
			s.fallBack(err)
		}
	}
	s.mu.Unlock()
	s.report("", false)
}

// report tells the Watch callback of (key, ok) when that differs from what
// it was last told. It is called without s.mu held and calls the callback
// without it: the callback runs the page's code, which may call back into
// the store.
func (s *LocalStorage) report(key string, ok bool) {
	s.mu.Lock()
	fn := s.onChange
	differs := key != s.heardKey || ok != s.heardOK
	if differs {
		s.heardKey, s.heardOK = key, ok
	}
	s.mu.Unlock()
	if differs && fn != nil {
		fn(key, ok)
	}
}

// Watch calls onChange with the stored key (ok false: none) whenever it
// changes: through Set and Clear in this page, and in another tab of the
// origin, which the browser tells every other page sharing the
// localStorage with a storage event. On any storage event the entry is
// read again, and onChange called if it differs from what it was last
// told. It replaces any previous callback. Once the store has fallen back
// to memory, its key is its own and other tabs cannot change it.
func (s *LocalStorage) Watch(onChange func(key string, ok bool)) {
	key, ok := s.Get()
	s.mu.Lock()
	s.onChange, s.heardKey, s.heardOK = onChange, key, ok
	s.mu.Unlock()
	// Kept for the life of the page, like the module. Without
	// addEventListener (outside a window) only this page's changes are
	// reported.
	listener := js.FuncOf(func(js.Value, []js.Value) any {
		s.report(s.Get())
		return nil
	})
	if try(func() { global.Call("addEventListener", "storage", listener) }) != nil {
		listener.Release()
	}
}
