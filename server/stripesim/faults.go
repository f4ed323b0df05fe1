package stripesim

import (
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Fault is an injected failure for the requests it matches. Faults are
// matched against the path as the simulator sees it (after the mount
// prefix is stripped), e.g. "/v1/payment_intents".
//
// Per request the simulator first decides an error answer (ErrorCount,
// then ErrorRate): that request is answered ErrorStatus before anything is
// processed. Otherwise it waits Latency (after claiming the request's
// Idempotency-Key, so a concurrent request with the same key sees it in
// flight), processes the request, and then, when the request is picked
// for a drop (DropCount, then DropRate), closes the connection without
// answering: the change is committed, the client sees a network error.
// Hosted pages (/challenge/…, /checkout/…) take latency and errors, not drops.
type Fault struct {
	// Method matches the request method; "" or "*" matches any.
	Method string
	// Path matches the request path; "", "*" or "all" match every path.
	// Otherwise "*" in a segment matches any one segment
	// ("/v1/payment_intents/*/confirm"), and a trailing "/**" matches any
	// remainder.
	Path string

	// Latency is added to every matching request.
	Latency time.Duration

	// ErrorStatus is the injected answer: 500 (the default) or 503
	// (which stripe-go retries, also for POST).
	ErrorStatus int
	// ErrorCount answers the next ErrorCount matching requests with ErrorStatus.
	ErrorCount int
	// ErrorRate (0..1) is the probability of answering ErrorStatus once
	// ErrorCount is used up.
	ErrorRate float64

	// DropCount drops the responses of the next DropCount matching requests.
	DropCount int
	// DropRate (0..1) is the probability of dropping a response once
	// DropCount is used up.
	DropRate float64
}

// FaultID identifies an added Fault.
type FaultID int

// AddFault adds f; it applies to requests that start afterwards. Several
// matching faults add their latencies; the first that decides an error or
// drop wins. Safe for concurrent use.
func (s *Sim) AddFault(f Fault) FaultID { return s.faults.add(f) }

// RemoveFault removes the fault id.
func (s *Sim) RemoveFault(id FaultID) { s.faults.remove(id) }

// ClearFaults removes every fault.
func (s *Sim) ClearFaults() { s.faults.clear() }

type faultSet struct {
	mu     sync.Mutex
	next   FaultID
	faults []*faultRule
}

type faultRule struct {
	id FaultID
	f  Fault // counts are decremented in place
}

type faultAction struct {
	latency time.Duration
	status  int // an error to answer instead of processing
	drop    bool
}

func (fs *faultSet) add(f Fault) FaultID {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.next++
	if f.ErrorStatus == 0 {
		f.ErrorStatus = http.StatusInternalServerError
	}
	fs.faults = append(fs.faults, &faultRule{id: fs.next, f: f})
	return fs.next
}

func (fs *faultSet) remove(id FaultID) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for i, r := range fs.faults {
		if r.id == id {
			fs.faults = append(fs.faults[:i], fs.faults[i+1:]...)
			return
		}
	}
}

func (fs *faultSet) clear() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.faults = nil
}

// decide picks what happens to one request, consuming counts.
func (fs *faultSet) decide(method, path string) faultAction {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var act faultAction
	for _, r := range fs.faults {
		f := &r.f
		if !matchMethod(f.Method, method) || !matchPath(f.Path, path) {
			continue
		}
		act.latency += f.Latency
		if act.status == 0 {
			switch {
			case f.ErrorCount > 0:
				f.ErrorCount--
				act.status = f.ErrorStatus
			case f.ErrorRate > 0 && rand.Float64() < f.ErrorRate:
				act.status = f.ErrorStatus
			}
		}
		if act.status == 0 && !act.drop {
			switch {
			case f.DropCount > 0:
				f.DropCount--
				act.drop = true
			case f.DropRate > 0 && rand.Float64() < f.DropRate:
				act.drop = true
			}
		}
	}
	if act.status != 0 {
		act.drop = false
	}
	return act
}

func matchMethod(pattern, method string) bool {
	return pattern == "" || pattern == "*" || strings.EqualFold(pattern, method)
}

func matchPath(pattern, path string) bool {
	switch pattern {
	case "", "*", "all":
		return true
	}
	ps := strings.Split(strings.Trim(pattern, "/"), "/")
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for i, p := range ps {
		if p == "**" && i == len(ps)-1 {
			return true
		}
		if i >= len(segs) || (p != "*" && p != segs[i]) {
			return false
		}
	}
	return len(ps) == len(segs)
}
