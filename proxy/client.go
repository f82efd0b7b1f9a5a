package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"syscall"
	"time"
)

// upstreamClient is esgate's HTTP/1.1 client for Elasticsearch hosts: a
// keep-alive pool per host address, where each request is written and its
// response read by the goroutine that serves the client. net/http's
// Transport hands every request to two goroutines per connection (a writer
// and a reader) through channels; on Logstash-sized bulks those handoffs,
// their wake-ups and allocations were a tenth of esgate's CPU.
//
// It implements http.RoundTripper for the ReverseProxy. What it does not
// do, because Elasticsearch does not need it: HTTP/2, proxies, 101
// upgrades, Expect: 100-continue (rewrite strips it) and compression.
type upstreamClient struct {
	dial func(ctx context.Context, addr string) (net.Conn, error)
	// maxIdle bounds the pooled connections per host (default 100).
	maxIdle int
	// idleTimeout closes pooled connections idle this long.
	idleTimeout time.Duration
	// headerTimeout bounds the wait for response headers after the request
	// was written.
	headerTimeout time.Duration
	// gotConn, if set, is told of each connection used: new or reused.
	gotConn func(addr string, reused bool)
	// maxPerHost bounds the connections to one host and maxTotal those to
	// all of them (0: no bound). A request beyond waits up to poolWait for
	// a connection to come free, as Logstash's pool_max_per_route and
	// pool_max do. A new connection is dialed only when every existing one
	// is busy, so bounding requests in flight bounds connections.
	maxPerHost, maxTotal int
	poolWait             time.Duration
	// onWait, if set, is told of each request that had to wait for a slot.
	onWait func(addr string)

	mu     sync.Mutex
	idle   map[string][]*upConn // per host address, most recently used last
	busy   map[string]slots     // per host address
	total  slots
	closed bool
}

// slots is a counting semaphore.
type slots chan struct{}

// poolWaitError: every connection was busy for the whole wait.
type poolWaitError struct {
	key  string
	max  int
	wait time.Duration
}

func (e poolWaitError) Error() string {
	return fmt.Sprintf("all %d connections (%s) stayed busy for %s: raise %s or add hosts", e.max, e.key, e.wait, e.key)
}
func (poolWaitError) Timeout() bool   { return true }
func (poolWaitError) Temporary() bool { return true }

// acquire takes a slot, waiting up to wait (the fast path does not touch a
// timer); waiting is called before it waits.
func (s slots) acquire(ctx context.Context, wait time.Duration, key string, waiting func()) error {
	select {
	case s <- struct{}{}:
		return nil
	default:
	}
	waiting()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case s <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return poolWaitError{key: key, max: cap(s), wait: wait}
	}
}

func (s slots) release() { <-s }

// reservation is the slots one request holds (none without bounds); a
// value, so that holding it allocates nothing.
type reservation struct{ host, total slots }

func (r reservation) release() {
	if r.host != nil {
		r.host.release()
	}
	if r.total != nil {
		r.total.release()
	}
}

// reserve takes a connection slot for one request to addr.
func (t *upstreamClient) reserve(ctx context.Context, addr string) (reservation, error) {
	if t.maxPerHost <= 0 && t.maxTotal <= 0 {
		return reservation{}, nil
	}
	t.mu.Lock()
	if t.total == nil && t.maxTotal > 0 {
		t.total = make(slots, t.maxTotal)
	}
	host := t.busy[addr]
	if host == nil && t.maxPerHost > 0 {
		if t.busy == nil {
			t.busy = make(map[string]slots)
		}
		host = make(slots, t.maxPerHost)
		t.busy[addr] = host
	}
	total := t.total
	t.mu.Unlock()
	waiting := func() {
		if t.onWait != nil {
			t.onWait(addr)
		}
	}
	if total != nil {
		if err := total.acquire(ctx, t.poolWait, "pool_max", waiting); err != nil {
			return reservation{}, err
		}
	}
	if host != nil {
		if err := host.acquire(ctx, t.poolWait, "pool_max_per_route", waiting); err != nil {
			if total != nil {
				total.release()
			}
			return reservation{}, err
		}
	}
	return reservation{host: host, total: total}, nil
}

// upConn is one keep-alive connection to a host.
type upConn struct {
	conn   net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	addr   string
	idleAt time.Time
	reused bool
}

func (c *upConn) close() { c.conn.Close() }

// aLongTimeAgo is a deadline that makes blocked I/O return at once.
var aLongTimeAgo = time.Unix(1, 0)

// headerTimeoutError is returned when the host sent no response headers
// within the header timeout; it is a net.Error timeout, so esgate answers
// 504.
type headerTimeoutError struct{ d time.Duration }

func (e headerTimeoutError) Error() string {
	return fmt.Sprintf("no response headers within %s: Elasticsearch is slow or stuck; raise timeout if such requests are expected", e.d)
}
func (headerTimeoutError) Timeout() bool   { return true }
func (headerTimeoutError) Temporary() bool { return true }

func (t *upstreamClient) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	addr := req.URL.Host
	trace := httptrace.ContextClientTrace(ctx)
	slot, err := t.reserve(ctx, addr)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		pc, err := t.get(ctx, addr)
		if err != nil {
			slot.release()
			return nil, err
		}
		if t.gotConn != nil {
			t.gotConn(addr, pc.reused)
		}
		if trace != nil && trace.GotConn != nil {
			trace.GotConn(httptrace.GotConnInfo{Conn: pc.conn, Reused: pc.reused, WasIdle: pc.reused,
				IdleTime: time.Since(pc.idleAt)})
		}
		res, retry, err := t.exchange(ctx, pc, req)
		if err == nil {
			// The slot is held until the body is done with.
			if b, ok := res.Body.(*upBody); ok {
				b.slot = slot
			} else {
				slot.release()
			}
			return res, nil
		}
		// A pooled connection the host closed while it was idle fails
		// before the host saw the request; one fresh connection is tried
		// then, as net/http does.
		if !retry || !pc.reused || attempt > 0 || ctx.Err() != nil {
			slot.release()
			return nil, err
		}
	}
}

// exchange sends req on pc and reads the response headers. On failure pc
// is closed, and retry says whether the request surely did not reach the
// host (nothing of its body was consumed, nothing came back).
func (t *upstreamClient) exchange(ctx context.Context, pc *upConn, req *http.Request) (res *http.Response, retry bool, err error) {
	stop := context.AfterFunc(ctx, func() { pc.conn.SetDeadline(aLongTimeAgo) })
	fail := func(err error, retry bool) (*http.Response, bool, error) {
		stop()
		pc.close()
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		return nil, retry, err
	}
	body, _ := req.Body.(*trackedBody)
	werr := req.Write(pc.bw)
	if werr == nil {
		werr = pc.bw.Flush()
	}
	if werr != nil {
		if body != nil {
			if berr := body.err(); berr != nil {
				// The client's body failed (it went away, or it is too
				// large), not the host.
				return fail(berr, false)
			}
		}
		if ctx.Err() != nil { // the client went away mid-body
			return fail(werr, false)
		}
		// The host may have answered early (413, 401) and closed; its
		// answer is then still in the socket, and it is the one to give.
		pc.conn.SetReadDeadline(time.Now().Add(time.Second))
		if res, err := http.ReadResponse(pc.br, req); err == nil {
			clearReadDeadline(ctx, pc)
			return t.wrapBody(ctx, pc, req, res, stop, false), false, nil
		}
		return fail(fmt.Errorf("writing request: %w", werr), body == nil || body.read.Load() == 0)
	}

	if t.headerTimeout > 0 {
		pc.conn.SetReadDeadline(time.Now().Add(t.headerTimeout))
	}
	for {
		res, err = http.ReadResponse(pc.br, req)
		if err != nil || res.StatusCode >= 200 || res.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		// 1xx informational answers (103 Early Hints) carry no body and
		// precede the real one.
	}
	if t.headerTimeout > 0 {
		clearReadDeadline(ctx, pc)
	}
	if err != nil {
		var ne net.Error
		if t.headerTimeout > 0 && errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil {
			err = headerTimeoutError{t.headerTimeout}
		}
		// Nothing came back on a connection that was idle: the host had
		// closed it. Safe to retry only if the request could not have been
		// acted on: no body, and a method without side effects.
		idempotent := req.Method == http.MethodGet || req.Method == http.MethodHead || req.Method == http.MethodOptions
		stale := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) || isConnReset(err)
		return fail(fmt.Errorf("reading response: %w", err), stale && idempotent && body == nil)
	}
	reuse := !res.Close && !req.Close && res.StatusCode != http.StatusSwitchingProtocols
	return t.wrapBody(ctx, pc, req, res, stop, reuse), false, nil
}

// clearReadDeadline lifts a read deadline for the body, unless the
// request was canceled meanwhile (its AfterFunc's deadline must stay).
func clearReadDeadline(ctx context.Context, pc *upConn) {
	pc.conn.SetReadDeadline(time.Time{})
	if ctx.Err() != nil {
		pc.conn.SetDeadline(aLongTimeAgo)
	}
}

func isConnReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }

// wrapBody returns res with a body that gives pc back to the pool once it
// was read to the end (or closes pc when it was not).
func (t *upstreamClient) wrapBody(ctx context.Context, pc *upConn, req *http.Request, res *http.Response, stop func() bool, reuse bool) *http.Response {
	b := &upBody{rc: res.Body, pc: pc, t: t, stop: stop, reuse: reuse}
	if res.Body == http.NoBody || req.Method == http.MethodHead {
		b.finish(true)
		return res
	}
	res.Body = b
	return res
}

// upBody is a response body on a pooled connection.
type upBody struct {
	rc    io.ReadCloser
	pc    *upConn
	t     *upstreamClient
	stop  func() bool
	slot  reservation // the request's connection slot, given back in finish
	reuse bool
	done  bool
}

func (b *upBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.rc.Read(p)
	if err != nil {
		b.finish(err == io.EOF)
	}
	return n, err
}

// WriteTo lets io.Copy hand its destination to a pooled copy.
func (b *upBody) WriteTo(w io.Writer) (int64, error) { return copyPooled(w, b) }

// Close drops the connection when the body was not read to the end: what
// is left of it would have to be read before the next request.
func (b *upBody) Close() error {
	if !b.done {
		b.finish(false)
	}
	return nil
}

func (b *upBody) finish(complete bool) {
	b.done = true
	// stop reports false when the request's context was canceled: the
	// connection's deadline is then in the past, and it is not reusable.
	if b.stop() && complete && b.reuse {
		b.t.put(b.pc)
	} else {
		b.pc.close()
	}
	b.slot.release()
	b.slot = reservation{}
}

// get returns a pooled connection to addr, or dials one.
func (t *upstreamClient) get(ctx context.Context, addr string) (*upConn, error) {
	for {
		t.mu.Lock()
		s := t.idle[addr]
		if len(s) == 0 {
			t.mu.Unlock()
			break
		}
		pc := s[len(s)-1]
		s[len(s)-1] = nil
		t.idle[addr] = s[:len(s)-1]
		t.mu.Unlock()
		if t.usable(pc) {
			return pc, nil
		}
		pc.close()
	}
	conn, err := t.dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	return &upConn{conn: conn, addr: addr,
		br: bufio.NewReaderSize(conn, 64<<10), bw: bufio.NewWriterSize(conn, 64<<10)}, nil
}

// usable reports whether a pooled connection is still good: within the
// idle timeout, and nothing waiting on it. An idle connection has nothing
// to read unless the host closed it (or sent what nobody asked for, which
// spoils it too). The check costs one non-blocking syscall and catches
// hosts and load balancers that close idle connections early.
func (t *upstreamClient) usable(pc *upConn) bool {
	if t.idleTimeout > 0 && time.Since(pc.idleAt) > t.idleTimeout {
		return false
	}
	return !hasInput(pc.conn)
}

// put returns a connection whose last response was read in full.
func (t *upstreamClient) put(pc *upConn) {
	if pc.br.Buffered() > 0 { // bytes nobody asked for
		pc.close()
		return
	}
	pc.idleAt = time.Now()
	pc.reused = true
	t.mu.Lock()
	if t.closed || len(t.idle[pc.addr]) >= t.maxIdle {
		t.mu.Unlock()
		pc.close()
		return
	}
	if t.idle == nil {
		t.idle = make(map[string][]*upConn)
	}
	t.idle[pc.addr] = append(t.idle[pc.addr], pc)
	t.mu.Unlock()
}

// closeIdle closes pooled connections idle since before the cutoff (all
// of them for the zero time); closeForever also stops pooling.
func (t *upstreamClient) closeIdle(cutoff time.Time) {
	var drop []*upConn
	t.mu.Lock()
	for addr, s := range t.idle {
		keep := s[:0]
		for _, pc := range s {
			if cutoff.IsZero() || pc.idleAt.Before(cutoff) {
				drop = append(drop, pc)
			} else {
				keep = append(keep, pc)
			}
		}
		clear(s[len(keep):])
		t.idle[addr] = keep
	}
	t.mu.Unlock()
	for _, pc := range drop {
		pc.close()
	}
}

// closeIdleTo closes the pooled connections to one host address.
func (t *upstreamClient) closeIdleTo(addr string) {
	t.mu.Lock()
	drop := t.idle[addr]
	delete(t.idle, addr)
	t.mu.Unlock()
	for _, pc := range drop {
		pc.close()
	}
}

func (t *upstreamClient) closeForever() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.closeIdle(time.Time{})
}
