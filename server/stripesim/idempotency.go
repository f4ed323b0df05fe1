package stripesim

import (
	"sync"
	"time"
)

// idemStore remembers Idempotency-Keys as Stripe does: per API key, for a
// TTL, with the first response of each key.
type idemStore struct {
	mu       sync.Mutex
	m        map[string]*idemEntry // scope (API key + "\x00" + key) → entry
	inflight int
	inserts  int
}

type idemEntry struct {
	fingerprint string
	created     time.Time
	done        bool // finished (resp is stored) or abandoned
	resp        response
	requestID   string
}

type claimOutcome int

const (
	claimNew      claimOutcome = iota // the caller processes the request and calls finish
	claimReplay                       // entry.resp is the stored response
	claimInFlight                     // another request with the key is running
	claimMismatch                     // the key was used with other parameters
)

func (st *idemStore) claim(scope, fp string, now time.Time, ttl time.Duration) (*idemEntry, claimOutcome) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if e, ok := st.m[scope]; ok && now.Sub(e.created) < ttl {
		switch {
		case e.fingerprint != fp:
			return e, claimMismatch
		case !e.done:
			return e, claimInFlight
		default:
			return e, claimReplay
		}
	}
	st.inserts++
	if st.inserts%256 == 0 {
		for k, e := range st.m {
			if e.done && now.Sub(e.created) >= ttl {
				delete(st.m, k)
			}
		}
	}
	e := &idemEntry{fingerprint: fp, created: now}
	st.m[scope] = e
	st.inflight++
	return e, claimNew
}

// finish stores resp for the key, or forgets the key when resp is not to be
// saved (the request was rejected before the endpoint ran).
func (st *idemStore) finish(scope string, e *idemEntry, resp response) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if e.done {
		return
	}
	e.done = true
	st.inflight--
	if resp.save {
		e.resp = resp
	} else if st.m[scope] == e {
		delete(st.m, scope)
	}
}

// abandon forgets a key whose request never finished (a panic).
func (st *idemStore) abandon(scope string, e *idemEntry) { st.finish(scope, e, response{}) }
