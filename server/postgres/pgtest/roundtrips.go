package pgtest

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
)

// RoundTrips is a pgx tracer (pgx.QueryTracer and pgx.BatchTracer) that
// counts what the pool sends: a query, or a whole pipelined
// batch, is one round trip.
type RoundTrips struct {
	mu      sync.Mutex
	n       atomic.Int64
	queries []string // guarded by mu
}

func (r *RoundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	r.add(d.SQL)
	return ctx
}
func (r *RoundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (r *RoundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchStartData) context.Context {
	r.add("batch of " + strings.Repeat("q", d.Batch.Len()))
	return ctx
}
func (r *RoundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (r *RoundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

func (r *RoundTrips) add(sql string) {
	r.n.Add(1)
	r.mu.Lock()
	r.queries = append(r.queries, strings.Join(strings.Fields(sql), " "))
	r.mu.Unlock()
}

// Count returns how many round trips fn takes.
func (r *RoundTrips) Count(fn func()) int64 {
	r.mu.Lock()
	r.queries = nil
	r.mu.Unlock()
	before := r.n.Load()
	fn()
	return r.n.Load() - before
}

// Queries returns the statements of the last Count, whitespace folded.
func (r *RoundTrips) Queries() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.queries...)
}
