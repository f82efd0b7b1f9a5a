package route

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/esgate/esgate/auth/frontdoor"
	"github.com/esgate/esgate/proxy"
	"github.com/esgate/esgate/proxy/h1"
)

// ReadHeaderTimeout bounds how long a client may take to send a request
// head.
const ReadHeaderTimeout = 30 * time.Second

// server is what serves a route's listener: esgate's h1 loop.
type server interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
	Close() error
}

// Listen opens the route's listener (listen, TLS when the front door has
// a certificate) and its server: esgate's own HTTP/1.1 loop (package
// h1), on plain and TLS listeners alike, with net/http for what it does
// not serve itself. It returns the bound address; Serve then serves it.
func (r *Route) Listen() (net.Addr, error) {
	cfg := r.built
	ln, err := proxy.Listen(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("route %q: listening: %w", r.name, err)
	}
	ln = proxy.WatchAccept(ln, r.name, r.log, r.opts.Metrics)
	std := &http.Server{
		Handler:           r.proxy,
		ReadHeaderTimeout: ReadHeaderTimeout,
		IdleTimeout:       cfg.ClientIdleTimeout.D(),
		ErrorLog:          slog.NewLogLogger(r.log.Handler(), slog.LevelDebug),
	}
	if cfg.ClientAuth().TLS() {
		// The listener's certificate and client CAs follow reloads: each
		// handshake reads the guard of the state in force.
		tc := frontdoor.ServerTLS(func() *frontdoor.Guard { return r.current().fwd.Guard })
		ln = tls.NewListener(ln, tc)
	}
	r.ln = ln
	r.srv = &h1.Server{Handler: r.proxy, Fallback: std, ReadHeaderTimeout: ReadHeaderTimeout,
		IdleTimeout: std.IdleTimeout, Log: r.log}
	return r.ln.Addr(), nil
}

// Serve serves the listener opened by Listen until Shutdown or Close;
// it returns nil when they stopped it.
func (r *Route) Serve() error {
	if r.srv == nil {
		return fmt.Errorf("route %q: Serve before Listen", r.name)
	}
	if err := r.srv.Serve(r.ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("route %q: serving: %w", r.name, err)
	}
	return nil
}

// Shutdown stops accepting and waits for the requests in flight until
// ctx ends; then it closes the connections still open and returns the
// context's cause.
func (r *Route) Shutdown(ctx context.Context) error {
	if r.srv == nil {
		return nil
	}
	if err := r.srv.Shutdown(ctx); err != nil {
		r.srv.Close()
		if c := context.Cause(ctx); c != nil {
			return c
		}
		return err
	}
	return nil
}

// TLSListener reports whether the route's listener serves TLS (the front
// door's certificate, or one esgate manages).
func (r *Route) TLSListener() bool { return r.built.ClientAuth().TLS() }
