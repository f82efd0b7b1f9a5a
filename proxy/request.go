package proxy

import (
	"bufio"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/esgate/esgate/auth"
	"github.com/esgate/esgate/certs"
)

// outRequest is one request as esgate sends it upstream. It is written by
// hand rather than by http.Request.Write: the request target goes out
// byte for byte as the client sent it (net/url would re-encode the path,
// and httputil.ReverseProxy drops query parameters that hold a ';'), the
// client's headers are filtered while they are written (no copy of the
// header map), and the credential is added last.
type outRequest struct {
	ctx    context.Context
	method string
	// target is the request target without the host's path prefix: the
	// client's path and query, exactly as received.
	target string
	// addr and prefix are the host's host:port and path prefix ("" or
	// "/es", no trailing slash); set per attempt.
	addr, prefix string
	// tls is the material the connection is made with: the request's
	// state's.
	tls *certs.Material
	// header holds the client's headers (forwarding) or the request's own
	// (esgate's calls, own set).
	header http.Header
	// own: header is esgate's, sent as is (Authorization included).
	own bool
	// auth is the Authorization value to send ("" for none); custom are
	// the route's custom_headers, both added by esgate.
	auth   string
	custom map[string]string
	// clientAuth is the ES-Client-Authentication value esgate adds beside
	// auth ("" for none): a JWT realm's shared secret. A client's own is
	// never forwarded.
	clientAuth string
	// strip names further client headers not to forward (canonical form),
	// for the route policy; nil forwards the rest.
	strip map[string]bool
	// body is nil without a body; length is its size, -1 for chunked.
	body   *trackedBody
	length int64
	// close asks the host to close the connection after the answer.
	close bool
	// gzipLevel > 0 compresses the body on its way (the client sent it
	// plain): Content-Encoding gzip, chunked.
	gzipLevel int
	// limited reads a body of known length (kept here: no allocation).
	limited io.LimitedReader
	// info collects what the request did, for metrics and the access log
	// (nil without them).
	info *reqInfo
}

// hopHeaders are not forwarded in either direction (RFC 9110 7.6.1), nor
// are the headers a Connection header names. Expect is answered by
// esgate's own server; the forwarding headers are esgate's to set, and it
// sets none, as httputil.ReverseProxy with Rewrite.
func isHopHeader(k string) bool {
	switch k {
	case "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// skipForward reports whether the client's header k is not forwarded.
func (or *outRequest) skipForward(k string) bool {
	switch k {
	case "Host", "Content-Length", "Authorization", "Es-Client-Authentication", "Expect",
		"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto":
		return true
	}
	if isHopHeader(k) {
		return true
	}
	if or.strip[k] {
		return true
	}
	if _, ok := or.custom[k]; ok {
		return true // custom_headers replace the client's
	}
	return false
}

// connectionListed reports whether k is named in a Connection header.
// The tokens are compared without splitting or canonicalizing them (no
// allocation per header: Logstash sends "Connection: Keep-Alive" with
// every request); a token matches k as its canonical form would.
func connectionListed(h http.Header, k string) bool {
	for _, v := range h["Connection"] {
		for v != "" {
			var tok string
			tok, v, _ = strings.Cut(v, ",")
			if tokenNames(strings.TrimSpace(tok), k) {
				return true
			}
		}
	}
	return false
}

// tokenNames reports whether http.CanonicalHeaderKey(tok) == k. That
// changes only ASCII case, so a tok that differs from k otherwise is
// ruled out without it; CanonicalHeaderKey allocates nothing for a tok
// already in canonical form.
func tokenNames(tok, k string) bool {
	return len(tok) == len(k) && strings.EqualFold(tok, k) && http.CanonicalHeaderKey(tok) == k
}

// useCredential sets auth and clientAuth from the provider's credential
// in force; its error (no valid credential) ends the request unsent.
func (or *outRequest) useCredential(p auth.Provider) error {
	c, err := p.Credential()
	if err != nil {
		return err
	}
	or.auth, or.clientAuth = c.Header(), ""
	if ca, ok := c.(auth.ClientAuthenticator); ok {
		or.clientAuth = ca.ClientAuthentication()
	}
	return nil
}

// write sends the request line, headers and body to w.
func (or *outRequest) write(w *bufio.Writer) error {
	w.WriteString(or.method)
	w.WriteByte(' ')
	w.WriteString(or.prefix)
	w.WriteString(or.target)
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(or.addr)
	w.WriteString("\r\n")
	_, hasConn := or.header["Connection"]
	for k, vv := range or.header {
		if or.own {
			if k == "Host" || k == "Content-Length" || isHopHeader(k) {
				continue
			}
		} else if or.skipForward(k) || (hasConn && connectionListed(or.header, k)) {
			continue
		}
		for _, v := range vv {
			writeHeader(w, k, v)
		}
	}
	for k, v := range or.custom {
		writeHeader(w, k, v)
	}
	if or.auth != "" {
		writeHeader(w, "Authorization", or.auth)
	}
	if or.clientAuth != "" {
		writeHeader(w, "ES-Client-Authentication", or.clientAuth)
	}
	if or.close {
		w.WriteString("Connection: close\r\n")
	}
	switch {
	case or.body == nil:
		if or.length == 0 && needsZeroLength(or.method) {
			w.WriteString("Content-Length: 0\r\n")
		}
	case or.gzipLevel > 0:
		w.WriteString("Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n")
	case or.length >= 0:
		w.WriteString("Content-Length: ")
		// Into bufio's own free space: a local array would escape (and
		// be allocated per request) through Write.
		w.Write(strconv.AppendInt(w.AvailableBuffer(), or.length, 10))
		w.WriteString("\r\n")
	default:
		w.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if _, err := w.WriteString("\r\n"); err != nil {
		return err
	}
	if or.body == nil {
		return nil
	}
	if or.gzipLevel > 0 {
		return writeGzipChunked(w, or.body, or.gzipLevel)
	}
	if or.length >= 0 {
		// The body follows the headers in the same buffer: a Logstash
		// batch goes out in one TLS write with them.
		or.limited = io.LimitedReader{R: or.body, N: or.length}
		n, err := w.ReadFrom(&or.limited)
		if err == nil && n < or.length {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	return writeChunked(w, or.body)
}

func writeHeader(w *bufio.Writer, k, v string) {
	w.WriteString(k)
	w.WriteString(": ")
	w.WriteString(v)
	w.WriteString("\r\n")
}

// needsZeroLength: as net/http, a bodiless POST, PUT or PATCH says
// Content-Length: 0 (servers may otherwise wait for a body or refuse 411).
func needsZeroLength(method string) bool {
	return method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch
}

// writeChunked copies r to w in chunked framing, one chunk per read.
func writeChunked(w *bufio.Writer, r io.Reader) error {
	bp := buffers.Get().(*[]byte)
	defer buffers.Put(bp)
	buf := *bp
	for {
		n, err := r.Read(buf)
		if n > 0 {
			w.Write(strconv.AppendInt(w.AvailableBuffer(), int64(n), 16))
			w.WriteString("\r\n")
			w.Write(buf[:n])
			if _, werr := w.WriteString("\r\n"); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			_, werr := w.WriteString("0\r\n\r\n")
			return werr
		}
		if err != nil {
			return err
		}
	}
}

// gzipWriters recycles gzip writers per level (1-9): a writer holds
// about 800 KB of state, far too much to allocate per request.
var gzipWriters [10]sync.Pool

// chunkWriter frames each write as one HTTP/1.1 chunk.
type chunkWriter struct{ w *bufio.Writer }

func (c chunkWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.w.Write(strconv.AppendInt(c.w.AvailableBuffer(), int64(len(p)), 16))
	c.w.WriteString("\r\n")
	c.w.Write(p)
	_, err := c.w.WriteString("\r\n")
	return len(p), err
}

// writeGzipChunked compresses r into chunks at level.
func writeGzipChunked(w *bufio.Writer, r io.Reader, level int) error {
	cw := chunkWriter{w}
	zw, _ := gzipWriters[level].Get().(*gzip.Writer)
	if zw == nil {
		zw, _ = gzip.NewWriterLevel(cw, level)
	} else {
		zw.Reset(cw)
	}
	defer gzipWriters[level].Put(zw)
	if _, err := copyPooled(zw, r); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	_, err := w.WriteString("0\r\n\r\n")
	return err
}

// ownRequest describes one of esgate's own requests (req.URL names the
// host; its path and query are sent as they are encoded there).
func ownRequest(req *http.Request) outRequest {
	or := outRequest{ctx: req.Context(), method: req.Method, target: req.URL.RequestURI(), addr: req.URL.Host,
		header: req.Header, own: true, length: req.ContentLength, close: req.Close}
	if or.method == "" {
		or.method = http.MethodGet
	}
	if req.Body != nil && req.Body != http.NoBody {
		or.body = &trackedBody{rc: req.Body}
		if or.length == 0 {
			or.length = -1 // unknown: net/http's convention for a non-nil Body
		}
	} else {
		or.length = 0
	}
	return or
}

// requestTarget returns the client's path and query exactly as sent: the
// request-target of origin form, or the path and query of an absolute-form
// target (http://host/path?q).
func requestTarget(r *http.Request) string {
	t := r.RequestURI
	if strings.HasPrefix(t, "/") {
		return t
	}
	if i := strings.Index(t, "://"); i > 0 {
		rest := t[i+3:]
		if j := strings.IndexAny(rest, "/?"); j >= 0 {
			if rest[j] == '?' {
				return "/" + rest[j:]
			}
			return rest[j:]
		}
		return "/"
	}
	// Authority form (CONNECT) or "*": the policy refuses these; send a
	// path that cannot reach an Elasticsearch API.
	u := r.URL.EscapedPath()
	if u == "" {
		u = "/"
	}
	if r.URL.RawQuery != "" {
		u += "?" + r.URL.RawQuery
	}
	return u
}
