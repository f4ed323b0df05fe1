// Package serve runs the HTTP server of the project's commands
// (bin/onecharge, bin/stripesim): the same timeouts, the same loopback URL
// and the same graceful shutdown.
package serve

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"
)

// ShutdownGrace is how long in-flight requests get to finish once the
// server is told to stop.
const ShutdownGrace = 10 * time.Second

// Server serves one handler on one listener.
type Server struct {
	ln     net.Listener
	srv    *http.Server
	done   chan error
	logger *slog.Logger
}

// Start serves h on ln in the background. The timeouts bound slow clients
// (headers, bodies, readers of answers, idle connections); the server's
// own errors go to logger at warning level.
func Start(ln net.Listener, h http.Handler, logger *slog.Logger) *Server {
	s := &Server{ln: ln, done: make(chan error, 1), logger: logger, srv: &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s
}

// URL is the base URL of ln, on loopback.
func URL(ln net.Listener) string {
	return "http://" + net.JoinHostPort("localhost", strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
}

// Wait serves until ctx is done, then shuts down, giving in-flight
// requests ShutdownGrace to finish. A shutdown is no error.
func (s *Server) Wait(ctx context.Context) error {
	var err error
	select {
	case err = <-s.done:
	case <-ctx.Done():
		s.logger.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownGrace)
		err = s.srv.Shutdown(sctx)
		cancel()
		<-s.done
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
