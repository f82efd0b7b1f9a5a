package h1

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// catchHang bounds waits in this package's tests: it only catches a
// hang, and leaves room for a machine starved of CPU.
const catchHang = 3 * time.Minute

// testHandler behaves by path, so that one table drives both servers.
func testHandler(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/noread"):
		w.Write([]byte("not reading your body"))
		return
	case r.URL.Path == "/big":
		io.Copy(io.Discard, r.Body)
		w.Write([]byte(strings.Repeat("x", 10000)))
		return
	case r.URL.Path == "/flush":
		w.Write([]byte("first"))
		w.(http.Flusher).Flush()
		w.Write([]byte("second"))
		return
	case r.URL.Path == "/204":
		w.WriteHeader(http.StatusNoContent)
		return
	case r.URL.Path == "/304":
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusNotModified)
		return
	case r.URL.Path == "/short":
		w.Header().Set("Content-Length", "10")
		w.Write([]byte("12345"))
		return
	case r.URL.Path == "/abort":
		w.Header().Set("Content-Length", "10")
		w.Write([]byte("12345"))
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	case r.URL.Path == "/close":
		w.Header().Set("Connection", "close")
		w.Write([]byte("bye"))
		return
	case r.URL.Path == "/json":
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Multi", "a")
		w.Header().Add("X-Multi", "b")
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"ok":true}`))
		return
	}
	b, err := io.ReadAll(r.Body)
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range r.Header {
			if !yield(k) {
				return
			}
		}
	})
	var hdr []string
	for _, k := range keys {
		hdr = append(hdr, k+"="+strings.Join(r.Header[k], "|"))
	}
	_, unix := r.Context().Value(http.LocalAddrContextKey).(*net.UnixAddr)
	out, _ := json.Marshal(map[string]any{
		"method": r.Method, "uri": r.RequestURI, "path": r.URL.Path, "rawpath": r.URL.RawPath,
		"query": r.URL.RawQuery, "force": r.URL.ForceQuery, "host": r.Host, "header": hdr,
		"length": r.ContentLength, "close": r.Close, "body": string(b), "err": fmt.Sprint(err),
		"proto": r.Proto, "unix": unix, "remote": r.RemoteAddr != "", "tls": r.TLS != nil,
	})
	w.Write(out)
}

type answer struct {
	Status                                  int
	Body                                    string
	Length, TE, Connection, ContentType, XM string
	HasDate                                 bool
}

// exchange writes raw to addr, half-closes the connection, and reads the
// answers until the server closes it (a server that has nothing more to
// read ends the connection, so the end is deterministic).
func exchange(t *testing.T, addr, raw string) (answers []answer) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(catchHang))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	br := bufio.NewReader(c)
	for {
		if _, err := br.Peek(1); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the server neither answered nor closed after %q", raw)
			}
			return answers
		}
		method := "GET"
		if strings.HasPrefix(raw, "HEAD") {
			method = "HEAD"
		}
		res, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			return append(answers, answer{Status: -1, Body: err.Error()})
		}
		b, err := io.ReadAll(res.Body)
		a := answer{Status: res.StatusCode, Body: string(b), TE: strings.Join(res.TransferEncoding, ","),
			Connection: res.Header.Get("Connection"), ContentType: res.Header.Get("Content-Type"),
			XM: strings.Join(res.Header["X-Multi"], ","), HasDate: res.Header.Get("Date") != ""}
		if res.ContentLength >= 0 {
			a.Length = fmt.Sprint(res.ContentLength)
		}
		if err != nil {
			a.Body += " <" + err.Error() + ">"
		}
		answers = append(answers, a)
	}
}

// servers starts h1 (with its net/http fallback) and net/http alone, with
// the same handler.
func servers(t *testing.T, h http.Handler) (h1addr, stdaddr string, s *Server, handoffs *atomic.Int32) {
	t.Helper()
	l1, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	handoffs = &atomic.Int32{}
	s = &Server{Handler: h, Fallback: &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second},
		ReadHeaderTimeout: 5 * time.Second, handedOff: func() { handoffs.Add(1) }}
	std := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go s.Serve(l1)
	go std.Serve(l2)
	t.Cleanup(func() { s.Close(); std.Close() })
	return l1.Addr().String(), l2.Addr().String(), s, handoffs
}

// TestSameAsNetHTTP sends the same bytes to h1 and to net/http's server
// with the same handler: the handler must see the same request, and the
// client the same answers (a request after the connection's end, such as
// after Connection: close, gets none). fast says
// whether h1 must serve it itself (else it must hand it to net/http).
func TestSameAsNetHTTP(t *testing.T) {
	const host = "Host: es\r\n"
	post := func(path, body string, extra ...string) string {
		return "POST " + path + " HTTP/1.1\r\n" + host + strings.Join(extra, "") +
			fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body)) + body
	}
	get := func(path string, extra ...string) string {
		return "GET " + path + " HTTP/1.1\r\n" + host + strings.Join(extra, "") + "\r\n"
	}
	big := strings.Repeat("b", 300<<10)
	cases := []struct {
		name string
		raw  string
		fast bool
	}{
		{"get", get("/"), true},
		{"logstash bulk", post("/_bulk", "{\"index\":{}}\n{\"a\":1}\n", "Content-Type: application/x-ndjson\r\n",
			"Content-Encoding: gzip\r\n", "Connection: Keep-Alive\r\n", "X-Elastic-Event-Count: 1\r\n"), true},
		{"pipelined", get("/a") + post("/b", "xyz") + get("/c?x=1"), true},
		{"query kept", get("/i/_search?q=user:bob;x&size=1"), true},
		{"empty query", get("/?"), true},
		{"encoded path", get("/a%2Fb/%E2%82%AC"), true},
		{"wildcard path", get("/logs-*/_count"), true},
		{"lower-case names", "GET / HTTP/1.1\r\nhost: es\r\nx-foo:  bar \r\n\r\n", true},
		{"repeated field", get("/", "X-A: 1\r\n", "X-A: 2\r\n"), true},
		{"pragma", get("/", "Pragma: no-cache\r\n"), true},
		{"connection close", get("/", "Connection: close\r\n") + get("/never"), true},
		{"head", "HEAD / HTTP/1.1\r\n" + host + "\r\n", true},
		{"handler leaves a small body", post("/noread", "small") + get("/after"), true},
		{"handler leaves a large body", post("/noread", big) + get("/after"), true},
		{"no length, small", get("/json"), true},
		{"no length, large", get("/big"), true},
		{"flushed", get("/flush"), true},
		{"204", get("/204"), true},
		{"304", get("/304"), true},
		{"short body", get("/short") + get("/after"), true},
		{"aborted", get("/abort") + get("/after"), true},
		{"handler closes", get("/close") + get("/after"), true},
		{"stray CRLF after POST", post("/p", "1") + "\r\n" + get("/after"), true},
		{"post without length", "POST / HTTP/1.1\r\n" + host + "\r\n", true},

		{"chunked body", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" + get("/after"), false},
		{"HTTP/1.0", "GET / HTTP/1.0\r\n" + host + "\r\n", false},
		{"bare LF", "GET / HTTP/1.1\nHost: es\n\n", false},
		{"no Host", "GET / HTTP/1.1\r\n\r\n", false},
		{"two Hosts", get("/", "Host: x\r\n"), false},
		{"obs-fold", get("/", "X: a\r\n b\r\n"), false},
		{"bad name", get("/", "X Y: a\r\n"), false},
		{"expect other", post("/", "x", "Expect: something\r\n"), false},
		{"absolute form", "GET http://es/x HTTP/1.1\r\n" + host + "\r\n", false},
		{"bad escape", get("/%zz"), false},
		{"head too large for the buffer", get("/", "X-Big: "+strings.Repeat("a", 40<<10)+"\r\n"), false},
		{"garbage", "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n", false},
		{"second request odd", get("/a") + "GET /b HTTP/1.0\r\n\r\n", true},
	}
	h1addr, stdaddr, _, handoffs := servers(t, http.HandlerFunc(testHandler))
	// Where h1 differs from net/http on purpose: requests whose framing
	// RFC 9112 says a server MUST refuse and close (FramingError) get
	// esgate's 400 in Elasticsearch's shape and nothing after it is read.
	// net/http serves the first by its chunked framing and the bytes after
	// it as the next request, and refuses the others in plain text.
	smuggled := get("/smuggled")
	for _, tc := range []struct{ name, raw, reason, netHTTP string }{
		{"length and chunked", "POST / HTTP/1.1\r\n" + host + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
			"both Content-Length and Transfer-Encoding", "200 and serves /smuggled"},
		{"length and chunked after a plain request", get("/first") + "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + smuggled,
			"both Content-Length and Transfer-Encoding", "200, 200 and serves /smuggled"},
		{"chunked, then length and chunked", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" +
			"POST / HTTP/1.1\r\n" + host + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
			"both Content-Length and Transfer-Encoding", "200, 200 and serves /smuggled"},
		{"two lengths", "POST / HTTP/1.1\r\n" + host + "Content-Length: 1\r\nContent-Length: 2\r\n\r\nab", "Content-Length is not one number", "400 in plain text"},
		{"length list", "POST / HTTP/1.1\r\n" + host + "Content-Length: 3, 3\r\n\r\nabc", "Content-Length is not one number", "400 in plain text"},
		{"signed length", "POST / HTTP/1.1\r\n" + host + "Content-Length: +3\r\n\r\nabc", "Content-Length is not one number", "400 in plain text"},
		{"chunked not final", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked, gzip\r\n\r\nabc", "does not end in chunked", "501 in plain text"},
		{"gzip only", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: gzip\r\n\r\nabc", "does not end in chunked", "501 in plain text"},
		{"HTTP/1.0 chunked", "POST / HTTP/1.0\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", "HTTP/1.0 request has Transfer-Encoding", "200, ignoring the body"},
	} {
		t.Run("refused/"+tc.name, func(t *testing.T) {
			got := exchange(t, h1addr, tc.raw)
			want := exchange(t, stdaddr, tc.raw)
			last := got[len(got)-1]
			if last.Status != 400 || last.ContentType != "application/json; charset=UTF-8" ||
				!strings.Contains(last.Body, `"type":"esgate_bad_request_exception"`) || !strings.Contains(last.Body, tc.reason) {
				t.Fatalf("h1: %+v; want esgate's 400 naming %q", got, tc.reason)
			}
			for _, a := range got {
				if strings.Contains(a.Body, "/smuggled") {
					t.Fatalf("the smuggled request was served: %+v", got)
				}
			}
			if reflect.DeepEqual(got, want) {
				t.Fatalf("net/http answers the same (%+v): the difference this names (net/http: %s) is gone", want, tc.netHTTP)
			}
		})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := handoffs.Load()
			got := exchange(t, h1addr, tc.raw)
			handed := handoffs.Load() > before
			want := exchange(t, stdaddr, tc.raw)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("h1:\n%+v\nnet/http:\n%+v", got, want)
			}
			if len(want) == 0 {
				t.Fatal("no answer at all: the case tests nothing")
			}
			if tc.fast && handed && tc.name != "second request odd" {
				t.Fatal("h1 handed a plain request to net/http")
			}
			if !tc.fast && !handed {
				t.Fatal("h1 served a request it should have handed to net/http")
			}
		})
	}
}

func TestExpectContinue(t *testing.T) {
	h1addr, _, _, handoffs := servers(t, http.HandlerFunc(testHandler))
	c, err := net.Dial("tcp", h1addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(catchHang))
	io.WriteString(c, "PUT /x HTTP/1.1\r\nHost: es\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("first line %q, %v: want 100 Continue before the body is sent", line, err)
	}
	br.ReadString('\n')
	io.WriteString(c, "hello")
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	if !strings.Contains(string(b), `"body":"hello"`) {
		t.Fatalf("answer %s", b)
	}
	if handoffs.Load() != 0 {
		t.Fatal("handed off")
	}
}

// TestShutdownDrains: a request in flight finishes with Connection: close,
// idle connections close at once, and Shutdown returns after.
func TestShutdownDrains(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
		}
		w.Write([]byte("done"))
	})
	addr, _, s, _ := servers(t, h)
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	io.WriteString(idle, "GET / HTTP/1.1\r\nHost: es\r\n\r\n")
	ibr := bufio.NewReader(idle)
	if res, err := http.ReadResponse(ibr, nil); err != nil || res.StatusCode != 200 {
		t.Fatal(err)
	} else {
		io.ReadAll(res.Body)
	}
	busy, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: es\r\n\r\n")
	<-entered
	done := make(chan error)
	go func() { done <- s.Shutdown(context.Background()) }()
	// The idle connection is closed without an answer.
	idle.SetReadDeadline(time.Now().Add(catchHang))
	if _, err := ibr.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: %v, want EOF", err)
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) with a request in flight", err)
	default:
	}
	close(release)
	busy.SetReadDeadline(time.Now().Add(catchHang))
	res, err := http.ReadResponse(bufio.NewReader(busy), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	if string(b) != "done" || !res.Close {
		t.Fatalf("in-flight answer %q close=%v: want it whole, with Connection: close", b, res.Close)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestClientGoneCancels: a client that closes its connection while its
// request is served cancels the request's context.
func TestClientGoneCancels(t *testing.T) {
	canceled, started := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		select {
		case <-r.Context().Done():
			close(canceled)
		case <-time.After(catchHang):
		}
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Handler: h, Fallback: &http.Server{Handler: h}, WatchInterval: 20 * time.Millisecond}
	go s.Serve(l)
	defer s.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: es\r\n\r\n")
	<-started // the request is in flight; the watch must now see the close
	c.Close()
	select {
	case <-canceled:
	case <-time.After(catchHang):
		t.Fatal("the request's context was not canceled after its client left")
	}
}

// TestServeAllocations: a Logstash bulk request through h1 with a handler
// that reads the body and answers allocates at most the head's string.
func TestServeAllocations(t *testing.T) {
	ctype, clen, answer := []string{"application/json"}, []string{"2"}, []byte("{}")
	sink := make([]byte, 64<<10)
	// The handler allocates nothing itself.
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for {
			if _, err := r.Body.Read(sink); err != nil {
				break
			}
		}
		w.Header()["Content-Type"] = ctype
		w.Header()["Content-Length"] = clen
		w.Write(answer)
	})
	addr, _, _, _ := servers(t, h)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	body := strings.Repeat("x", 16<<10)
	req := "POST /_bulk HTTP/1.1\r\nHost: es\r\nContent-Type: application/x-ndjson\r\nContent-Encoding: gzip\r\n" +
		"Connection: Keep-Alive\r\nX-Elastic-Event-Count: 125\r\nContent-Length: " + fmt.Sprint(len(body)) + "\r\n\r\n" + body
	raw := []byte(req)
	buf := make([]byte, 4096)
	// The client allocates nothing: it reads until the answer's body.
	one := func() {
		if _, err := c.Write(raw); err != nil {
			t.Fatal(err)
		}
		n := 0
		for !bytes.HasSuffix(buf[:n], []byte("\r\n\r\n{}")) {
			m, err := c.Read(buf[n:])
			if err != nil {
				t.Fatal(err)
			}
			n += m
		}
	}
	one()
	allocs := testing.AllocsPerRun(200, one)
	t.Logf("%.1f allocations per request", allocs)
	// The head's one string; the Date value once a second. Under the race
	// detector the pool's deliberate drops add the idle wait's buffers.
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race (sync.Pool drops Puts)")
	}
	if allocs > 1.1 {
		t.Fatalf("%.1f allocations per request", allocs)
	}
}
