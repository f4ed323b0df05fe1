package cfsocket

import (
	"context"
	"net"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
)

// CancelGrace is how long a query whose context ended waits for the
// server to honour the cancel request before its connection's deadline
// interrupts the read (and the connection is closed).
const CancelGrace = time.Second

// ConfigureWith returns a postgres.Config.Configure function that dials
// over raw:
//   - DialFunc is [Dial] over raw, for every host of cfg and its fallbacks;
//   - LookupFunc returns the host unchanged ([LookupHost]);
//   - a query whose context ends is stopped for real: pgx sends a cancel
//     request at once (PostgreSQL aborts the statement and the connection
//     stays usable), and after [CancelGrace] sets a deadline, which Conn
//     honours even on a blocked read.
func ConfigureWith(raw RawDial) func(*pgconn.Config) {
	return func(cfg *pgconn.Config) {
		cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
			return Dial(ctx, network, addr, raw)
		}
		cfg.LookupFunc = LookupHost
		cfg.BuildContextWatcherHandler = func(pc *pgconn.PgConn) ctxwatch.Handler {
			return &pgconn.CancelRequestContextWatcherHandler{Conn: pc, CancelRequestDelay: 0, DeadlineDelay: CancelGrace}
		}
	}
}
