//go:build js && wasm

package cfsocket

import (
	"context"
	"net"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/syumai/workers/cloudflare/sockets"
)

// Configure is ConfigureWith over cloudflare:sockets. TLS, when the
// connection string asks for it, is Go's own over the plain socket.
var Configure func(*pgconn.Config) = ConfigureWith(connect)

func connect(ctx context.Context, addr string) (net.Conn, error) {
	return sockets.Connect(ctx, addr, &sockets.SocketOptions{SecureTransport: sockets.SecureTransportOff})
}
