package h1

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// halfClosed sends raw on a fresh connection to addr, half-closes it, and
// reads the answers until the server closes.
func halfClosed(t *testing.T, addr, raw string) []string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, raw)
	c.(*net.TCPConn).CloseWrite()
	br := bufio.NewReader(c)
	var out []string
	for {
		if _, err := br.Peek(1); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("no end after %q", raw)
			}
			return out
		}
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			return append(out, "unreadable: "+err.Error())
		}
		b, err := io.ReadAll(res.Body)
		out = append(out, fmt.Sprintf("%d %q %v te=%v cl=%d", res.StatusCode, b, err, res.TransferEncoding, res.ContentLength))
	}
}

// FuzzServe sends arbitrary bytes (usually a few requests) to h1 and to
// net/http's server with the same handler, then half-closes: the answers
// must be the same.
func FuzzServe(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: es\r\n\r\nPOST /x HTTP/1.1\r\nHost: es\r\nContent-Length: 3\r\n\r\nabcGET /json HTTP/1.1\r\nHost: es\r\n\r\n",
		"POST /noread HTTP/1.1\r\nHost: es\r\nContent-Length: 10\r\n\r\n0123456789GET /after HTTP/1.1\r\nHost: es\r\n\r\n",
		"PUT /x HTTP/1.1\r\nHost: es\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello",
		"GET /flush HTTP/1.1\r\nHost: es\r\n\r\nGET /big HTTP/1.1\r\nHost: es\r\nConnection: close\r\n\r\nGET /never HTTP/1.1\r\nHost: es\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: es\r\nContent-Length: 1\r\n\r\n1\r\nGET /204 HTTP/1.1\r\nHost: es\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: es\r\nContent-Length: 100\r\n\r\nshort",
		"GET / HTTP/1.1\r\nHost: es\r\n\r\nGET / HTTP/1.1\r\nHost: es\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"HEAD /json HTTP/1.1\r\nHost: es\r\n\r\nGET /304 HTTP/1.1\r\nHost: es\r\n\r\n",
	} {
		f.Add(s)
	}
	l1, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	l2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	h := http.HandlerFunc(testHandler)
	s := &Server{Handler: h, Fallback: &http.Server{Handler: h}}
	std := &http.Server{Handler: h}
	go s.Serve(l1)
	go std.Serve(l2)
	defer s.Close()
	defer std.Close()
	f.Fuzz(func(t *testing.T, raw string) {
		if strings.HasPrefix(raw, "HEAD") || strings.Contains(raw, "\nHEAD") || strings.Contains(raw, "/abort") {
			t.Skip("HEAD answers need the method to be read; /abort panics by design")
		}
		got := halfClosed(t, l1.Addr().String(), raw)
		want := halfClosed(t, l2.Addr().String(), raw)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("for %q\nh1:       %q\nnet/http: %q", raw, got, want)
		}
	})
}
