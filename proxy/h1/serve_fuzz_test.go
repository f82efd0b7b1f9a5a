package h1

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"syscall"
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
	c.SetDeadline(time.Now().Add(catchHang))
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
		if res.Close && errors.Is(err, syscall.ECONNRESET) {
			// A server that closes after this answer resets instead of
			// ending when input it did not read is left in the socket:
			// that is how much each server read ahead (GuardFraming and
			// h1 read a whole head, net/http 4 KiB at a time), not an
			// answer. What arrived before the reset is still compared.
			err = nil
		}
		out = append(out, fmt.Sprintf("%d %q %v te=%v cl=%d", res.StatusCode, b, err, res.TransferEncoding, res.ContentLength))
	}
}

// FuzzServe sends arbitrary bytes (usually a few requests) to h1 and to
// net/http's server with the same handler, then half-closes: the answers
// must be the same. net/http serves behind GuardFraming here, as h1's own
// fallback does: where the two differ on purpose (requests whose framing
// RFC 9112 says to refuse) is FuzzFramingGuard's to hold.
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
	go std.Serve(guardListener{l2})
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

// FuzzFramingGuard holds GuardFraming to net/http on arbitrary bytes: the
// same server behind the guard and without it answers the same, except
// that where the guard refuses a head, the answers before it are the
// same, the last is esgate's 400, and FramingError names a head in raw.
func FuzzFramingGuard(f *testing.F) {
	for _, s := range []string{
		"POST / HTTP/1.1\r\nHost: es\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: es\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: es\r\n\r\nPOST / HTTP/1.1\r\nHost: es\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\nGET /json HTTP/1.1\r\nHost: es\r\n\r\n",
		"POST / HTTP/1.0\r\nHost: es\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: es\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
		"\r\nGET / HTTP/1.1\r\nHost: es\r\n\r\n",
	} {
		f.Add(s)
	}
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	guarded, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	h := http.HandlerFunc(testHandler)
	s1, s2 := &http.Server{Handler: h}, &http.Server{Handler: h}
	go s1.Serve(plain)
	go s2.Serve(guardListener{guarded})
	defer s1.Close()
	defer s2.Close()
	f.Fuzz(func(t *testing.T, raw string) {
		if strings.HasPrefix(raw, "HEAD") || strings.Contains(raw, "\nHEAD") || strings.Contains(raw, "/abort") {
			t.Skip("HEAD answers need the method to be read; /abort panics by design")
		}
		want := halfClosed(t, plain.Addr().String(), raw)
		got := halfClosed(t, guarded.Addr().String(), raw)
		if reflect.DeepEqual(got, want) {
			return
		}
		if len(got) == 0 || !strings.HasPrefix(got[len(got)-1], "400 \"{\\\"error\\\"") || !strings.Contains(got[len(got)-1], "esgate_bad_request_exception") {
			t.Fatalf("for %q\nguarded: %q\nnet/http: %q", raw, got, want)
		}
		if len(got)-1 > len(want) || !reflect.DeepEqual(got[:len(got)-1], want[:len(got)-1]) {
			t.Fatalf("for %q the answers before the refusal differ\nguarded: %q\nnet/http: %q", raw, got, want)
		}
		// Some head in raw, from the start of any line to the next empty
		// line, is one FramingError names.
		refusable := false
		for i := 0; i < len(raw) && !refusable; i++ {
			if i > 0 && raw[i-1] != '\n' {
				continue
			}
			if end := strings.Index(raw[i:], "\r\n\r\n"); end >= 0 {
				refusable = FramingError(raw[i:i+end]) != ""
			}
		}
		if !refusable {
			t.Fatalf("for %q the guard refused a head FramingError does not name", raw)
		}
	})
}
