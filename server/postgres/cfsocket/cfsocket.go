// Package cfsocket makes a Cloudflare Workers TCP socket (cloudflare:sockets,
// through github.com/syumai/workers/cloudflare/sockets) behave as the
// net.Conn that pgx expects, so that the PostgreSQL store runs in a Worker.
//
// The raw socket differs from a net.Conn in four ways, each of which
// breaks pgx:
//
//   - It dies when the context it was dialed with ends. pgx dials with the
//     context of the query that needed a connection, so the connection
//     would die with that query. [Dial] dials with a detached context and
//     still returns early (closing the socket) when the dial context ends
//     first.
//   - RemoteAddr and LocalAddr are nil; pgx's cancel request dials
//     RemoteAddr().String() and panics on nil. [Conn] returns the dialed
//     address.
//   - A zero deadline counts as already expired, not as "none".
//   - A deadline is read when a Read or Write starts: setting one while the
//     call is blocked does not interrupt it, yet that is how pgx stops a
//     query whose context ended. [Conn] never passes deadlines down:
//     one background goroutine reads ahead from the socket, and Read waits
//     for its next chunk or for the deadline, whichever comes first,
//     noticing deadlines set while it waits. Writes run the same way; a
//     write that timed out breaks the connection for writing (the
//     socket may still send its bytes later), so later writes fail.
//
// The logic is plain Go over net.Conn and is tested natively against a fake
// socket with the same quirks; only dial_js.go touches the Workers runtime.
package cfsocket

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
)

// RawDial opens a raw socket to addr ("host:port"). The socket may have
// every quirk listed in the package documentation.
type RawDial func(ctx context.Context, addr string) (net.Conn, error)

// Dial opens a connection to addr over raw. The raw socket is dialed with
// a context detached from ctx, so it outlives ctx; if ctx ends before the
// dial returns, Dial returns ctx's error and closes the socket once it
// arrives.
func Dial(ctx context.Context, network, addr string, raw RawDial) (net.Conn, error) {
	if network != "tcp" && network != "tcp4" && network != "tcp6" {
		return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("cloudflare sockets dial tcp only")}
	}
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	detached := context.WithoutCancel(ctx)
	go func() {
		c, err := raw(detached, addr)
		ch <- result{c, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Addr: newAddr(addr), Err: r.err}
		}
		return NewConn(r.c, addr), nil
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.c != nil {
				r.c.Close()
			}
		}()
		return nil, &net.OpError{Op: "dial", Net: network, Addr: newAddr(addr), Err: ctx.Err()}
	}
}

// Addr is a TCP address given by name, as the socket was dialed.
type Addr struct{ hostPort string }

func (a Addr) Network() string { return "tcp" }
func (a Addr) String() string  { return a.hostPort }

// newAddr is a *net.TCPAddr when addr's host is an IP address, an Addr
// otherwise (a host name, resolved by the Workers runtime).
func newAddr(addr string) net.Addr {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return net.TCPAddrFromAddrPort(ap)
	}
	return Addr{addr}
}

type chunk struct {
	b   []byte
	err error
}

// Conn is a net.Conn over a raw socket; see the package documentation.
type Conn struct {
	raw    net.Conn
	remote net.Addr

	startRead sync.Once
	chunks    chan chunk // the reader's results, one at a time
	rest      []byte     // unread bytes of the last chunk
	readErr   error      // sticky error of the reader
	readMu    sync.Mutex // serializes Read

	writeMu     sync.Mutex // serializes Write
	writeBroken error

	mu            sync.Mutex // guards the deadlines and their signals
	readDeadline  time.Time
	writeDeadline time.Time
	readChanged   chan struct{} // closed and replaced when readDeadline changes
	writeChanged  chan struct{}

	closeOnce sync.Once
	closed    chan struct{}
}

var _ net.Conn = (*Conn)(nil)

// readAhead is the size of the reader's buffers.
const readAhead = 32 << 10

// NewConn wraps raw, dialed to addr. Deadlines start unset (none).
func NewConn(raw net.Conn, addr string) *Conn {
	return &Conn{
		raw:          raw,
		remote:       newAddr(addr),
		chunks:       make(chan chunk),
		readChanged:  make(chan struct{}),
		writeChanged: make(chan struct{}),
		closed:       make(chan struct{}),
	}
}

// reader reads from the socket until it fails or the Conn is closed,
// handing each chunk to Read.
func (c *Conn) reader() {
	for {
		buf := make([]byte, readAhead)
		n, err := c.raw.Read(buf)
		if n > 0 || err != nil {
			select {
			case c.chunks <- chunk{buf[:n], err}:
			case <-c.closed:
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// errDeadline is what an expired deadline returns, as in package net.
var errDeadline = os.ErrDeadlineExceeded

// Read reads from the socket, honouring the read deadline, including one
// set while Read waits.
func (c *Conn) Read(b []byte) (int, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if len(c.rest) > 0 {
		n := copy(b, c.rest)
		c.rest = c.rest[n:]
		return n, nil
	}
	if c.readErr != nil {
		return 0, c.readErr
	}
	if len(b) == 0 {
		return 0, nil
	}
	c.startRead.Do(func() { go c.reader() })
	for {
		c.mu.Lock()
		deadline, changed := c.readDeadline, c.readChanged
		c.mu.Unlock()
		timer, expired := timerFor(deadline)
		if expired {
			return 0, c.opError("read", errDeadline)
		}
		select {
		case ch := <-c.chunks:
			stop(timer)
			n := copy(b, ch.b)
			c.rest = ch.b[n:]
			if ch.err != nil {
				c.readErr = ch.err
				if n == 0 {
					return 0, ch.err
				}
			}
			return n, nil
		case <-timerC(timer):
			return 0, c.opError("read", errDeadline)
		case <-changed:
			stop(timer)
		case <-c.closed:
			stop(timer)
			return 0, c.opError("read", net.ErrClosed)
		}
	}
}

// Write writes b, honouring the write deadline, including one set while
// Write waits. After a write timed out, every later write fails.
func (c *Conn) Write(b []byte) (int, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.writeBroken != nil {
		return 0, c.writeBroken
	}
	select {
	case <-c.closed:
		return 0, c.opError("write", net.ErrClosed)
	default:
	}
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	buf := append([]byte(nil), b...) // the caller may reuse b once Write returns
	go func() {
		n, err := c.raw.Write(buf)
		done <- result{n, err}
	}()
	for {
		c.mu.Lock()
		deadline, changed := c.writeDeadline, c.writeChanged
		c.mu.Unlock()
		timer, expired := timerFor(deadline)
		if expired {
			c.writeBroken = c.opError("write", errDeadline)
			return 0, c.writeBroken
		}
		select {
		case r := <-done:
			stop(timer)
			if r.err != nil {
				return r.n, c.opError("write", r.err)
			}
			return r.n, nil
		case <-timerC(timer):
			c.writeBroken = c.opError("write", errDeadline)
			return 0, c.writeBroken
		case <-changed:
			stop(timer)
		case <-c.closed:
			stop(timer)
			return 0, c.opError("write", net.ErrClosed)
		}
	}
}

// Close closes the socket and unblocks every pending Read and Write.
func (c *Conn) Close() error {
	err := net.ErrClosed
	c.closeOnce.Do(func() {
		close(c.closed)
		err = c.raw.Close()
	})
	return err
}

// LocalAddr is unknown to the Workers runtime: an unspecified TCP address.
func (c *Conn) LocalAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4zero} }

// RemoteAddr is the address the socket was dialed to.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline sets both deadlines; the zero time means none.
func (c *Conn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	c.SetWriteDeadline(t)
	return nil
}

// SetReadDeadline sets the read deadline, for pending and future reads;
// the zero time means none.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.readDeadline = t
	close(c.readChanged)
	c.readChanged = make(chan struct{})
	c.mu.Unlock()
	return nil
}

// SetWriteDeadline sets the write deadline, for pending and future writes;
// the zero time means none.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.writeDeadline = t
	close(c.writeChanged)
	c.writeChanged = make(chan struct{})
	c.mu.Unlock()
	return nil
}

func (c *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.remote, Err: err}
}

// timerFor returns a timer firing at deadline (nil for none) or expired
// when the deadline has passed.
func timerFor(deadline time.Time) (*time.Timer, bool) {
	if deadline.IsZero() {
		return nil, false
	}
	d := time.Until(deadline)
	if d <= 0 {
		return nil, true
	}
	return time.NewTimer(d), false
}

func timerC(t *time.Timer) <-chan time.Time {
	if t == nil {
		return nil
	}
	return t.C
}

func stop(t *time.Timer) {
	if t != nil {
		t.Stop()
	}
}

// LookupHost is a pgconn LookupFunc that leaves name resolution to the
// Workers runtime: it returns the host unchanged (Go's resolver has no
// network in a Worker).
func LookupHost(_ context.Context, host string) ([]string, error) { return []string{host}, nil }
