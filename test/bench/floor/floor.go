package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strconv"
)

type proxy struct {
	upstream string // host:port
	tls      *tls.Config
	auth     string // Authorization value
}

func (p *proxy) serve(l net.Listener) error {
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		go p.conn(c)
	}
}

var (
	contentLength    = []byte("content-length:")
	transferEncoding = []byte("transfer-encoding:")
	authorization    = []byte("authorization:")
)

// errFraming: a head framed otherwise than by one Content-Length.
var errFraming = errors.New("not framed by Content-Length")

// readHead appends the header lines of a head (after its first line) to
// out, without Authorization when drop is set, and returns the
// Content-Length. The blank line that ends the head is not appended.
func readHead(br *bufio.Reader, out []byte, drop bool) ([]byte, int, error) {
	n := -1
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return out, 0, err
		}
		if len(line) <= 2 {
			return out, max(n, 0), nil
		}
		if hasPrefixFold(line, contentLength) {
			if n >= 0 { // a second length: which one frames the body is ambiguous
				return out, 0, errFraming
			}
			if n, err = strconv.Atoi(string(bytes.TrimSpace(line[len(contentLength):]))); err != nil || n < 0 {
				return out, 0, errFraming
			}
		}
		if hasPrefixFold(line, transferEncoding) {
			return out, 0, errFraming
		}
		if drop && hasPrefixFold(line, authorization) {
			continue
		}
		out = append(out, line...)
	}
}

func hasPrefixFold(b, prefix []byte) bool {
	return len(b) >= len(prefix) && bytes.EqualFold(b[:len(prefix)], prefix)
}

// copyBody reads n bytes from r behind what buf holds and writes them to
// w, in writes of at most buf's capacity; whatever buf holds goes first.
func copyBody(w io.Writer, r io.Reader, buf []byte, n int) error {
	for n > 0 || len(buf) > 0 {
		k := min(cap(buf)-len(buf), n)
		s := len(buf)
		buf = buf[:s+k]
		if _, err := io.ReadFull(r, buf[s:]); err != nil {
			return err
		}
		n -= k
		if len(buf) == cap(buf) || n == 0 {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	return nil
}

func (p *proxy) conn(c net.Conn) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 32<<10)
	buf := make([]byte, 0, 40<<10)
	var up *tls.Conn
	var ubr *bufio.Reader
	defer func() {
		if up != nil {
			up.Close()
		}
	}()
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return
		}
		var n int
		buf = append(buf[:0], line...)
		if buf, n, err = readHead(br, buf, true); err != nil {
			return
		}
		buf = append(buf, "Authorization: "...)
		buf = append(buf, p.auth...)
		buf = append(buf, "\r\n\r\n"...)
		if up == nil {
			if up, err = tls.Dial("tcp", p.upstream, p.tls); err != nil {
				return
			}
			ubr = bufio.NewReaderSize(up, 16<<10)
		}
		if err := copyBody(up, br, buf, n); err != nil {
			return
		}
		line, err = ubr.ReadSlice('\n')
		if err != nil {
			return
		}
		buf = append(buf[:0], line...)
		if buf, n, err = readHead(ubr, buf, false); err != nil {
			return
		}
		buf = append(buf, "\r\n"...)
		if err := copyBody(c, ubr, buf, n); err != nil {
			return
		}
	}
}
