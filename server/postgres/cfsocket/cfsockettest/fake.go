// Package cfsockettest is a fake of a Cloudflare Workers socket
// (cloudflare:sockets through syumai/workers) over a real TCP connection,
// with the quirks that package cfsocket works around, so that the
// adapter, and the Worker's handler over it, are tested natively.
package cfsockettest

import (
	"context"
	"net"
	"os"
	"sync"
	"time"
)

// Socket is the fake. Its quirks, as the real socket's:
//   - it dies when the context it was dialed with ends;
//   - RemoteAddr and LocalAddr are nil;
//   - a zero deadline counts as expired;
//   - a deadline is read when Read or Write starts: one set during the call
//     does not interrupt it.
type Socket struct {
	conn net.Conn
	ctx  context.Context

	mu            sync.Mutex
	readDeadline  time.Time
	writeDeadline time.Time
}

// far is the socket's initial deadline, as in syumai/workers.
const far = 999999 * time.Hour

// Dial is a cfsocket.RawDial: it dials addr over TCP and returns the fake.
func Dial(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return Wrap(ctx, c), nil
}

// Wrap gives c the quirks; it dies when ctx ends.
func Wrap(ctx context.Context, c net.Conn) *Socket {
	s := &Socket{conn: c, ctx: ctx, readDeadline: time.Now().Add(far), writeDeadline: time.Now().Add(far)}
	context.AfterFunc(ctx, func() { c.Close() })
	return s
}
func (s *Socket) Read(b []byte) (int, error) {
	s.mu.Lock()
	dl := s.readDeadline
	s.mu.Unlock()
	if !time.Now().Before(dl) || s.ctx.Err() != nil { // zero is expired
		return 0, os.ErrDeadlineExceeded
	}
	return s.conn.Read(b) // a deadline set from now on changes nothing
}

func (s *Socket) Write(b []byte) (int, error) {
	s.mu.Lock()
	dl := s.writeDeadline
	s.mu.Unlock()
	if !time.Now().Before(dl) || s.ctx.Err() != nil {
		return 0, os.ErrDeadlineExceeded
	}
	return s.conn.Write(b)
}

func (s *Socket) Close() error         { return s.conn.Close() }
func (s *Socket) LocalAddr() net.Addr  { return nil }
func (s *Socket) RemoteAddr() net.Addr { return nil }
func (s *Socket) SetDeadline(t time.Time) error {
	s.SetReadDeadline(t)
	return s.SetWriteDeadline(t)
}
func (s *Socket) SetReadDeadline(t time.Time) error {
	s.mu.Lock()
	s.readDeadline = t
	s.mu.Unlock()
	return nil
}
func (s *Socket) SetWriteDeadline(t time.Time) error {
	s.mu.Lock()
	s.writeDeadline = t
	s.mu.Unlock()
	return nil
}
