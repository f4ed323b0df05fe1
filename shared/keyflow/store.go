package keyflow

import "sync"

// Store keeps the idempotency key of the current checkout. Implementations
// handle their own storage failures (the browser store falls back to
// memory), so the methods return no errors. They must be safe for
// concurrent use.
type Store interface {
	// Get returns the stored key and whether there is one.
	Get() (key string, ok bool)
	// Set stores key, replacing any previous one.
	Set(key string)
	// Clear removes the stored key.
	Clear()
}

// MemoryStore is a Store in memory. The zero value is empty and ready.
type MemoryStore struct {
	mu  sync.Mutex
	key string
	ok  bool
}

// Get implements Store.
func (s *MemoryStore) Get() (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.key, s.ok
}

// Set implements Store.
func (s *MemoryStore) Set(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.key, s.ok = key, true
}

// Clear implements Store.
func (s *MemoryStore) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.key, s.ok = "", false
}
