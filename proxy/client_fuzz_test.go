//go:build unix

package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/esgate/esgate/certs"
)

// streamConn is a connection to a host that sent all of stream at once
// and then keeps the connection open, silent. The stream came in one TCP
// segment and sits decrypted in crypto/tls's buffer: reads return it in
// pieces of at most record bytes, deadline or not, while the
// socket probe (pendingInput) sees nothing. Then reads time out at once,
// as if every wait had run its course. Writes are dropped.
type streamConn struct {
	mu     sync.Mutex
	r      *bytes.Reader
	record int // the most a read returns
	closed bool
}

func (c *streamConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return 0, net.ErrClosed
	case c.r.Len() == 0:
		return 0, os.ErrDeadlineExceeded
	}
	return c.r.Read(p[:min(len(p), c.record)])
}

func (c *streamConn) pendingInput() bool { return false }

func (c *streamConn) Write(p []byte) (int, error) { return len(p), nil }
func (c *streamConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return nil
}
func (c *streamConn) LocalAddr() net.Addr                { return &net.TCPAddr{} }
func (c *streamConn) RemoteAddr() net.Addr               { return &net.TCPAddr{} }
func (c *streamConn) SetDeadline(t time.Time) error      { return c.SetReadDeadline(t) }
func (c *streamConn) SetWriteDeadline(t time.Time) error { return nil }
func (c *streamConn) SetReadDeadline(t time.Time) error  { return nil }

// firstAnswer is what the stream answers a GET with: its first final
// response, read as esgate's rules read it, or ok false.
func firstAnswer(stream []byte) (status int, body []byte, ok bool) {
	// The host keeps the connection open: a body that runs to the end of
	// the stream never ends, so it is no answer.
	br := bufio.NewReader(io.MultiReader(bytes.NewReader(stream), errReader{io.ErrUnexpectedEOF}))
	for i := 0; i <= maxInformational; i++ {
		res, err := http.ReadResponse(br, getReq)
		if err != nil || res.StatusCode == http.StatusSwitchingProtocols {
			return 0, nil, false
		}
		if res.StatusCode < 200 {
			continue
		}
		b, err := io.ReadAll(res.Body)
		if err != nil {
			return 0, nil, false
		}
		return res.StatusCode, b, true
	}
	return 0, nil, false
}

// FuzzUpstreamStream feeds arbitrary host byte streams to the upstream
// client, every connection answering with the same stream, and sends three
// GETs. Whatever the stream holds: no panic, and an answer the client
// delivers whole is always the stream's first response. Anything else
// (a second response, bytes after a HEAD-like answer) would be an answer
// to an earlier request handed to a later one.
func FuzzUpstreamStream(f *testing.F) {
	for _, seed := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale",
		"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nclose-delimited",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
		"HTTP/1.1 101 Switching Protocols\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nold",
		"garbage\r\n\r\n",
	} {
		// Records that end where the first response ends put the rest
		// beyond bufio, in crypto/tls's buffer.
		first := len(seed)
		if i := strings.Index(seed[1:], "HTTP/1.1 "); i >= 0 {
			first = i + 1
		}
		f.Add([]byte(seed), uint16(first))
		f.Add([]byte(seed), uint16(16))
	}
	f.Fuzz(func(t *testing.T, stream []byte, record uint16) {
		record = max(record, 1)
		c := &upstreamClient{
			dial: func(context.Context, string, *certs.Material) (net.Conn, error) {
				return &streamConn{r: bytes.NewReader(stream), record: int(record)}, nil
			},
			maxIdle: 4, idleTimeout: time.Minute, headerTimeout: 100 * time.Millisecond, maxHeader: 1 << 20,
		}
		defer c.closeForever()
		wantStatus, wantBody, wantOK := firstAnswer(stream)
		for i := 0; i < 3; i++ {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // a hang catcher
			or := outRequest{ctx: ctx, method: http.MethodGet, target: "/", addr: "es:9200", header: http.Header{}}
			res, err := c.do(&or)
			if err != nil {
				cancel()
				if errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("request %d hung: %v", i, err)
				}
				continue
			}
			body, err := io.ReadAll(io.LimitReader(res.Body, 2<<20))
			res.Body.Close()
			cancel()
			if err != nil {
				continue // visibly broken: fine
			}
			if !wantOK || res.StatusCode != wantStatus || !bytes.Equal(body, wantBody) {
				t.Fatalf("request %d got %d %q; the stream's first answer is %d %q (ok %v)", i, res.StatusCode, body, wantStatus, wantBody, wantOK)
			}
		}
	})
}
