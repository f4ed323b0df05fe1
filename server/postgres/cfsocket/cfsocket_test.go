package cfsocket_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onecharge/onecharge/server/postgres"
	"github.com/onecharge/onecharge/server/postgres/cfsocket"
	"github.com/onecharge/onecharge/server/postgres/cfsocket/cfsockettest"
	"github.com/onecharge/onecharge/server/postgres/pgtest"
)

// pipeSocket is a raw socket over net.Pipe with the quirks of
// cfsockettest.Socket, for the tests that need no database.
func pipeSocket(t *testing.T) (raw net.Conn, peer net.Conn) {
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	return cfsockettest.Wrap(context.Background(), a), b
}

func TestConn(t *testing.T) {
	t.Run("Addrs", func(t *testing.T) {
		raw, _ := pipeSocket(t)
		c := cfsocket.NewConn(raw, "127.0.0.1:5432")
		assert.Equal(t, "tcp", c.RemoteAddr().Network())
		assert.Equal(t, "127.0.0.1:5432", c.RemoteAddr().String())
		assert.IsType(t, &net.TCPAddr{}, c.RemoteAddr())
		assert.NotNil(t, c.LocalAddr())
		named := cfsocket.NewConn(raw, "abc.hyperdrive.local:5432")
		assert.Equal(t, "abc.hyperdrive.local:5432", named.RemoteAddr().String())
		assert.Equal(t, "tcp", named.RemoteAddr().Network())
	})
	t.Run("ZeroDeadlineIsNone", func(t *testing.T) {
		raw, peer := pipeSocket(t)
		c := cfsocket.NewConn(raw, "127.0.0.1:5432")
		require.NoError(t, c.SetDeadline(time.Time{}))
		go peer.Write([]byte("hello"))
		buf := make([]byte, 16)
		n, err := c.Read(buf)
		require.NoError(t, err)
		assert.Equal(t, "hello", string(buf[:n]))
		go io.ReadFull(peer, make([]byte, 3))
		_, err = c.Write([]byte("abc"))
		require.NoError(t, err)
	})
	t.Run("DeadlineSetDuringRead", func(t *testing.T) {
		raw, peer := pipeSocket(t)
		c := cfsocket.NewConn(raw, "127.0.0.1:5432")
		errc := make(chan error, 1)
		go func() {
			_, err := c.Read(make([]byte, 16))
			errc <- err
		}()
		time.Sleep(20 * time.Millisecond) // Read is blocked
		c.SetReadDeadline(time.Now().Add(-time.Second))
		select {
		case err := <-errc:
			assert.True(t, errors.Is(err, os.ErrDeadlineExceeded), "got %v", err)
			var ne net.Error
			require.True(t, errors.As(err, &ne))
			assert.True(t, ne.Timeout())
		case <-time.After(2 * time.Second):
			t.Fatal("a deadline set during Read did not interrupt it")
		}
		// Nothing read is lost: after the deadline is lifted, the bytes
		// the socket delivers come through in order.
		c.SetReadDeadline(time.Time{})
		go peer.Write([]byte("after"))
		buf := make([]byte, 16)
		n, err := c.Read(buf)
		require.NoError(t, err)
		assert.Equal(t, "after", string(buf[:n]))
	})
	t.Run("DeadlineTimer", func(t *testing.T) {
		raw, _ := pipeSocket(t)
		c := cfsocket.NewConn(raw, "127.0.0.1:5432")
		c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		start := time.Now()
		_, err := c.Read(make([]byte, 1))
		assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
		assert.Less(t, time.Since(start), 2*time.Second)
	})
	t.Run("ShortReadsKeepTheRest", func(t *testing.T) {
		raw, peer := pipeSocket(t)
		c := cfsocket.NewConn(raw, "127.0.0.1:5432")
		go peer.Write([]byte("abcdef"))
		var got []byte
		for len(got) < 6 {
			b := make([]byte, 4)
			n, err := c.Read(b)
			require.NoError(t, err)
			got = append(got, b[:n]...)
		}
		assert.Equal(t, "abcdef", string(got))
	})
	t.Run("WriteDeadlineBreaksWrites", func(t *testing.T) {
		raw, _ := pipeSocket(t) // nobody reads: the write blocks
		c := cfsocket.NewConn(raw, "127.0.0.1:5432")
		c.SetWriteDeadline(time.Now().Add(30 * time.Millisecond))
		_, err := c.Write([]byte("blocked"))
		assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
		c.SetWriteDeadline(time.Time{})
		_, err = c.Write([]byte("again"))
		assert.ErrorIs(t, err, os.ErrDeadlineExceeded, "a timed-out write may still complete later: the stream is broken")
	})
	t.Run("CloseUnblocks", func(t *testing.T) {
		raw, _ := pipeSocket(t)
		c := cfsocket.NewConn(raw, "127.0.0.1:5432")
		errc := make(chan error, 1)
		go func() { _, err := c.Read(make([]byte, 1)); errc <- err }()
		time.Sleep(10 * time.Millisecond)
		require.NoError(t, c.Close())
		select {
		case err := <-errc:
			assert.Error(t, err)
		case <-time.After(2 * time.Second):
			t.Fatal("Close did not unblock Read")
		}
	})
	t.Run("EOF", func(t *testing.T) {
		raw, peer := pipeSocket(t)
		c := cfsocket.NewConn(raw, "127.0.0.1:5432")
		go func() { peer.Write([]byte("x")); peer.Close() }()
		b, err := io.ReadAll(c)
		require.NoError(t, err)
		assert.Equal(t, "x", string(b))
	})
}

func TestDial(t *testing.T) {
	t.Run("OutlivesTheDialContext", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		go func() {
			c, err := ln.Accept()
			if err == nil {
				time.Sleep(50 * time.Millisecond)
				c.Write([]byte("late"))
				c.Close()
			}
		}()
		ctx, cancel := context.WithCancel(context.Background())
		c, err := cfsocket.Dial(ctx, "tcp", ln.Addr().String(), cfsockettest.Dial)
		require.NoError(t, err)
		cancel() // the query that needed the connection is over
		b, err := io.ReadAll(c)
		require.NoError(t, err)
		assert.Equal(t, "late", string(b))
	})
	t.Run("ErrDialContextEnded", func(t *testing.T) {
		slow := func(ctx context.Context, addr string) (net.Conn, error) {
			time.Sleep(200 * time.Millisecond)
			return nil, errors.New("too late")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := cfsocket.Dial(ctx, "tcp", "127.0.0.1:1", slow)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Less(t, time.Since(start), 150*time.Millisecond)
	})
	t.Run("ErrNetwork", func(t *testing.T) {
		_, err := cfsocket.Dial(context.Background(), "unix", "/tmp/x", cfsockettest.Dial)
		assert.Error(t, err)
	})
}

// TestPgx runs pgx over the adapter and the quirky socket against the
// test PostgreSQL: the store works, a query's context ending really stops
// the query on the server, and the connection stays usable.
func TestPgx(t *testing.T) {
	url := pgtest.URL(t)
	ctx := context.Background()

	t.Run("Store", func(t *testing.T) {
		db, err := postgres.Open(ctx, postgres.Config{URL: url, MaxConns: 1, Configure: cfsocket.ConfigureWith(cfsockettest.Dial)})
		require.NoError(t, err)
		defer db.Close()
		for i := 0; i < 3; i++ { // each query's context ends; the connection lives on
			qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			products, err := db.Products(qctx)
			cancel()
			require.NoError(t, err)
			assert.NotEmpty(t, products)
		}
	})

	connect := func(t *testing.T) *pgx.Conn {
		cfg, err := pgx.ParseConfig(url)
		require.NoError(t, err)
		cfsocket.ConfigureWith(cfsockettest.Dial)(&cfg.Config)
		conn, err := pgx.ConnectConfig(ctx, cfg)
		require.NoError(t, err)
		t.Cleanup(func() { conn.Close(ctx) })
		return conn
	}
	t.Run("TimeoutStopsTheQuery", func(t *testing.T) {
		conn := connect(t)
		qctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := conn.Exec(qctx, "select pg_sleep(30) /* cfsocket-timeout */")
		elapsed := time.Since(start)
		require.Error(t, err)
		assert.Less(t, elapsed, cfsocket.CancelGrace+2*time.Second, "the query returned when its context ended")
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			assert.Equal(t, "57014", pgErr.Code, "canceled by the cancel request")
		}
		// The statement is gone from the server, not left running.
		admin, err := pgx.Connect(ctx, url)
		require.NoError(t, err)
		defer admin.Close(ctx)
		var running int
		require.Eventually(t, func() bool {
			err := admin.QueryRow(ctx, `select count(*) from pg_stat_activity where query like '%cfsocket-timeout%' and state = 'active' and pid <> pg_backend_pid()`).Scan(&running)
			return err == nil && running == 0
		}, 5*time.Second, 50*time.Millisecond)
		// The connection is still usable after the cancel request.
		var one int
		if !conn.IsClosed() {
			require.NoError(t, conn.QueryRow(ctx, "select 1").Scan(&one))
			assert.Equal(t, 1, one)
		}
	})
	t.Run("CancelRequestUsesRemoteAddr", func(t *testing.T) {
		conn := connect(t)
		// pgx dials RemoteAddr() for a cancel request: it must be real.
		require.NoError(t, conn.PgConn().CancelRequest(ctx))
	})
}

// TestQuirkySocket shows that the fake has the quirks that make the adapter
// necessary. Over it, pgx itself fails: a connection dies with the query
// that dialed it, and closing a broken connection panics in pgconn's
// CancelRequest on the nil RemoteAddr (seen with pgx v5.12.0, which is why
// this test checks the socket rather than pgx).
func TestQuirkySocket(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go io.Copy(io.Discard, c) // accepts writes, never answers
		}
	}()
	dial := func(t *testing.T, ctx context.Context) net.Conn {
		c, err := cfsockettest.Dial(ctx, ln.Addr().String())
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		return c
	}
	t.Run("NilAddrs", func(t *testing.T) {
		c := dial(t, context.Background())
		assert.Nil(t, c.RemoteAddr())
		assert.Nil(t, c.LocalAddr())
	})
	t.Run("DiesWithTheDialContext", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		c := dial(t, ctx)
		cancel()
		_, err := c.Write([]byte("x"))
		assert.Error(t, err)
	})
	t.Run("ZeroDeadlineIsExpired", func(t *testing.T) {
		c := dial(t, context.Background())
		c.SetDeadline(time.Time{})
		_, err := c.Write([]byte("x"))
		assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
	})
	t.Run("DeadlineDoesNotInterruptARead", func(t *testing.T) {
		c := dial(t, context.Background())
		done := make(chan struct{})
		go func() { c.Read(make([]byte, 1)); close(done) }()
		time.Sleep(20 * time.Millisecond)
		c.SetReadDeadline(time.Now().Add(-time.Second))
		select {
		case <-done:
			t.Fatal("the fake's read was interrupted by a deadline")
		case <-time.After(200 * time.Millisecond):
		}
	})
}
