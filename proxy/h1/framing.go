package h1

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// FramingError names what is wrong with a request head's framing, as
// RFC 9112 §6.1 and §6.3 say a server MUST refuse and then close: both
// Content-Length and Transfer-Encoding; Transfer-Encoding in an HTTP/1.0
// request; a Transfer-Encoding whose final coding is not chunked; a
// Content-Length that is not a number, or several that differ. It returns
// "" for a head whose framing is sound (or that is not a request head at
// all: what else is wrong net/http decides). head is the block up to and
// without the empty line.
//
// esgate differs from net/http here on purpose: net/http serves a request
// with both lengths by its chunked framing and reads what follows as the
// next request (a smuggling vector for anything in front of esgate that
// reads the length), serves Transfer-Encoding on HTTP/1.0 as if it were
// absent, and refuses the rest with a plain-text 400 or 501.
func FramingError(head string) string {
	line, rest, _ := strings.Cut(head, "\r\n")
	http10 := strings.HasSuffix(line, " HTTP/1.0")
	if !http10 && !strings.HasSuffix(line, " HTTP/1.1") {
		return "" // not a request line h1 or net/http would serve
	}
	var te, cl []string
	for rest != "" {
		var f string
		f, rest, _ = strings.Cut(rest, "\r\n")
		name, value, ok := strings.Cut(f, ":")
		if !ok {
			continue
		}
		value = strings.Trim(value, " \t")
		switch {
		case strings.EqualFold(name, "Transfer-Encoding"):
			te = append(te, value)
		case strings.EqualFold(name, "Content-Length"):
			cl = append(cl, value)
		}
	}
	switch {
	case len(te) > 0 && len(cl) > 0:
		return "the request has both Content-Length and Transfer-Encoding (RFC 9112 section 6.1): send one"
	case len(te) > 0 && http10:
		return "an HTTP/1.0 request has Transfer-Encoding (RFC 9112 section 6.1)"
	case len(te) > 0:
		codings := strings.Split(strings.Join(te, ","), ",")
		if !strings.EqualFold(strings.Trim(codings[len(codings)-1], " \t"), "chunked") {
			return "the request's Transfer-Encoding does not end in chunked (RFC 9112 section 6.3): its length cannot be known"
		}
	case len(cl) > 0:
		for _, v := range cl {
			for _, part := range strings.Split(v, ",") {
				part = strings.Trim(part, " \t")
				if part == "" || strings.Trim(part, "0123456789") != "" || part != strings.Trim(cl[0], " \t") {
					return "the request's Content-Length is not one number (RFC 9112 section 6.3)"
				}
			}
		}
	}
	return ""
}

// framingAnswer is the 400 esgate sends for faulty framing, in
// Elasticsearch's error shape, closing the connection.
func framingAnswer(reason string) []byte {
	cause := map[string]string{"type": "esgate_bad_request_exception", "reason": reason}
	body, _ := json.Marshal(map[string]any{"error": map[string]any{"root_cause": []any{cause}, "type": cause["type"], "reason": reason}, "status": 400})
	return []byte("HTTP/1.1 400 Bad Request\r\nContent-Type: application/json; charset=UTF-8\r\nConnection: close\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + string(body))
}

// GuardFraming wraps a connection that net/http's server reads so that a
// request whose framing is faulty (FramingError) never reaches net/http:
// esgate answers it with a 400 in Elasticsearch's error shape and closes
// the connection, and whatever follows on it, a smuggled request
// included, is never read as a request. It follows the requests' framing
// as the bytes pass (heads, Content-Length bodies, chunked bodies) to
// find each head; a stream it cannot follow (a malformed chunk, a head
// over 1 MiB) is passed through as it is, for net/http to refuse.
func GuardFraming(c net.Conn) net.Conn { return &framingConn{Conn: c} }

type framingConn struct {
	net.Conn
	mu      sync.Mutex
	buf     []byte  // read from Conn, not yet returned
	base    *[]byte // guardBufs' buffer buf lives in, if any
	cleared int     // how much of buf may be returned
	scan    int     // how much of buf is classified
	state   int
	left    int64 // body or chunk bytes still to pass
	refusal string
	through bool // framing no longer followed
}

// Unwrap returns the connection GuardFraming wrapped (a *tls.Conn on TLS
// listeners, whose state the handler needs).
func (c *framingConn) Unwrap() net.Conn { return c.Conn }

const (
	stHead         = iota // at the start of a request head
	stBody                // left bytes of a Content-Length body
	stChunkSize           // at a chunk-size line
	stChunkData           // left bytes of chunk data and its CRLF
	stTrailer             // in the trailer section after the last chunk
	maxGuardedHead = 1 << 20
)

func (c *framingConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		if c.cleared > 0 {
			n := copy(p, c.buf[:c.cleared])
			c.buf = c.buf[n:]
			c.cleared -= n
			c.scan -= n
			if len(c.buf) == 0 {
				c.buf = nil
				c.putBase()
			}
			return n, nil
		}
		if c.refusal == "sent" {
			return 0, io.EOF
		}
		if c.refusal != "" {
			if len(p) <= 1 && len(c.buf) > 0 {
				// net/http's one-byte read while a handler runs: an answer
				// may still be on its way, so the refusal waits for the
				// read of the next request.
				p[0] = c.buf[0]
				c.buf = c.buf[1:]
				return 1, nil
			}
			return 0, c.refuse()
		}
		if c.through && len(c.buf) > 0 {
			c.cleared = len(c.buf)
			c.scan = len(c.buf)
			continue
		}
		if c.classify() || c.refusal != "" {
			continue
		}
		if len(c.buf) == 0 && len(p) > 0 {
			// Nothing held back: read straight into p and classify it
			// there, so a connection waiting for its next request (or
			// net/http's one-byte read while a handler runs) holds no
			// buffer of its own. What p's bytes do not clear is kept.
			n, err := c.Conn.Read(p)
			if n == 0 {
				if err != nil {
					return 0, err
				}
				continue
			}
			c.buf, c.scan, c.cleared = p[:n], 0, 0
			c.classify()
			k := c.cleared
			c.keep(p[k:n])
			c.scan -= k
			c.cleared = 0
			if k > 0 {
				return k, nil
			}
			continue
		}
		n, err := c.fill()
		if n > 0 {
			continue
		}
		if err != nil {
			if len(c.buf) > 0 && err == io.EOF {
				c.through = true // the client's last bytes, for net/http to judge
				continue
			}
			return 0, err
		}
	}
}

// guardBufs holds the buffers framingConn keeps a partial head (or a
// refused request's bytes) in: a connection holds one only while it has
// bytes it cannot yet hand on.
var guardBufs = sync.Pool{New: func() any { b := make([]byte, 0, 32<<10); return &b }}

// keep makes rest, bytes in the caller's buffer, the held-back bytes.
func (c *framingConn) keep(rest []byte) {
	if len(rest) == 0 {
		c.buf = nil
		return
	}
	c.base = guardBufs.Get().(*[]byte)
	c.buf = append((*c.base)[:0], rest...)
	if cap(c.buf) != cap(*c.base) {
		c.putBase() // rest outgrew the pooled buffer; buf has its own
	}
}

// fill reads from Conn after the held-back bytes, making room first.
func (c *framingConn) fill() (int, error) {
	if c.buf == nil {
		c.base = guardBufs.Get().(*[]byte)
		c.buf = (*c.base)[:0]
	}
	if cap(c.buf)-len(c.buf) < 4<<10 {
		grown := make([]byte, len(c.buf), max(32<<10, 2*len(c.buf)))
		copy(grown, c.buf)
		c.buf = grown
		c.putBase()
	}
	n, err := c.Conn.Read(c.buf[len(c.buf):cap(c.buf)])
	c.buf = c.buf[:len(c.buf)+n]
	if len(c.buf) == 0 {
		c.buf = nil
		c.putBase()
	}
	return n, err
}

// putBase gives the pooled buffer back once buf no longer lives in it.
func (c *framingConn) putBase() {
	if c.base != nil {
		*c.base = (*c.base)[:0]
		guardBufs.Put(c.base)
		c.base = nil
	}
}

// refuse sends the 400, ends the connection's writing and waits a little
// for the client to read it, as net/http does before it closes.
func (c *framingConn) refuse() error {
	c.Conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.Conn.Write(framingAnswer(c.refusal))
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
		c.Conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		io.Copy(io.Discard, io.LimitReader(c.Conn, 256<<10))
	}
	c.Conn.Close()
	c.refusal = "sent"
	return io.EOF
}

// classify advances over buf from scan, moving cleared along; it reports
// whether it made progress.
func (c *framingConn) classify() bool {
	start := c.scan
	for c.scan < len(c.buf) && c.refusal == "" && !c.through {
		rest := c.buf[c.scan:]
		switch c.state {
		case stHead:
			// Empty lines before a request line are ignored (RFC 9112 §2.2).
			if bytes.HasPrefix(rest, []byte("\r\n")) {
				c.scan += 2
				c.cleared = c.scan
				continue
			}
			end := bytes.Index(rest, []byte("\r\n\r\n"))
			if end < 0 {
				if len(rest) > maxGuardedHead {
					c.through = true
				}
				return c.scan > start
			}
			head := string(rest[:end])
			if reason := FramingError(head); reason != "" {
				c.refusal = reason
				return c.scan > start || c.cleared > 0
			}
			c.scan += end + 4
			c.cleared = c.scan
			c.state, c.left = stHead, 0
			if isChunked(head) {
				c.state = stChunkSize
			} else if n := contentLength(head); n > 0 {
				c.state, c.left = stBody, n
			}
		case stBody, stChunkData:
			n := min(int64(len(rest)), c.left)
			c.scan += int(n)
			c.cleared = c.scan
			c.left -= n
			if c.left == 0 {
				if c.state == stBody {
					c.state = stHead
				} else {
					c.state = stChunkSize
				}
			}
		case stChunkSize:
			eol := bytes.Index(rest, []byte("\r\n"))
			if eol < 0 {
				if len(rest) > 4096 {
					c.through = true
				}
				return c.scan > start
			}
			sizeText, _, _ := strings.Cut(string(rest[:eol]), ";")
			size, err := strconv.ParseInt(strings.Trim(sizeText, " \t"), 16, 64)
			if err != nil || size < 0 {
				c.through = true
				continue
			}
			c.scan += eol + 2
			c.cleared = c.scan
			if size == 0 {
				c.state = stTrailer
			} else {
				c.state, c.left = stChunkData, size+2
			}
		case stTrailer:
			eol := bytes.Index(rest, []byte("\r\n"))
			if eol < 0 {
				if len(rest) > maxGuardedHead {
					c.through = true
				}
				return c.scan > start
			}
			c.scan += eol + 2
			c.cleared = c.scan
			if eol == 0 {
				c.state = stHead
			}
		}
	}
	return c.scan > start || c.cleared > 0
}

// headField returns the value of a sound head's first field called name.
func headField(head, name string) (string, bool) {
	_, rest, _ := strings.Cut(head, "\r\n")
	for rest != "" {
		var f string
		f, rest, _ = strings.Cut(rest, "\r\n")
		if n, value, ok := strings.Cut(f, ":"); ok && strings.EqualFold(n, name) {
			return value, true
		}
	}
	return "", false
}

// isChunked reports whether a sound head's body is chunked.
func isChunked(head string) bool {
	_, ok := headField(head, "Transfer-Encoding")
	return ok
}

// contentLength is a sound head's Content-Length (0 without one).
func contentLength(head string) int64 {
	value, _ := headField(head, "Content-Length")
	v, _, _ := strings.Cut(value, ",")
	n, _ := strconv.ParseInt(strings.Trim(v, " \t"), 10, 64)
	return n
}

// CloseWrite half-closes the wrapped connection, where it can, so that
// net/http's close after an error still lets the client read the answer.
func (c *framingConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
