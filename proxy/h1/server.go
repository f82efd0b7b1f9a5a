package h1

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Server serves HTTP/1.1 on plain and TLS listeners with Handler,
// handing the connections it does not serve itself to Fallback. A TLS
// listener is one whose Accept returns *tls.Conn, as tls.NewListener's
// does: h1 runs the handshake, and fills Request.TLS, as net/http does.
type Server struct {
	// Handler serves every request, on both paths.
	Handler http.Handler
	// Fallback serves the connections h1 hands over; its Handler should be
	// Handler. Its timeouts apply to them; Serve starts it and Shutdown
	// and Close stop it.
	Fallback *http.Server
	// ReadHeaderTimeout bounds reading a request head once its first byte
	// came, and a TLS handshake (as in net/http, the least of it and
	// Fallback's ReadTimeout and WriteTimeout). Zero: no limit.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes a keep-alive connection that sends no request for
	// this long. Zero: no limit.
	IdleTimeout time.Duration
	// ParkAfter is how long a kept-alive connection waits for its next
	// request in its own goroutine before it parks (Linux: no goroutine,
	// no buffers; see the package doc). A client sending back-to-back
	// requests, as Logstash under load does, then never pays the epoll
	// calls and the new goroutine a park costs; a burst of clients that
	// go quiet holds a goroutine stack each only this long. Zero: 50 ms.
	ParkAfter time.Duration
	// Log receives handler panics other than http.ErrAbortHandler. Nil:
	// slog.Default().
	Log *slog.Logger
	// BufferSize is each busy connection's read buffer, which also bounds
	// the request heads h1 parses itself (larger ones go to Fallback).
	// Zero: 32 KiB, enough for a Logstash batch to arrive in one read. A
	// connection waiting for its next request holds no buffer.
	BufferSize int
	// WatchInterval is how often requests in flight look whether their
	// client went away. Zero: one second.
	WatchInterval time.Duration

	// handedOff, if set, is called for each connection handed to Fallback
	// (tests).
	handedOff func()

	// readers and writers keep the buffers of idle and closed
	// connections (a busy one holds 32 KiB + 8 KiB) for busy ones;
	// states keeps their request state (reqState).
	readers, writers, states sync.Pool

	// park holds the idle connections that wait without a goroutine
	// (Linux); nil elsewhere, or when its epoll instance could not be
	// made.
	park *parker

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	handoff   *handoffListener
	stopping  atomic.Bool
	watching  bool
	stopWatch chan struct{}
}

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = http.ErrServerClosed

// Serve accepts connections on l and serves each in its own goroutine,
// until Shutdown or Close.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.stopping.Load() {
		s.mu.Unlock()
		return ErrServerClosed
	}
	if s.listeners == nil {
		s.listeners = map[net.Listener]struct{}{}
		s.conns = map[*conn]struct{}{}
		s.stopWatch = make(chan struct{})
	}
	if s.handoff == nil {
		s.handoff = &handoffListener{ch: make(chan net.Conn), done: make(chan struct{}), addr: l.Addr()}
		go s.Fallback.Serve(s.handoff)
	}
	if !s.watching {
		s.watching = true
		go s.watch()
		if s.park = newParker(s); s.park != nil {
			go s.park.run(s.stopWatch)
		}
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()
	var delay time.Duration
	for {
		rw, err := l.Accept()
		if err != nil {
			if s.stopping.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				// Out of file descriptors or the like: back off as
				// net/http does, instead of spinning.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		c := s.newConn(rw)
		if c == nil {
			rw.Close()
			return ErrServerClosed
		}
		go c.serve()
	}
}

// Shutdown stops accepting, closes idle connections, lets requests in
// flight finish (their answers say Connection: close) and waits for them,
// or for ctx. Fallback is shut down alongside.
func (s *Server) Shutdown(ctx context.Context) error {
	s.beginStop()
	ferr := make(chan error, 1)
	go func() { ferr <- s.Fallback.Shutdown(ctx) }()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if s.closeIdle() {
			return <-ferr
		}
		select {
		case <-ctx.Done():
			<-ferr
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Close closes the listeners and every connection at once.
func (s *Server) Close() error {
	s.beginStop()
	s.mu.Lock()
	for c := range s.conns {
		if c.state.CompareAndSwap(stateParked, stateClosed) {
			c.closeParked(true)
		} else {
			c.rwc.Close()
		}
	}
	s.mu.Unlock()
	return s.Fallback.Close()
}

func (s *Server) beginStop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping.Swap(true) {
		return
	}
	for l := range s.listeners {
		l.Close()
	}
	if s.handoff != nil {
		s.handoff.Close()
	}
	if s.watching {
		close(s.stopWatch)
		s.park.wake()
	}
}

// closeIdle closes the connections waiting for a request and reports
// whether none are left.
func (s *Server) closeIdle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		switch {
		case c.state.CompareAndSwap(stateIdle, stateClosed):
			c.rwc.Close() // its goroutine, waiting, sees the close
		case c.state.CompareAndSwap(stateParked, stateClosed):
			c.closeParked(true) // no goroutine: closed here
		}
	}
	return len(s.conns) == 0
}

func (s *Server) newConn(rw net.Conn) *conn {
	c := &conn{s: s, rwc: rw, remote: rw.RemoteAddr().String()}
	c.acquire()
	raw := rw
	if tc, ok := rw.(*tls.Conn); ok {
		// Requests are read and answers written through the TLS
		// connection; its socket serves only to wait and peek.
		c.tls = tc
		raw = tc.NetConn()
	}
	if sc, ok := raw.(syscall.Conn); ok {
		c.sys, _ = sc.SyscallConn()
		c.readable = c.idleReadable
	}
	// The request context's values (the server, the local address) come
	// from reqCtx, which answers them for the connection it serves.
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.bind()
	c.state.Store(stateActive)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping.Load() {
		return nil
	}
	s.conns[c] = struct{}{}
	return c
}

func (s *Server) bufferSize() int {
	if s.BufferSize > 0 {
		return s.BufferSize
	}
	return 32 << 10
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *Server) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// watch looks, every WatchInterval, at the connections whose request has
// been in flight that long: a client that closed its connection (FIN or
// reset) cancels its request's context, as net/http's background read
// does. It costs nothing per request.
func (s *Server) watch() {
	every := s.WatchInterval
	if every <= 0 {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	var busy []*conn
	for {
		select {
		case <-s.stopWatch:
			return
		case <-t.C:
		}
		cutoff := time.Now().Add(-every).UnixNano()
		busy = busy[:0]
		s.mu.Lock()
		for c := range s.conns {
			if since := c.busySince.Load(); since != 0 && since < cutoff {
				busy = append(busy, c)
			}
		}
		s.mu.Unlock()
		for _, c := range busy {
			if c.clientGone() {
				c.cancel()
			}
		}
	}
}

// Connection states: idle (waiting for a request; Shutdown may close
// it), active, closed, and parked: idle without a goroutine, in the
// server's parker. Whoever moves a connection out of parked owns it: the
// parker's wake (to idle, then a goroutine serves it on), or Shutdown,
// Close and the idle sweep (to closed, closing it at once).
const (
	stateIdle int32 = iota
	stateActive
	stateClosed
	stateParked
)

type conn struct {
	s   *Server
	rwc net.Conn
	// tls is rwc on a TLS listener, and tlsState its state after the
	// handshake (Request.TLS of each request); sys is then the socket's.
	tls      *tls.Conn
	tlsState *tls.ConnectionState
	sys      syscall.RawConn
	// readable is idleReadable, bound once: a method value made at each
	// wait would allocate per request. Nil where h1 cannot poll.
	readable func(fd uintptr) bool
	// peeked: the current idle wait has peeked once (idleReadable).
	peeked bool
	br     *bufio.Reader
	bw     *bufio.Writer
	remote string

	ctx    context.Context
	cancel context.CancelFunc

	state     atomic.Int32
	busySince atomic.Int64 // unix nanoseconds the request in flight began; 0: none

	// st is the request state the connection serves with; nil while it
	// is parked (back in the server's pool).
	st *reqState

	lastPost bool
	served   int // requests read on this connection

	// While parked (set by the parker under its lock): the registration
	// id its epoll events carry, and when IdleTimeout closes it (unix
	// nanoseconds; 0: never).
	parkID    uint64
	idleUntil int64
	inEpoll   bool // its socket is in the parker's epoll set
}

// reqState is what serving a request needs besides the buffers: the
// Request, its URL and header map, the answer's writer and header map.
// Reused for every request; an idle connection gives it back to the
// server's pool, and takes one back when its next request comes, so a
// parked connection holds none and waking one allocates nothing.
type reqState struct {
	ctx    reqCtx
	req    *http.Request
	url    url.URL
	header http.Header
	vals   []string
	body   body
	w      response
}

// bind gives the connection a request state.
func (c *conn) bind() {
	st, ok := c.s.states.Get().(*reqState)
	if !ok {
		st = &reqState{header: make(http.Header, 16)}
		st.req = (&http.Request{}).WithContext(&st.ctx)
		st.w.header = make(http.Header, 16)
	}
	st.ctx.c.Store(c)
	st.w.c = c
	c.st = st
}

// unbind gives the request state back to the pool.
func (c *conn) unbind() {
	if c.st != nil {
		c.s.states.Put(c.st)
		c.st = nil
	}
}

// reqCtx is the context of the requests served with a reqState: that of
// the connection the state serves (canceled when its client goes away
// or it closes), with the values net/http's server puts in it. The
// handler must not keep it after it returns, as with the Request.
type reqCtx struct{ c atomic.Pointer[conn] }

func (x *reqCtx) Deadline() (time.Time, bool) { return x.c.Load().ctx.Deadline() }
func (x *reqCtx) Done() <-chan struct{}       { return x.c.Load().ctx.Done() }
func (x *reqCtx) Err() error                  { return x.c.Load().ctx.Err() }

func (x *reqCtx) Value(key any) any {
	c := x.c.Load()
	switch key {
	case http.ServerContextKey:
		return c.s.Fallback
	case http.LocalAddrContextKey:
		return c.rwc.LocalAddr()
	}
	return c.ctx.Value(key)
}

func (x *reqCtx) String() string { return "h1.reqCtx" }

// release gives the connection's buffers back, for another connection
// or for this one's next request.
func (c *conn) release() {
	if c.br == nil {
		return
	}
	c.br.Reset(nil)
	c.s.readers.Put(c.br)
	c.bw.Reset(nil)
	c.s.writers.Put(c.bw)
	c.br, c.bw = nil, nil
}

// acquire takes buffers back after release.
func (c *conn) acquire() {
	size := c.s.bufferSize()
	if v, ok := c.s.readers.Get().(*bufio.Reader); ok && v.Size() == size {
		v.Reset(c.rwc)
		c.br = v
	} else {
		c.br = bufio.NewReaderSize(c.rwc, size)
	}
	if v, ok := c.s.writers.Get().(*bufio.Writer); ok {
		v.Reset(c.rwc)
		c.bw = v
	} else {
		c.bw = bufio.NewWriterSize(c.rwc, 8<<10)
	}
}

// waitIdle waits for a kept-alive connection's next request without
// holding its 40 KiB of buffers: they go back to the pool while the
// socket has nothing to read (most of a Logstash connection's life), so
// thousands of idle clients cost a goroutine each, not its buffers,
// where park cannot park them. A socket h1 cannot wait on without
// reading keeps them.
func (c *conn) waitIdle() error {
	if c.readable == nil || c.br.Buffered() > 0 {
		return nil
	}
	c.peeked = false
	err := c.sys.Read(c.readable)
	if c.br == nil {
		c.acquire()
	}
	return err
}

// idleReadable is the poller's test while waitIdle waits: a socket with
// nothing to read gives its buffers back before the poller parks, one
// whose next request is already there keeps them. Once the poller has
// waited, its word is taken without a second peek (a system call per
// request): a wake with nothing to read costs the read that follows a
// wait for the poller again, with the buffers.
func (c *conn) idleReadable(fd uintptr) bool {
	if c.peeked {
		return true
	}
	c.peeked = true
	if c.peekReadable(fd) {
		return true
	}
	c.release()
	return false
}

func (c *conn) close() {
	c.state.Store(stateClosed)
	c.cancel()
	c.s.park.remove(c)
	c.rwc.Close()
	c.release()
	c.unbind()
	c.s.forget(c)
}

// closeParked closes a connection the caller moved from parked to
// closed (it has no goroutine, buffers or request state). locked: the
// caller holds s.mu.
func (c *conn) closeParked(locked bool) {
	c.cancel()
	// Out of the epoll set before the close frees the descriptor's number
	// for another socket.
	c.s.park.remove(c)
	c.rwc.Close()
	if locked {
		delete(c.s.conns, c)
	} else {
		c.s.forget(c)
	}
}

// park lets the goroutine of an idle connection go when neither its
// buffer nor its socket has anything to read: the buffers and request
// state go back to the pools and the server's parker waits on the socket
// (Linux; elsewhere the goroutine waits in waitIdle). It reports whether
// the goroutine must let go of c (parked, or closed meanwhile by
// Shutdown or Close); false: c is idle and keeps its goroutine.
func (c *conn) park() bool {
	p := c.s.park
	if p == nil || c.sys == nil || c.br.Buffered() > 0 {
		return false
	}
	readable := true
	if c.sys.Control(func(fd uintptr) { readable = c.peekReadable(fd) }) != nil || readable {
		return false
	}
	var until int64
	if d := c.s.IdleTimeout; d > 0 {
		until = time.Now().Add(d).UnixNano()
	}
	c.release()
	c.unbind()
	switch p.add(c, until) {
	case parkDone:
		return true
	case parkClosed:
		c.close()
		return true
	}
	c.acquire()
	c.bind()
	return false
}

// resume serves a parked connection again once its socket has bytes or
// an end to read; the parker moved it to idle and started this
// goroutine.
func (c *conn) resume() {
	c.s.park.remove(c)
	c.acquire()
	c.bind()
	if c.awaitRequest(c.want(), nil) {
		c.loop(true)
	}
}

// want is how many bytes of the next request must be read before it is
// served: one on a new connection, four on a kept-alive one (less before
// the end, and net/http's server closes without an answer).
func (c *conn) want() int {
	if c.served > 0 {
		return 4
	}
	return 1
}

// awaitRequest ends an idle wait that returned err: it reads the next
// request's first bytes and makes the connection active, or closes it
// (an error, or Shutdown closed it meanwhile) and reports false.
func (c *conn) awaitRequest(want int, err error) bool {
	if err == nil {
		_, err = c.br.Peek(want)
	}
	if !c.state.CompareAndSwap(stateIdle, stateActive) || err != nil {
		c.close()
		return false
	}
	return true
}

// serve reads and serves requests until the connection ends, is handed
// to Fallback or is parked.
func (c *conn) serve() {
	if c.tls != nil && !c.handshake() {
		return
	}
	c.loop(false)
}

// handshake runs a TLS connection's handshake as net/http's server does:
// bounded by the handshake timeout, a plain HTTP request answered with
// net/http's 400, and a connection whose client chose another protocol
// by ALPN (acme-tls/1: a TLS-ALPN-01 challenge, which the handshake
// answered) closed after it. Shutdown may close it meanwhile.
func (c *conn) handshake() bool {
	if !c.state.CompareAndSwap(stateActive, stateIdle) {
		c.close()
		return false
	}
	to := c.s.tlsHandshakeTimeout()
	if to > 0 {
		dl := time.Now().Add(to)
		c.rwc.SetReadDeadline(dl)
		c.rwc.SetWriteDeadline(dl)
	}
	if err := c.tls.HandshakeContext(c.ctx); err != nil {
		reason := err.Error()
		if re, ok := err.(tls.RecordHeaderError); ok && re.Conn != nil && headLooksLikeHTTP(re.RecordHeader) {
			io.WriteString(re.Conn, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
			reason = "client sent an HTTP request to an HTTPS server"
		}
		c.s.log().Debug("http: TLS handshake error", "remote", c.remote, "err", reason)
		c.close()
		return false
	}
	if to > 0 {
		c.rwc.SetReadDeadline(time.Time{})
		c.rwc.SetWriteDeadline(time.Time{})
	}
	st := c.tls.ConnectionState()
	c.tlsState = &st
	switch st.NegotiatedProtocol {
	case "", "http/1.1", "http/1.0":
	default:
		c.close()
		return false
	}
	if !c.state.CompareAndSwap(stateIdle, stateActive) {
		c.close()
		return false
	}
	return true
}

// headLooksLikeHTTP reports whether the first bytes a TLS listener read
// look like a plain HTTP request (net/http's test).
func headLooksLikeHTTP(hdr [5]byte) bool {
	switch string(hdr[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO":
		return true
	}
	return false
}

func (s *Server) parkAfter() time.Duration {
	if s.ParkAfter > 0 {
		return s.ParkAfter
	}
	return 50 * time.Millisecond
}

// tlsHandshakeTimeout is net/http's: the least of the timeouts set.
func (s *Server) tlsHandshakeTimeout() time.Duration {
	var d time.Duration
	for _, v := range [...]time.Duration{s.ReadHeaderTimeout, s.Fallback.ReadTimeout, s.Fallback.WriteTimeout} {
		if v > 0 && (d == 0 || v < d) {
			d = v
		}
	}
	return d
}

// tlsHolds reports whether a TLS connection with nothing in its buffer
// has request bytes, or an end, to read without waiting on its socket:
// records it read already. It reads with a deadline already past:
// crypto/tls's Read returns the plaintext it holds, else decrypts the
// whole records in its raw input, and only then reads the socket, which
// fails at once with the deadline's error, and that error does not stick
// (crypto/tls/conn.go, readRecordOrCCS: a net.Error whose Temporary() is
// true, as os.ErrDeadlineExceeded is, is returned without setErrorLocked;
// Go 1.26). A partial record stays in crypto/tls until the rest comes.
// dl is the read deadline to restore.
func (c *conn) tlsHolds(dl time.Time) bool {
	c.rwc.SetReadDeadline(time.Unix(1, 0))
	_, err := c.br.Peek(1)
	c.rwc.SetReadDeadline(dl)
	var ne net.Error
	return c.br.Buffered() > 0 || !errors.As(err, &ne) || !ne.Timeout()
}

// loop is serve's loop; woken: the next request's first bytes are in the
// buffer already (resume).
func (c *conn) loop(woken bool) {
	for ; ; woken = false {
		if !woken {
			if c.s.stopping.Load() {
				c.close()
				return
			}
			if want := c.want(); c.br.Buffered() < want {
				// Idle: Shutdown may close the connection now.
				if !c.state.CompareAndSwap(stateActive, stateIdle) {
					c.close()
					return
				}
				var dl time.Time
				if d := c.s.IdleTimeout; d > 0 {
					dl = time.Now().Add(d)
				}
				c.rwc.SetReadDeadline(dl)
				if c.tls != nil && c.br.Buffered() == 0 && c.tlsHolds(dl) {
					// The next request is in crypto/tls already.
					if !c.awaitRequest(want, nil) {
						return
					}
				} else {
					if c.s.park != nil && c.sys != nil {
						// A grace before parking: the next request of a
						// busy client comes within it.
						grace := time.Now().Add(c.s.parkAfter())
						if dl.IsZero() || grace.Before(dl) {
							c.rwc.SetReadDeadline(grace)
							err := c.waitIdle()
							c.rwc.SetReadDeadline(dl)
							if err == nil {
								if !c.awaitRequest(want, nil) {
									return
								}
								goto serve
							}
							if !errors.Is(err, os.ErrDeadlineExceeded) {
								c.awaitRequest(want, err) // closes it
								return
							}
						}
					}
					if c.park() {
						return
					}
					if !c.awaitRequest(want, c.waitIdle()) {
						return
					}
				}
			}
		}
	serve:
		if c.lastPost {
			// RFC 7230 section 3.5: a stray CRLF after a POST body, as
			// net/http tolerates.
			b, _ := c.br.Peek(min(c.br.Buffered(), 4))
			n := 0
			for n < len(b) && (b[n] == '\r' || b[n] == '\n') {
				n++
			}
			c.br.Discard(n)
			c.lastPost = false
			if n > 0 && c.br.Buffered() == 0 {
				continue
			}
		}
		end, ok, err := c.readHead()
		if err != nil && c.dropsSilently(err) {
			c.close()
			return
		}
		if ok {
			var keep bool
			keep, ok = c.serveOne(end)
			if ok && keep {
				continue
			}
		}
		if !ok {
			c.handOff()
			return
		}
		c.close()
		return
	}
}

// dropsSilently reports whether net/http's server would close the
// connection without an answer after this failure to read a request
// head: a timeout. Other failures are handed over with the bytes read,
// for net/http to answer (a 400 for a head cut short) as it would.
func (c *conn) dropsSilently(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// readHead waits for a whole request head in the buffer and returns its
// length; ok is false when the head is not h1's to parse, or reading it
// failed (err).
func (c *conn) readHead() (end int, ok bool, err error) {
	armed := false
	from := 0
	for {
		b, _ := c.br.Peek(c.br.Buffered())
		var end int
		end, from = ScanHead(b, from)
		switch {
		case end > 0:
			return end, true, nil
		case end < 0:
			return 0, false, nil
		}
		if len(b) >= c.br.Size() {
			return 0, false, nil // larger than the buffer: net/http's (up to 1 MiB)
		}
		if !armed && c.s.ReadHeaderTimeout > 0 {
			c.rwc.SetReadDeadline(time.Now().Add(c.s.ReadHeaderTimeout))
			armed = true
		}
		if _, err := c.br.Peek(len(b) + 1); err != nil {
			return 0, false, err
		}
	}
}

// handOff gives the connection, with the bytes read so far, to Fallback.
func (c *conn) handOff() {
	buffered, _ := c.br.Peek(c.br.Buffered())
	hc := &handedConn{Conn: c.rwc, r: io.MultiReader(bytes.NewReader(bytes.Clone(buffered)), c.rwc)}
	var nc net.Conn = GuardFraming(hc)
	if c.tlsState != nil {
		nc = &tlsHandedConn{Conn: nc, state: c.tlsState}
	}
	c.release()
	c.unbind()
	c.rwc.SetReadDeadline(time.Time{})
	c.s.forget(c)
	if c.s.handedOff != nil {
		c.s.handedOff()
	}
	// net/http reads what h1 does not, through the framing guard: a
	// request with faulty framing gets esgate's 400 and the connection
	// closes (see FramingError).
	if !c.s.handoff.give(nc) {
		c.cancel()
		c.rwc.Close()
	}
}

// serveOne serves the request whose head is the first end bytes of the
// buffer. It reports whether the connection stays open, and parsed false
// when the head is not h1's to serve (nothing was consumed).
func (c *conn) serveOne(end int) (keep, parsed bool) {
	b, _ := c.br.Peek(end)
	block := string(b)
	st := c.st
	clear(st.header)
	hd, vals, ok := parseHead(block, st.header, st.vals[:0])
	st.vals = vals
	if !ok || !buildURL(&st.url, &hd) {
		return false, false
	}
	c.br.Discard(end)
	c.served++
	c.lastPost = hd.method == http.MethodPost
	c.busySince.Store(time.Now().UnixNano())
	defer c.busySince.Store(0)

	r := st.req
	r.Method = hd.method
	r.URL = &st.url
	r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.1", 1, 1
	r.Header = st.header
	r.Host = hd.host
	r.RequestURI = hd.target
	r.RemoteAddr = c.remote
	r.Close = hd.close
	r.ContentLength = hd.length
	r.TransferEncoding = nil
	r.Form, r.PostForm, r.MultipartForm, r.Trailer = nil, nil, nil, nil
	r.TLS, r.Response, r.GetBody, r.Pattern = c.tlsState, nil, nil, ""
	st.body = body{c: c, left: hd.length, expect: hd.expect, asked: hd.expect}
	if hd.length > 0 {
		r.Body = &st.body
		c.rwc.SetReadDeadline(time.Time{})
	} else {
		r.Body = http.NoBody
		st.body.sawEOF = true
	}
	st.w.reset(hd.method == http.MethodHead, hd.close)

	if !c.callHandler() || !st.w.finish() || c.bw.Flush() != nil {
		return false, true
	}
	return !st.w.closeAfter && !c.s.stopping.Load() && c.ctx.Err() == nil, true
}

// callHandler runs the handler; false when it panicked (the connection
// is then dropped: a half-written answer must not be taken as whole).
func (c *conn) callHandler() (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				buf := make([]byte, 16<<10)
				buf = buf[:runtime.Stack(buf, false)]
				c.s.log().Error("panic serving a request", "remote", c.remote, "panic", v, "stack", string(buf))
			}
			ok = false
		}
	}()
	c.s.Handler.ServeHTTP(&c.st.w, c.st.req)
	return true
}

// buildURL sets u to the request's target as url.ParseRequestURI would.
func buildURL(u *url.URL, hd *head) bool {
	if !hd.plainPath {
		p, err := url.ParseRequestURI(hd.target)
		if err != nil {
			return false
		}
		*u = *p
		return true
	}
	*u = url.URL{Path: hd.path, RawQuery: hd.rawQuery, ForceQuery: hd.forceQuery}
	return true
}

// handedConn is a connection handed to Fallback: the bytes h1 had read
// come first.
type handedConn struct {
	net.Conn
	r io.Reader
}

func (h *handedConn) Read(p []byte) (int, error) { return h.r.Read(p) }

// CloseWrite lets net/http half-close before closing, as it does on its
// own connections (so that unread request bytes do not turn the close
// into a reset that could destroy the answer).
func (h *handedConn) CloseWrite() error {
	if cw, ok := h.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// tlsHandedConn is a TLS connection handed to Fallback: net/http fills
// Request.TLS from a connection with a ConnectionState method when it is
// not a *tls.Conn itself.
type tlsHandedConn struct {
	net.Conn
	state *tls.ConnectionState
}

func (t *tlsHandedConn) ConnectionState() tls.ConnectionState { return *t.state }

// CloseWrite is the wrapped connection's (see handedConn.CloseWrite).
func (t *tlsHandedConn) CloseWrite() error {
	if cw, ok := t.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// handoffListener is what Fallback serves: the connections h1 hands over.
type handoffListener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
	addr net.Addr
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) give(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *handoffListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *handoffListener) Addr() net.Addr { return l.addr }
