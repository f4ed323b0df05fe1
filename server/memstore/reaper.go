package memstore

import (
	"context"
	"sort"
	"time"

	"github.com/onecharge/onecharge/server/checkoutsvc"
)

// TryReaperLock takes the store's reaper lock without waiting. The memory
// store serves one process, so this only keeps two reapers of one process
// apart.
func (s *Store) TryReaperLock(ctx context.Context) (func(), bool, error) {
	if !s.reaping.TryLock() {
		return nil, false, nil
	}
	return s.reaping.Unlock, true, nil
}

// ReapableKeys lists unheld keys with a payable PaymentIntent unused since
// before idleBefore, oldest first.
func (s *Store) ReapableKeys(ctx context.Context, idleBefore, now time.Time, limit int) ([]checkoutsvc.KeyRecord, error) {
	idleBefore, now = checkoutsvc.NormTime(idleBefore), checkoutsvc.NormTime(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []checkoutsvc.KeyRecord
	for _, k := range s.keys {
		if reapable(k, idleBefore, now) {
			out = append(out, copyRecord(k))
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].LastUsedAt.Equal(out[j].LastUsedAt) {
			return out[i].LastUsedAt.Before(out[j].LastUsedAt)
		}
		return out[i].Key < out[j].Key
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func reapable(k *checkoutsvc.KeyRecord, idleBefore, now time.Time) bool {
	return k.PaymentIntentID != "" &&
		(k.PIStatus == checkoutsvc.StatusRequiresPaymentMethod || k.PIStatus == checkoutsvc.StatusRequiresConfirmation) &&
		k.LastUsedAt.Before(idleBefore) && !k.Held(now)
}

// ReplacedSessions lists open sessions that are not their user's newest.
func (s *Store) ReplacedSessions(ctx context.Context, limit int) ([]checkoutsvc.CheckoutSession, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	newest := map[string]*session{}
	for _, ss := range s.sessions {
		if n, ok := newest[ss.UserID]; !ok || ss.seq > n.seq {
			newest[ss.UserID] = ss
		}
	}
	var out []checkoutsvc.CheckoutSession
	for _, ss := range s.sessions {
		if ss.Status == checkoutsvc.SessionOpen && newest[ss.UserID] != ss {
			out = append(out, ss.CheckoutSession)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// CloseSessions sets the status of sessions still open.
func (s *Store) CloseSessions(ctx context.Context, statuses map[string]string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeSessions(statuses)
	return nil
}

// closeSessions sets the status of those of the sessions still open;
// s.mu is held.
func (s *Store) closeSessions(statuses map[string]string) {
	for id, status := range statuses {
		if ss, ok := s.sessions[id]; ok && ss.Status == checkoutsvc.SessionOpen {
			ss.Status = status
		}
	}
}

// DeleteBefore deletes what retention no longer keeps; orders stay.
func (s *Store) DeleteBefore(ctx context.Context, before, now time.Time, limit int) (checkoutsvc.Deleted, error) {
	before, now = checkoutsvc.NormTime(before), checkoutsvc.NormTime(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	var d checkoutsvc.Deleted
	for key, k := range s.keys {
		if d.Keys < limit && k.LastUsedAt.Before(before) && !k.Held(now) {
			delete(s.keys, key)
			if k.PaymentIntentID != "" {
				delete(s.byPI, k.PaymentIntentID)
			}
			d.Keys++
		}
	}
	for user, as := range s.aliases {
		for name, a := range as {
			if d.Aliases < limit && a.createdAt.Before(before) {
				delete(as, name)
				d.Aliases++
			}
		}
		if len(as) == 0 {
			delete(s.aliases, user)
		}
	}
	for id, at := range s.events {
		if d.Events < limit && at.Before(before) {
			delete(s.events, id)
			d.Events++
		}
	}
	for id, ss := range s.sessions {
		if d.Sessions < limit && ss.Status != checkoutsvc.SessionOpen && ss.createdAt.Before(before) {
			delete(s.sessions, id)
			d.Sessions++
		}
	}
	return d, nil
}
