package proxy

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// serve forwards one client request. It is esgate's own reverse proxy:
// httputil.ReverseProxy clones every request and its header map, and its
// Rewrite drops query parameters holding ';' (so GET /i/_search?q=a;b
// became a match_all); here the client's request is read in place and the
// outbound one is written straight to the connection (outRequest.write).
//
// The route's state is read once, here: the client's authentication, the
// policy, the credential, the TLS material and the hosts of one request
// all come from the same State, whatever reloads happen meanwhile.
func (p *Proxy) serve(w http.ResponseWriter, r *http.Request, info *reqInfo) {
	st := p.opts.State()
	if g := st.Guard; g != nil {
		id, ref := g.Authenticate(r)
		if ref != nil {
			p.opts.Metrics.ClientAuthFailure(ref.Status)
			p.log.Warn("client refused", "route", p.name, "remote", r.RemoteAddr, "status", ref.Status, "reason", ref.Reason)
			if ref.Challenge != "" {
				w.Header().Set("WWW-Authenticate", ref.Challenge)
			}
			writeError(w, ref.Status, "esgate_client_authentication_exception", ref.Reason)
			return
		}
		if id != "" {
			p.opts.Metrics.ClientRequest(id)
			if info != nil {
				info.client = id
			}
		}
	}
	pol := st.Policy
	if pol != nil {
		_, unix := r.Context().Value(http.LocalAddrContextKey).(*net.UnixAddr)
		if ref := pol.Check(r, unix); ref != nil {
			p.opts.Metrics.PolicyRefusal(ref.Rule)
			p.log.Warn("request refused by policy", "route", p.name, "method", r.Method, "path", r.URL.Path, "rule", ref.Rule)
			w.Header().Set("Connection", "close")
			writeError(w, http.StatusForbidden, "esgate_policy_exception", ref.Reason)
			return
		}
	}
	if max := p.opts.MaxBodySize; max > 0 {
		if r.ContentLength > max {
			writeError(w, http.StatusRequestEntityTooLarge, "esgate_content_too_long_exception",
				fmt.Sprintf("request body of %d bytes is larger than max_body_size (%d bytes)", r.ContentLength, max))
			return
		}
		if r.ContentLength < 0 && r.Body != nil {
			r.Body = &limitedBody{ReadCloser: r.Body, left: max, max: max}
		}
	}
	compat := p.opts.RESTCompat != 0 && setCompat(r, p.opts.RESTCompat)
	or := outRequest{ctx: r.Context(), method: r.Method, target: requestTarget(r), header: r.Header,
		custom: p.opts.CustomHeaders, length: r.ContentLength, info: info}
	if pol != nil {
		or.strip = pol.Strip()
	}
	if r.Body != nil && r.Body != http.NoBody {
		if p.opts.CompressionLevel > 0 && r.Header.Get("Content-Encoding") == "" {
			or.gzipLevel = p.opts.CompressionLevel
		}
		tb := &trackedBody{rc: r.Body, stall: p.opts.BodyReadTimeout}
		if tb.stall > 0 {
			tb.client = http.NewResponseController(w)
		}
		or.body = tb
	} else {
		or.length = 0
	}
	res, err := p.forward(&or, st, true)
	if err != nil {
		p.serveError(w, r, or.body, err)
		return
	}
	if compat {
		unsetCompat(res.Header)
	}
	if addr := nodesAddr(st, r); addr != "" && res.StatusCode == http.StatusOK {
		if err := rewriteNodesResponse(res, addr); err != nil {
			p.serveError(w, r, nil, fmt.Errorf("rewriting the /_nodes/http answer: %w", err))
			return
		}
	}
	p.writeResponse(w, res)
}

// writeResponse copies res to the client: status, end-to-end headers and
// the body, streamed. A body that breaks off aborts the client's
// connection (http.ErrAbortHandler), so that a cut answer is never taken
// for a whole one.
func (p *Proxy) writeResponse(w http.ResponseWriter, res *http.Response) {
	defer res.Body.Close()
	h := w.Header()
	_, hasConn := res.Header["Connection"]
	for k, vv := range res.Header {
		if isHopHeader(k) || (hasConn && connectionListed(res.Header, k)) {
			continue
		}
		h[k] = vv
	}
	w.WriteHeader(res.StatusCode)
	if res.Body == http.NoBody {
		return
	}
	// An answer of unknown length streams: each piece is flushed as it
	// comes (as ReverseProxy does), so that nothing waits in esgate.
	var flusher http.Flusher
	if res.ContentLength < 0 {
		if flusher, _ = w.(http.Flusher); flusher != nil {
			flusher.Flush() // the headers, before a body that may be slow
		}
	}
	bp := buffers.Get().(*[]byte)
	defer buffers.Put(bp)
	buf := *bp
	for {
		n, err := res.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				// The client went away; nothing more to do for it.
				panic(http.ErrAbortHandler)
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		if err == io.EOF {
			return
		}
		if err != nil {
			p.log.Warn("upstream answer broke off; aborting the client's connection", "route", p.name, "err", err)
			p.opts.Metrics.EsgateError("esgate_response_aborted")
			panic(http.ErrAbortHandler)
		}
	}
}

// peekBody reads up to limit bytes of res's body for inspection and puts
// them back in front of the rest, so the client still gets all of it.
func peekBody(res *http.Response, limit int) []byte {
	b, err := io.ReadAll(io.LimitReader(res.Body, int64(limit)))
	rest := res.Body
	if err != nil {
		// Deliver what came, then the same failure.
		res.Body = &prefixedBody{r: io.MultiReader(bytes.NewReader(b), errReader{err}), c: rest}
		return b
	}
	res.Body = &prefixedBody{r: io.MultiReader(bytes.NewReader(b), rest), c: rest}
	return b
}

type prefixedBody struct {
	r io.Reader
	c io.Closer
}

func (b *prefixedBody) Read(p []byte) (int, error) { return b.r.Read(p) }
func (b *prefixedBody) Close() error               { return b.c.Close() }

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// clientBodyError is a failure reading the client's request body: a
// broken chunk, a stall, max_body_size. It is the client's, not the
// host's.
type clientBodyError struct{ err error }

func (e *clientBodyError) Error() string { return "reading the request body: " + e.err.Error() }
func (e *clientBodyError) Unwrap() error { return e.err }

// setStallDeadline extends the client connection's read deadline before
// a body read: a body that makes no progress for stall fails (408). The
// deadline is moved at most every stall/4 (a deadline change is a timer
// update in the runtime, and a body comes in many reads), so a stall is
// caught between 3/4 of stall and stall after the last progress.
func (b *trackedBody) setStallDeadline() {
	if b.client == nil {
		return
	}
	now := time.Now()
	if now.Sub(b.armed) < b.stall/4 {
		return
	}
	b.armed = now
	b.client.SetReadDeadline(now.Add(b.stall))
}
