package proxy

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"

	"log/slog"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/esgate/esgate/proxy/metrics"
	"github.com/esgate/esgate/proxy/sockio"
)

// Listen opens addr: "host:port" for TCP or "unix:/path" for a unix socket.
// A stale socket file left by a previous run is removed first; the socket
// is made accessible to its owner and group only. Accepted connections
// read and write with raw system calls (package sockio).
func Listen(addr string) (net.Listener, error) {
	path, ok := strings.CutPrefix(addr, "unix:")
	if !ok {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, err
		}
		return sockio.WrapListener(l), nil
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&fs.ModeSocket == 0 {
			return nil, fmt.Errorf("listening on %s: %s exists and is not a socket", addr, path)
		}
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return nil, fmt.Errorf("listening on %s: another process is serving that socket", addr)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("removing stale socket: %w", err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return nil, fmt.Errorf("setting socket permissions: %w", err)
	}
	return sockio.WrapListener(l), nil
}

// WatchAccept wraps a route's listener so that running out of file
// descriptors is said once, not once per failed accept: the first EMFILE
// or ENFILE of an episode logs one warning naming the fix and counts an
// episode; every failed accept is counted; the first accept after it logs
// that the listener accepts again. The server's own accept loop (h1's or
// net/http's) backs off between tries, so it does not spin, and
// connections already open are served as before.
func WatchAccept(l net.Listener, route string, log *slog.Logger, m *metrics.Metrics) net.Listener {
	return &watchedListener{Listener: l, route: route, log: log, m: m}
}

type watchedListener struct {
	net.Listener
	route     string
	log       *slog.Logger
	m         *metrics.Metrics
	exhausted atomic.Bool
	since     atomic.Int64
	failed    atomic.Int64
}

func (l *watchedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		if l.exhausted.CompareAndSwap(true, false) {
			l.log.Info("listener accepts connections again", "route", l.route,
				"refused_accepts", l.failed.Swap(0), "after", time.Since(time.Unix(0, l.since.Load())).Round(time.Millisecond))
		}
		return c, nil
	}
	if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
		l.m.AcceptError(l.route, "fd_limit")
		l.failed.Add(1)
		if l.exhausted.CompareAndSwap(false, true) {
			l.since.Store(time.Now().UnixNano())
			l.m.FDExhausted(l.route)
			l.log.Warn("out of file descriptors: new connections wait until some close; connections already open are still served. Raise the limit (ulimit -n, systemd LimitNOFILE=, or the container's nofile) or lower pool_max and clients' connection counts",
				"route", l.route, "err", err)
		}
	} else if !errors.Is(err, net.ErrClosed) {
		l.m.AcceptError(l.route, "other")
	}
	return nil, err
}
