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
	defer s.mu.Unlock()
	s.key, s.ok = key, true
	if !s.fallback {
		if _, err := call("setItem", StorageKey, key); err != nil {
			s.fallBack(err)
		}
	}
}

// Clear implements keyflow.Store.
func (s *LocalStorage) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.key, s.ok = "", false
	if !s.fallback {
		if _, err := call("removeItem", StorageKey); err != nil {
			s.fallBack(err)
		}
	}
}
