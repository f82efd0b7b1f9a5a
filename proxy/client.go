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
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/esgate/esgate/certs"
	"github.com/esgate/esgate/proxy/h1"
)

// upstreamClient is esgate's HTTP/1.1 client for Elasticsearch hosts: a
// keep-alive pool per host address, where each request is written and its
// response read by the goroutine that serves the client. net/http's
// Transport hands every request to two goroutines per connection (a writer
// and a reader) through channels; on Logstash-sized bulks those handoffs,
// their wake-ups and allocations were a tenth of esgate's CPU.
//
// Every request names the TLS material it is sent with (outRequest.tls):
// idle connections are pooled per host address and material, so that a
// request never rides a connection made with another state's trust. What
// it does not do, because
// Elasticsearch does not need it: HTTP/2, proxies, 101 upgrades, Expect:
// 100-continue (never sent) and compression.
type upstreamClient struct {
	dial func(ctx context.Context, addr string, mat *certs.Material) (net.Conn, error)
	// maxIdle bounds the pooled connections per host (default 100).
	maxIdle int
	// idleTimeout closes pooled connections idle this long.
	idleTimeout time.Duration
	// headerTimeout bounds the wait for response headers after the request
	// was written, and a body write that makes no progress.
	headerTimeout time.Duration
	// maxHeader bounds the bytes of a response's headers (1xx included).
	maxHeader int64
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
	idle   map[poolKey][]*upConn // most recently used last
	busy   map[string]slots      // per host address
	total  slots
	closed bool
}

// poolKey is what an idle connection can be reused for: the host address
// and the TLS material it was made with.
type poolKey struct {
	addr string
	tls  *certs.Material
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
	lim    readLimiter // between conn and br: bounds response headers
	br     *bufio.Reader
	bw     *bufio.Writer
	key    poolKey
	idleAt time.Time
	reused bool
	body   lengthBody // the answer being read, when fastAnswer read its head
	// abort ends the connection's I/O at once (a canceled request); built
	// once per connection, so that arming it per request allocates none.
	abort func()
}

// gotBytes reports whether anything of a response was read since the
// request was written.
func (c *upConn) gotBytes() bool { return c.lim.got > 0 || c.br.Buffered() > 0 }

// readLimiter counts what is read from a connection and, while a limit is
// set, refuses reads beyond it: response headers are read through it with
// max_response_header_size as the limit, as net/http's Transport does with
// MaxResponseHeaderBytes. What bufio reads ahead of the headers counts too.
type readLimiter struct {
	r       io.Reader
	left    int64 // -1: no limit
	refused bool  // a read was refused for the limit
	got     int64 // bytes read since the request was written
}

var errLimit = errors.New("read limit reached")

// limit sets the bytes that may still be read (-1: no limit).
func (l *readLimiter) limit(n int64) { l.left, l.refused = n, false }

// exhausted reports whether a read was refused for the limit.
func (l *readLimiter) exhausted() bool { return l.refused }

func (l *readLimiter) Read(p []byte) (int, error) {
	if l.left == 0 {
		l.refused = true
		return 0, errLimit
	}
	if l.left > 0 && int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.got += int64(n)
	if l.left > 0 {
		l.left -= int64(n)
	}
	return n, err
}

func (c *upConn) close() { c.conn.Close() }

// unsolicited reports whether anything is already readable after a
// complete response: bytes in bufio's buffer, or whole TLS records that
// crypto/tls read from the socket together with the response and keeps
// in its own buffer, where the socket probe of usable cannot see them.
// Such bytes answer no request of ours (a second response, a body after
// HEAD, 204 or 304); reusing the connection would hand them to the next
// request as its answer. net/http's Transport drops such a connection
// ("Unsolicited response received on idle HTTP channel"); so does esgate.
//
// The check is a read with a deadline in the past: crypto/tls decrypts a
// record it already holds without touching the socket, and otherwise the
// read fails at once without a syscall. A read deadline error is not
// sticky in crypto/tls, so the connection stays usable.
func (c *upConn) unsolicited() bool {
	if c.br.Buffered() > 0 {
		return true
	}
	c.conn.SetReadDeadline(aLongTimeAgo)
	_, err := c.br.Peek(1)
	c.conn.SetReadDeadline(time.Time{})
	return err == nil || !isTimeout(err)
}

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

// do sends or to or.addr and returns the response with its headers read;
// the caller reads and closes the body.
func (t *upstreamClient) do(or *outRequest) (*http.Response, error) {
	ctx := or.ctx
	addr := or.addr
	trace := httptrace.ContextClientTrace(ctx)
	slot, err := t.reserve(ctx, addr)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		pc, err := t.get(ctx, poolKey{addr, or.tls})
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
		res, retry, err := t.exchange(ctx, pc, or)
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

// maxInformational bounds the 1xx answers read before the real one, as
// net/http's Transport does (it allows 5).
const maxInformational = 5

// exchange sends or on pc and reads the response headers. On failure pc
// is closed, and retry says whether the request surely did not reach the
// host (nothing of its body was consumed, nothing came back).
func (t *upstreamClient) exchange(ctx context.Context, pc *upConn, or *outRequest) (res *http.Response, retry bool, err error) {
	stop := context.AfterFunc(ctx, pc.abort)
	fail := func(err error, retry bool) (*http.Response, bool, error) {
		stop()
		pc.close()
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		return nil, retry, err
	}
	body := or.body
	pc.lim.got = 0
	werr := or.write(pc.bw)
	if werr == nil {
		werr = pc.bw.Flush()
	}
	rreq := responseFor(or.method)
	if werr != nil {
		if body != nil {
			if berr := body.err(); berr != nil {
				// The client's body failed (it went away, sent a broken
				// chunk, stalled, or is too large), not the host.
				return fail(berr, false)
			}
		}
		if ctx.Err() != nil { // the client went away mid-body
			return fail(werr, false)
		}
		// The host may have answered early (413, 401) and closed; its
		// answer is then still in the socket, and it is the one to give.
		// A host that closed sent it before its close, so the read ends at
		// once with the answer or with nothing: its bound (the header
		// timeout, else 30 s) only catches a process starved of CPU. A
		// write that stalled met a host alive but not reading, whose early
		// answer, if any, is in the socket already: a second.
		wait := time.Second
		if !isTimeout(werr) {
			if wait = t.headerTimeout; wait <= 0 {
				wait = 30 * time.Second
			}
		}
		pc.conn.SetReadDeadline(time.Now().Add(wait))
		if res, err := t.readResponse(pc, rreq); err == nil {
			clearReadDeadline(ctx, pc)
			return t.wrapBody(pc, or, res, stop, false), false, nil
		}
		if isTimeout(werr) {
			werr = writeStallError{t.headerTimeout}
		}
		return fail(fmt.Errorf("writing request: %w", werr), body == nil || body.read.Load() == 0)
	}

	if t.headerTimeout > 0 {
		pc.conn.SetReadDeadline(time.Now().Add(t.headerTimeout))
	}
	res, err = t.readResponse(pc, rreq)
	if t.headerTimeout > 0 {
		clearReadDeadline(ctx, pc)
	}
	if err != nil {
		if t.headerTimeout > 0 && isTimeout(err) && ctx.Err() == nil {
			err = headerTimeoutError{t.headerTimeout}
		}
		// Nothing came back on a connection that was idle: the host had
		// closed it. Safe to retry only if the request could not have been
		// acted on: no body, and a method without side effects.
		idempotent := or.method == http.MethodGet || or.method == http.MethodHead || or.method == http.MethodOptions
		stale := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) || isConnReset(err)
		return fail(fmt.Errorf("reading response: %w", err), stale && idempotent && body == nil && !pc.gotBytes())
	}
	reuse := !res.Close && !or.close
	return t.wrapBody(pc, or, res, stop, reuse), false, nil
}

// readResponse reads a response's headers within maxHeader bytes,
// skipping at most maxInformational 1xx answers. A 101 is an error: esgate
// never asks for an upgrade.
func (t *upstreamClient) readResponse(pc *upConn, rreq *http.Request) (*http.Response, error) {
	// The limit covers the 1xx answers and the final headers together.
	pc.lim.limit(t.maxHeader)
	defer pc.lim.limit(-1)
	for i := 0; ; i++ {
		res, ok := pc.fastAnswer(rreq.Method)
		var err error
		if !ok {
			res, err = http.ReadResponse(pc.br, rreq)
		}
		if pc.lim.exhausted() {
			return nil, &ProtocolError{What: fmt.Sprintf("response headers are larger than max_response_header_size (%d bytes)", t.maxHeader)}
		}
		if err != nil {
			switch {
			case errors.Is(err, io.ErrUnexpectedEOF) && pc.gotBytes():
				return nil, &ProtocolError{What: "the connection closed in the middle of the response headers", Err: err}
			case isTimeout(err), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed), isConnReset(err):
				return nil, err // nothing came back, or the wait ended
			}
			return nil, &ProtocolError{What: "malformed response headers", Err: err}
		}
		switch {
		case res.StatusCode == http.StatusSwitchingProtocols:
			return nil, &ProtocolError{What: "the host switched protocols (101) though esgate asked for no upgrade"}
		case res.StatusCode >= 200:
			return res, nil
		case i >= maxInformational:
			return nil, &ProtocolError{What: fmt.Sprintf("more than %d informational (1xx) answers before the response", maxInformational)}
		}
		// 1xx informational answers (103 Early Hints) carry no body and
		// precede the real one.
	}
}

// fastAnswer reads an answer's head itself when it is of the plain form
// package h1 parses (HTTP/1.1, one Content-Length, plain header lines):
// the common answer, read without net/http's per-field allocations.
// Otherwise, and on any read error, it consumes nothing and reports false;
// http.ReadResponse then reads the same bytes (and meets the same error).
func (pc *upConn) fastAnswer(method string) (*http.Response, bool) {
	from := 0
	for {
		b, _ := pc.br.Peek(pc.br.Buffered())
		var end int
		end, from = h1.ScanHead(b, from)
		switch {
		case end < 0:
			return nil, false
		case end > 0:
			res, ok := h1.ParseAnswer(string(b[:end]), method)
			if !ok {
				return nil, false
			}
			pc.br.Discard(end)
			if res.ContentLength == 0 {
				res.Body = http.NoBody
			} else {
				pc.body = lengthBody{r: pc.br, left: res.ContentLength}
				res.Body = &pc.body
			}
			return res, true
		}
		if len(b) >= pc.br.Size() {
			return nil, false
		}
		if _, err := pc.br.Peek(len(b) + 1); err != nil {
			return nil, false
		}
	}
}

// lengthBody is an answer body of Content-Length bytes. Its connection
// keeps one, as it carries one answer at a time.
type lengthBody struct {
	r    io.Reader
	left int64
}

func (b *lengthBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	switch {
	case b.left == 0:
		err = io.EOF
	case err == io.EOF:
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// Close leaves the rest unread; upBody decides the connection's fate.
func (b *lengthBody) Close() error { return nil }

// ProtocolError is an upstream answer that breaks HTTP/1.1 or esgate's
// limits; the client gets 502 naming it.
type ProtocolError struct {
	What string
	Err  error
}

func (e *ProtocolError) Error() string {
	if e.Err != nil {
		return e.What + ": " + e.Err.Error()
	}
	return e.What
}

func (e *ProtocolError) Unwrap() error { return e.Err }

// writeStallError: the host took no more of the request body for the
// whole stall timeout.
type writeStallError struct{ d time.Duration }

func (e writeStallError) Error() string {
	return fmt.Sprintf("Elasticsearch took no more of the request body for %s: it is overloaded or stuck; raise timeout if such requests are expected", e.d)
}
func (writeStallError) Timeout() bool   { return true }
func (writeStallError) Temporary() bool { return true }

func isTimeout(err error) bool {
	if err == nil {
		return false
	}
	// The common case (a deadline, as in every unsolicited check) without
	// errors.As, whose target escapes and allocates per call.
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// responseFor returns the request http.ReadResponse is given for a method
// (it reads only Method, to know that a HEAD answer has no body); shared
// values for the usual methods, so that reading allocates none.
func responseFor(method string) *http.Request {
	switch method {
	case http.MethodGet:
		return getReq
	case http.MethodPost:
		return postReq
	case http.MethodPut:
		return putReq
	case http.MethodHead:
		return headReq
	}
	return &http.Request{Method: method}
}

var (
	getReq  = &http.Request{Method: http.MethodGet}
	postReq = &http.Request{Method: http.MethodPost}
	putReq  = &http.Request{Method: http.MethodPut}
	headReq = &http.Request{Method: http.MethodHead}
)

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
func (t *upstreamClient) wrapBody(pc *upConn, or *outRequest, res *http.Response, stop func() bool, reuse bool) *http.Response {
	b := &upBody{rc: res.Body, pc: pc, t: t, stop: stop, reuse: reuse}
	if res.Body == http.NoBody || or.method == http.MethodHead {
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

// get returns a pooled connection for key, or dials one.
func (t *upstreamClient) get(ctx context.Context, key poolKey) (*upConn, error) {
	for {
		t.mu.Lock()
		s := t.idle[key]
		if len(s) == 0 {
			t.mu.Unlock()
			break
		}
		pc := s[len(s)-1]
		s[len(s)-1] = nil
		t.idle[key] = s[:len(s)-1]
		t.mu.Unlock()
		if t.usable(pc) {
			return pc, nil
		}
		pc.close()
	}
	conn, err := t.dial(ctx, key.addr, key.tls)
	if err != nil {
		return nil, err
	}
	pc := &upConn{conn: conn, key: key, bw: bufio.NewWriterSize(conn, 64<<10)}
	pc.abort = func() { pc.conn.SetDeadline(aLongTimeAgo) }
	pc.lim = readLimiter{r: conn, left: -1}
	pc.br = bufio.NewReaderSize(&pc.lim, 64<<10)
	return pc, nil
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
	if pc.unsolicited() {
		pc.close()
		return
	}
	pc.idleAt = time.Now()
	pc.reused = true
	t.mu.Lock()
	if t.closed || len(t.idle[pc.key]) >= t.maxIdle {
		t.mu.Unlock()
		pc.close()
		return
	}
	if t.idle == nil {
		t.idle = make(map[poolKey][]*upConn)
	}
	t.idle[pc.key] = append(t.idle[pc.key], pc)
	t.mu.Unlock()
}

// closeIdle closes pooled connections idle since before the cutoff (all
// of them for the zero time); closeForever also stops pooling.
func (t *upstreamClient) closeIdle(cutoff time.Time) {
	var drop []*upConn
	t.mu.Lock()
	for key, s := range t.idle {
		keep := s[:0]
		for _, pc := range s {
			if cutoff.IsZero() || pc.idleAt.Before(cutoff) {
				drop = append(drop, pc)
			} else {
				keep = append(keep, pc)
			}
		}
		clear(s[len(keep):])
		t.idle[key] = keep
	}
	t.mu.Unlock()
	for _, pc := range drop {
		pc.close()
	}
}

// closeIdleTo closes the pooled connections to one host address.
func (t *upstreamClient) closeIdleTo(addr string) {
	t.closeIdleIf(func(k poolKey) bool { return k.addr == addr })
}

// closeIdleExcept closes the pooled connections made with other TLS
// material than mat: a reload replaced it.
func (t *upstreamClient) closeIdleExcept(mat *certs.Material) {
	t.closeIdleIf(func(k poolKey) bool { return k.tls != mat })
}

func (t *upstreamClient) closeIdleIf(drop func(poolKey) bool) {
	var out []*upConn
	t.mu.Lock()
	for k, s := range t.idle {
		if drop(k) {
			out = append(out, s...)
			delete(t.idle, k)
		}
	}
	t.mu.Unlock()
	for _, pc := range out {
		pc.close()
	}
}

func (t *upstreamClient) closeForever() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.closeIdle(time.Time{})
}
