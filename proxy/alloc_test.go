package proxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/esgate/esgate/auth"
	"github.com/esgate/esgate/certs"
	"github.com/esgate/esgate/proxy/h1"
	"github.com/esgate/esgate/proxy/metrics"
)

// answerConn is an upstream connection in memory that answers every
// request with the same bytes, as a host that sends one Elasticsearch
// answer per request would: once the request was written, reads return
// answer; with nothing asked, a read times out at once (the pooled
// connection's unsolicited check). It allocates nothing, so that counting
// allocations through it counts esgate's own (crypto/tls's are not in).
type answerConn struct {
	answer []byte
	left   []byte
}

func (c *answerConn) Write(p []byte) (int, error) {
	if len(c.left) == 0 {
		c.left = c.answer
	}
	return len(p), nil
}

func (c *answerConn) Read(p []byte) (int, error) {
	if len(c.left) == 0 {
		return 0, os.ErrDeadlineExceeded
	}
	n := copy(p, c.left)
	c.left = c.left[n:]
	return n, nil
}

func (c *answerConn) pendingInput() bool                 { return false }
func (c *answerConn) Close() error                       { return nil }
func (c *answerConn) LocalAddr() net.Addr                { return &net.TCPAddr{} }
func (c *answerConn) RemoteAddr() net.Addr               { return &net.TCPAddr{} }
func (c *answerConn) SetDeadline(t time.Time) error      { return nil }
func (c *answerConn) SetWriteDeadline(t time.Time) error { return nil }
func (c *answerConn) SetReadDeadline(t time.Time) error  { return nil }

// allocFront serves a Proxy (configured by mod) with h1 on a plain
// listener, as esgate serve does, in front of hosts that all answer
// answer in memory. It returns a connected client.
func allocFront(t testing.TB, answer []byte, mod func(*Options)) net.Conn {
	t.Helper()
	mat, err := certs.Load(certs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cs, _ := auth.NewSource(func() (auth.Credential, error) { return auth.APIKey("YmVuY2gtaWQ6YmVuY2gtYXBpLWtleQ=="), nil })
	u, _ := url.Parse("https://es:9200")
	st := &State{Hosts: NewHostSet([]*url.URL{u}), TLS: mat, Credential: cs}
	o := Options{Name: "alloc", State: func() *State { return st }, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if mod != nil {
		mod(&o)
	}
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	p.client.dial = func(context.Context, string, *certs.Material) (net.Conn, error) {
		return &answerConn{answer: answer}, nil
	}
	t.Cleanup(p.Close)
	l, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &h1.Server{Handler: p, Fallback: &http.Server{Handler: p}}
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// bulkExchange returns Logstash's bulk request (16.7 KB on the wire, as
// the bench harness's tiny body) and Elasticsearch's answer to it.
func bulkExchange() (req, answer, answerBody []byte) {
	body := bytes.Repeat([]byte("x"), 16737)
	req = []byte("POST /_bulk HTTP/1.1\r\nHost: localhost:9200\r\nContent-Type: application/x-ndjson\r\nContent-Encoding: gzip\r\n" +
		"Connection: Keep-Alive\r\nUser-Agent: Manticore 0.9.1\r\nX-Elastic-Event-Count: 125\r\nContent-Length: " +
		fmt.Sprint(len(body)) + "\r\n\r\n" + string(body))
	answerBody = []byte(`{"errors":false,"items":[` + strings.Repeat(`{"create":{"status":201}},`, 124) + `{"create":{"status":201}}]}`)
	answer = []byte("HTTP/1.1 200 OK\r\nX-elastic-product: Elasticsearch\r\ncontent-type: application/json\r\ncontent-length: " +
		fmt.Sprint(len(answerBody)) + "\r\n\r\n" + string(answerBody))
	return req, answer, answerBody
}

// exchangeOnce sends req on c and reads until the answer's body has come.
func exchangeOnce(t testing.TB, c net.Conn, req, body, buf []byte) {
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	n := 0
	for !bytes.HasSuffix(buf[:n], body) {
		if n == len(buf) {
			t.Fatalf("answer larger than expected: %q", buf[:200])
		}
		m, err := c.Read(buf[n:])
		if err != nil {
			t.Fatal(err)
		}
		n += m
	}
	if !bytes.HasPrefix(buf, []byte("HTTP/1.1 200 ")) {
		t.Fatalf("answer: %q", buf[:min(n, 200)])
	}
}

// allocModes are the configurations whose allocations per forwarded
// request are held to a bound: without metrics, with them (esgate's
// default), with the access log on too, through slog and through an
// AccessWriter. max counts h1's own (the request head's string, see h1's
// TestServeAllocations) and esgate's; measured 12, 19, 20 and 19, the
// rest is room for a pool emptied by a GC.
var allocModes = []struct {
	name string
	mod  func(*Options)
	max  float64
}{
	{"plain", nil, 16},
	{"metrics", func(o *Options) { o.Metrics = metrics.New(prometheus.NewRegistry()).Route("alloc") }, 24},
	{"metrics-accesslog", func(o *Options) {
		o.Metrics = metrics.New(prometheus.NewRegistry()).Route("alloc")
		o.AccessLog = slog.New(slog.NewTextHandler(io.Discard, nil))
	}, 28},
	// An AccessWriter (serve's is one) writes the line without slog:
	// no allocation of its own, so the default's bound.
	{"metrics-accesswriter", func(o *Options) {
		o.Metrics = metrics.New(prometheus.NewRegistry()).Route("alloc")
		o.AccessLog = slog.New(discardAccess{slog.NewTextHandler(io.Discard, nil)})
	}, 24},
}

// discardAccess is an AccessWriter that takes every line and writes none.
type discardAccess struct{ slog.Handler }

func (discardAccess) WriteAccess(time.Time, AccessRecord) bool { return true }

// TestForwardAllocations counts the allocations of one Logstash bulk
// request forwarded by esgate (h1 in front, the upstream client behind),
// without the client's, the host's or crypto/tls's: the client writes
// and reads raw bytes, the host is in memory.
func TestForwardAllocations(t *testing.T) {
	req, answer, body := bulkExchange()
	for _, m := range allocModes {
		t.Run(m.name, func(t *testing.T) {
			c := allocFront(t, answer, m.mod)
			buf := make([]byte, 64<<10)
			one := func() { exchangeOnce(t, c, req, body, buf) }
			one()
			allocs := testing.AllocsPerRun(500, one)
			t.Logf("%.1f allocations per request", allocs)
			if raceEnabled {
				t.Skip("allocation counts are not meaningful under -race (sync.Pool drops Puts)")
			}
			if allocs > m.max {
				t.Fatalf("%.1f allocations per forwarded request, want at most %.0f", allocs, m.max)
			}
		})
	}
}

// BenchmarkForwardOwn is BenchmarkForwardBulk's tiny body without the
// client's, the host's and crypto/tls's allocations (see
// TestForwardAllocations): what esgate itself allocates per request.
func BenchmarkForwardOwn(b *testing.B) {
	req, answer, body := bulkExchange()
	for _, m := range allocModes {
		b.Run(m.name, func(b *testing.B) {
			c := allocFront(b, answer, m.mod)
			buf := make([]byte, 64<<10)
			exchangeOnce(b, c, req, body, buf)
			b.SetBytes(int64(len(req)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				exchangeOnce(b, c, req, body, buf)
			}
		})
	}
}

// TestConnectionListed holds connectionListed, which compares without
// allocating, to its definition: k is one of the Connection header's
// comma-separated tokens in canonical form.
func TestConnectionListed(t *testing.T) {
	ref := func(h http.Header, k string) bool {
		for _, v := range h["Connection"] {
			for _, tok := range strings.Split(v, ",") {
				if http.CanonicalHeaderKey(strings.TrimSpace(tok)) == k {
					return true
				}
			}
		}
		return false
	}
	conns := [][]string{nil, {""}, {"close"}, {"Keep-Alive"}, {"keep-alive, x-trace-id"}, {" X-Trace-Id ,, te"},
		{"a", "x-TRACE-id"}, {"x-trace_id"}, {"x trace id"}, {"X-Trace-Id,"}, {",x-trace-id"}, {"ſ"}, {"\u212a"}}
	keys := []string{"X-Trace-Id", "Keep-Alive", "Te", "Close", "X-Trace_id", "X-Trace_Id", "x trace id", "S", "K", "A"}
	for _, c := range conns {
		h := http.Header{"Connection": c}
		for _, k := range keys {
			if got, want := connectionListed(h, k), ref(h, k); got != want {
				t.Errorf("Connection %q, key %q: %v, want %v", c, k, got, want)
			}
		}
	}
	h := http.Header{"Connection": {"Keep-Alive, x-trace-id"}}
	if n := testing.AllocsPerRun(100, func() { connectionListed(h, "User-Agent") }); n != 0 {
		t.Errorf("%.0f allocations", n)
	}
}
