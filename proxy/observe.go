package proxy

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/esgate/esgate/certs"
	"github.com/esgate/esgate/proxy/esproto"
)

// reqInfo collects what one request did, for metrics and the access log.
type reqInfo struct {
	endpoint   string // metrics.Endpoint of the path, computed once
	client     string // the authenticated client ("" none)
	host       string
	upstream   time.Duration // to response headers
	reqBytes   atomic.Int64
	itemErrors int
	items      int
}

// statusRecorder captures the status and size of a response, and when
// its head was given to the client.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	headAt time.Time
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status, s.headAt = code, time.Now()
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status, s.headAt = http.StatusOK, time.Now()
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach Flush and friends.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Flush is here because httputil.ReverseProxy checks for http.Flusher.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// countingBody counts request body bytes.
type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// observed wraps serving with metrics and the access log. Every request
// ends in exactly one sample and one log line, also when serving panics
// (http.ErrAbortHandler for an answer that broke off): the panic goes on
// after the accounting.
//
// The request's reqInfo travels as an argument, not in its context:
// r.WithContext would copy the whole Request for every request.
func (p *Proxy) observed(w http.ResponseWriter, r *http.Request, serve func(http.ResponseWriter, *http.Request, *reqInfo)) {
	m, alog := p.opts.Metrics, p.opts.AccessLog
	if m == nil && alog == nil {
		serve(w, r, nil)
		return
	}
	start := time.Now()
	info := &reqInfo{}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = &countingBody{ReadCloser: r.Body, n: &info.reqBytes}
	}
	rec := &statusRecorder{ResponseWriter: w}
	endpoint := esproto.Endpoint(r.URL.Path)
	info.endpoint = endpoint
	if m != nil {
		m.InFlight.Inc()
	}
	aborted := true
	defer func() {
		p.account(r, rec, info, start, aborted)
	}()
	serve(rec, r, info)
	aborted = false
}

// account records one finished request: metrics and the access log line.
func (p *Proxy) account(r *http.Request, rec *statusRecorder, info *reqInfo, start time.Time, aborted bool) {
	m, alog := p.opts.Metrics, p.opts.AccessLog
	total := time.Since(start)
	status := rec.status
	if status == 0 {
		status = 499 // the client went away before an answer
	}
	events := int64(-1)
	if v := r.Header.Get("X-Elastic-Event-Count"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
			events = n
		}
	}
	endpoint := info.endpoint
	if m != nil {
		m.InFlight.Dec()
		m.Observe(r.Method, endpoint, status, total, info.upstream)
		m.RequestBytes.Add(float64(info.reqBytes.Load()))
		m.ResponseBytes.Add(float64(rec.bytes))
		if events > 0 && endpoint == "bulk" {
			m.BulkEvents.Add(float64(events))
		}
	}
	if alog != nil && alog.Handler().Enabled(r.Context(), slog.LevelInfo) {
		a := AccessRecord{
			Route:      p.name,
			Method:     r.Method,
			Path:       r.URL.Path,
			Status:     status,
			BytesIn:    info.reqBytes.Load(),
			BytesOut:   rec.bytes,
			DurationMS: float64(total.Microseconds()) / 1000,
			Upstream:   info.host,
			UpstreamMS: float64(info.upstream.Microseconds()) / 1000,
			Aborted:    aborted,
			Client:     info.client,
			Bulk:       endpoint == "bulk",
			Events:     events,
			Items:      info.items,
			ItemErrors: info.itemErrors,
		}
		if !rec.headAt.IsZero() {
			a.HasHead, a.HeadMS = true, float64(rec.headAt.Sub(start).Microseconds())/1000
		}
		now := time.Now()
		if w, ok := alog.Handler().(AccessWriter); ok && w.WriteAccess(now, a) {
			return
		}
		// The handler directly: Logger.LogAttrs would walk the stack for
		// the caller's position, which the access line does not show.
		var buf [16]slog.Attr
		rec := slog.NewRecord(now, slog.LevelInfo, "request", 0)
		rec.AddAttrs(a.Attrs(buf[:0])...)
		alog.Handler().Handle(r.Context(), rec)
	}
}

// afterResponse inspects an upstream answer: auth failures, bulk items.
// For a 401/403 counted in the metrics it returns the start of the body it
// read (and put back), so that the 401 hook need not read it again.
func (p *Proxy) afterResponse(info *reqInfo, res *http.Response) (authBody []byte) {
	m := p.opts.Metrics
	switch {
	case res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden:
		p.authFailing.Store(res.StatusCode == http.StatusUnauthorized)
		if m == nil && res.StatusCode != http.StatusForbidden {
			return nil
		}
		authBody = peekBody(res, maxAuthBody)
		if m != nil {
			m.AuthFailure(res.StatusCode, esproto.AuthReason(res.StatusCode, authBody))
		}
		if res.StatusCode == http.StatusForbidden {
			p.explainForbidden(authBody)
		}
	case res.StatusCode < 300:
		p.authFailing.Store(false)
		if info != nil && !p.opts.DisableBulkParsing && info.endpoint == "bulk" && (res.ContentLength < 0 || res.ContentLength <= maxBulkParse) {
			bp := captureBufs.Get().(*[]byte)
			res.Body = &bulkCapture{ReadCloser: res.Body, p: p, info: info, pooled: bp, buf: (*bp)[:0]}
		}
	}
	return authBody
}

// explainForbidden logs, once per refused action and route, what a 403
// means for a Logstash pipeline and which bootstrap mode grants it: the
// operator sees the fix in esgate's log, not only Logstash's retries.
func (p *Proxy) explainForbidden(body []byte) {
	if f, ok := esproto.ParseForbidden(body); ok {
		p.explain(f)
	}
}

// explain logs f's hint, once per action.
func (p *Proxy) explain(f esproto.Forbidden) {
	hint := f.Hint()
	if hint == "" {
		return
	}
	if _, seen := p.explained.LoadOrStore(f.Action, true); seen {
		return
	}
	p.log.Warn("Elasticsearch refused an action: a privilege is missing", "route", p.name, "action", f.Action,
		"indices", f.Indices, "granted_by", f.GrantedBy, "fix", hint)
	if p.opts.OnForbidden != nil {
		p.opts.OnForbidden(f.Action, hint)
	}
}

// maxBulkParse bounds the copy of a bulk response kept for counting items.
const maxBulkParse = 4 << 20

// captureBufs recycles bulk response copies.
var captureBufs = sync.Pool{New: func() any { b := make([]byte, 0, 32<<10); return &b }}

// bulkCapture keeps a bounded copy of a bulk response while it streams to
// the client and counts its items when it ends. It never delays a byte.
type bulkCapture struct {
	io.ReadCloser
	p      *Proxy
	info   *reqInfo
	pooled *[]byte
	buf    []byte
	over   bool
	done   bool
}

func (b *bulkCapture) Close() error {
	b.release()
	return b.ReadCloser.Close()
}

// release returns the copy buffer to the pool (once).
func (b *bulkCapture) release() {
	if b.pooled != nil {
		if cap(b.buf) <= 1<<20 {
			*b.pooled = b.buf[:0]
			captureBufs.Put(b.pooled)
		}
		b.pooled, b.buf = nil, nil
	}
}

func (b *bulkCapture) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if !b.over && b.pooled != nil {
		if len(b.buf)+n > maxBulkParse {
			b.over = true
			b.release()
		} else {
			b.buf = append(b.buf, p[:n]...)
		}
	}
	if errors.Is(err, io.EOF) {
		b.finish()
	}
	return n, err
}

func (b *bulkCapture) finish() {
	if b.done || b.over {
		return
	}
	b.done = true
	counts, err := esproto.BulkItems(b.buf)
	if err != nil {
		return
	}
	forbidden := false
	for k, n := range counts {
		b.info.items += n
		if k.ErrorType != "" {
			b.info.itemErrors += n
		}
		forbidden = forbidden || k.Status == 403
	}
	if forbidden {
		if f, ok := esproto.ForbiddenItem(b.buf); ok {
			b.p.explain(f)
		}
	}
	b.p.opts.Metrics.BulkItems(counts)
}

// tlsReason labels a handshake failure.
func tlsReason(err error) string {
	var ve *certs.VerificationError
	if errors.As(err, &ve) {
		switch {
		case strings.Contains(ve.Reason, "unknown authority"):
			return "unknown_authority"
		case strings.Contains(ve.Reason, "is not valid for"):
			return "hostname_mismatch"
		case strings.Contains(ve.Reason, "expired"):
			return "expired"
		case strings.Contains(ve.Reason, "fingerprint"):
			return "fingerprint_mismatch"
		}
		return "verification"
	}
	return "handshake"
}
