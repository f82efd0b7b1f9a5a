package proxy_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/esgate/esgate/auth"
	"github.com/esgate/esgate/certs"
	"github.com/esgate/esgate/proxy"
	"github.com/esgate/esgate/proxy/metrics"
)

// catchHang bounds every wait in this package's tests. It only catches a
// hang: on a machine starved of CPU (two busy loops at nice -15) a
// request that takes milliseconds when idle can take tens of seconds.
const catchHang = 3 * time.Minute

// rawRequest sends raw bytes to addr (host:port of an http URL) and
// returns the response, read with net/http's parser.
func rawRequest(t testing.TB, front, raw string) (*http.Response, string) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(front, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(catchHang))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// TestRequestTargetByteExact: path and query reach Elasticsearch exactly
// as the client wrote them: ';' in the query (httputil.ReverseProxy drops
// such parameters, turning a search into match_all), escapes that are not
// valid, encoded slashes, with and without a host path prefix.
func TestRequestTargetByteExact(t *testing.T) {
	for _, prefix := range []string{"", "/es", "/es/"} {
		s := startScripted(t, func(n int64, req *http.Request, o rawOut) bool {
			o.send(okHello)
			return true
		})
		front, _ := sandwich(t, certs.Options{CAFiles: []string{s.ca}}, auth.APIKey("aWQ6a2V5"),
			func(o *proxy.Options) { o.ResurrectDelay = time.Hour }, "https://"+s.addr+prefix)
		targets := []string{
			"/idx/_search?q=user:bob;x",
			"/idx/_search?q=%zz&a=b;c=d",
			"/a%2Fb/_doc/%E2%9C%93?routing=x%20y&refresh",
			"/logs-*/_search?q=message:%22a+b%22",
			"/?",
		}
		for _, target := range targets {
			res, _ := rawRequest(t, front, "GET "+target+" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
			if res.StatusCode != 200 {
				t.Fatalf("%s: status %d", target, res.StatusCode)
			}
		}
		want := strings.TrimSuffix(prefix, "/")
		s.mu.Lock()
		for i, target := range targets {
			if i >= len(s.seen) || s.seen[i] != want+target {
				t.Errorf("prefix %q: sent %q, Elasticsearch saw %q", prefix, target, s.seen)
				break
			}
		}
		s.mu.Unlock()
	}
}

// TestStalledBodyWriteIs504: the host reads the headers, then neither
// reads the body nor answers. The write stalls; the client gets a 504
// esgate_timeout_exception naming timeout, not a 502.
func TestStalledBodyWriteIs504(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	s := startScripted(t, func(n int64, req *http.Request, o rawOut) bool {
		<-block
		return false
	})
	front, _ := sandwich(t, certs.Options{CAFiles: []string{s.ca}}, auth.APIKey("aWQ6a2V5"), func(o *proxy.Options) {
		o.ResurrectDelay = time.Hour
		o.ResponseHeaderTimeout = 300 * time.Millisecond
	}, "https://"+s.addr)
	res, body := do(t, "POST", front+"/_bulk", strings.Repeat("x", 32<<20))
	if e := parseErr(t, body); res.StatusCode != 504 || e.Error.Type != "esgate_timeout_exception" || !strings.Contains(e.Error.Reason, "raise timeout") {
		t.Errorf("status %d %s; expected 504 esgate_timeout_exception naming timeout", res.StatusCode, trim(body))
	}
}

// TestBadClientChunkIs400: a broken chunked body from the client is the
// client's error: 400 esgate_bad_request_exception, not an upstream 502.
func TestBadClientChunkIs400(t *testing.T) {
	s := startScripted(t, func(n int64, req *http.Request, o rawOut) bool { o.send(okHello); return true })
	front, _ := sandwich(t, certs.Options{CAFiles: []string{s.ca}}, auth.APIKey("aWQ6a2V5"),
		func(o *proxy.Options) { o.ResurrectDelay = time.Hour }, "https://"+s.addr)
	res, body := rawRequest(t, front, "POST /_bulk HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n")
	if e := parseErr(t, body); res.StatusCode != 400 || e.Error.Type != "esgate_bad_request_exception" {
		t.Errorf("status %d %s; expected 400 esgate_bad_request_exception", res.StatusCode, body)
	}
}

// TestSlowClientBody: a client that sends part of its body and stops is
// answered 408 after the body timeout (the header timeout is an hour: the
// 408 can only be the body timeout's), and the upstream connection it held
// is free for the next request (pool_max_per_route 1).
func TestSlowClientBody(t *testing.T) {
	up := startConnUpstream(t, 0, echoLength)
	front, _ := sandwich(t, certs.Options{CAFiles: []string{up.ca}}, auth.APIKey("aWQ6a2V5"), func(o *proxy.Options) {
		o.ResurrectDelay = time.Hour
		o.MaxConnsPerHost, o.MaxIdlePerHost = 1, 1
		o.BodyReadTimeout = 200 * time.Millisecond
		o.ResponseHeaderTimeout = time.Hour
	}, up.URL)
	res, body := rawRequest(t, front, "POST /_bulk HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{\"index\":{}}\n")
	if e := parseErr(t, body); res.StatusCode != 408 || e.Error.Type != "esgate_client_timeout_exception" {
		t.Errorf("status %d %s; expected 408 esgate_client_timeout_exception", res.StatusCode, body)
	}
	if res, _ := do(t, "POST", front+"/_bulk", "{}\n"); res.StatusCode != 200 {
		t.Errorf("next request: status %d; the slot was not given back", res.StatusCode)
	}
}

// TestLargeAuthErrorBodyWhole: a 401 answer larger than what esgate reads
// to classify it reaches the client whole.
func TestLargeAuthErrorBodyWhole(t *testing.T) {
	big := `{"error":{"type":"security_exception","reason":"` + strings.Repeat("r", 200<<10) + `"},"status":401}`
	s := startScripted(t, func(n int64, req *http.Request, o rawOut) bool {
		o.send(fmt.Sprintf("HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(big), big))
		return true
	})
	reg := prometheus.NewRegistry()
	front, _ := sandwich(t, certs.Options{CAFiles: []string{s.ca}}, auth.APIKey("aWQ6a2V5"), func(o *proxy.Options) {
		o.ResurrectDelay = time.Hour
		o.Metrics = metrics.New(reg).Route("t")
		o.OnUnauthorized = func(context.Context, string, []byte) bool { return false }
	}, "https://"+s.addr)
	res, body := do(t, "GET", front+"/x", "")
	if res.StatusCode != 401 || body != big {
		t.Errorf("status %d, %d of %d body bytes", res.StatusCode, len(body), len(big))
	}
}

// TestAbortedAnswerAccounted: an answer that breaks off mid-body still
// ends in one requests_total sample, one access log line, and in-flight
// back at zero.
func TestAbortedAnswerAccounted(t *testing.T) {
	s := startScripted(t, func(n int64, req *http.Request, o rawOut) bool {
		o.send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
		return false
	})
	reg := prometheus.NewRegistry()
	var logBuf syncBuffer
	front, _ := sandwich(t, certs.Options{CAFiles: []string{s.ca}}, auth.APIKey("aWQ6a2V5"), func(o *proxy.Options) {
		o.ResurrectDelay = time.Hour
		o.Metrics = metrics.New(reg).Route("t")
		o.AccessLog = slog.New(slog.NewJSONHandler(&logBuf, nil))
	}, "https://"+s.addr)
	res, err := http.Get(front + "/x")
	if err == nil {
		_, err = io.ReadAll(res.Body)
		res.Body.Close()
	}
	if err == nil {
		t.Fatal("the client read a broken answer as complete")
	}
	eventually(t, func() string {
		if n := sumOf(reg, "esgate_requests_total", "", ""); n != 1 {
			return fmt.Sprintf("esgate_requests_total = %v", n)
		}
		if n := sumOf(reg, "esgate_requests_in_flight", "", ""); n != 0 {
			return fmt.Sprintf("esgate_requests_in_flight = %v", n)
		}
		lines := logBuf.lines()
		if len(lines) != 1 {
			return fmt.Sprintf("%d access log lines", len(lines))
		}
		var rec struct {
			Aborted bool `json:"aborted"`
		}
		json.Unmarshal([]byte(lines[0]), &rec)
		if !rec.Aborted {
			return "the access log line does not say aborted: " + lines[0]
		}
		return ""
	})
}

// TestMaxBodySizeLargest: the largest max_body_size does not overflow.
func TestMaxBodySizeLargest(t *testing.T) {
	up := startConnUpstream(t, 0, echoLength)
	front, _ := sandwich(t, certs.Options{CAFiles: []string{up.ca}}, auth.APIKey("aWQ6a2V5"), func(o *proxy.Options) {
		o.MaxBodySize = math.MaxInt64
	}, up.URL)
	res, err := http.Post(front+"/_bulk", "application/x-ndjson", io.MultiReader(strings.NewReader("{}\n"))) // chunked
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("X-Got") != "3" {
		t.Errorf("status %d, upstream read %s bytes", res.StatusCode, res.Header.Get("X-Got"))
	}
}

// eventually retries check (which returns "" when satisfied) until
// catchHang: for what esgate records after the client already has its
// answer.
func eventually(t testing.TB, check func() string) {
	t.Helper()
	deadline := time.Now().Add(catchHang)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := strings.TrimSpace(b.buf.String())
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// TestCompressPlainBodies: with CompressionLevel, a body the client sends
// plain reaches Elasticsearch gzipped (and whole); one the client already
// compressed passes untouched, as any other.
func TestCompressPlainBodies(t *testing.T) {
	type seen struct {
		encoding string
		body     []byte
	}
	// Only bulks are recorded (a readiness probe is not a body), and the
	// channel has room for more than the test sends: a handler never
	// blocks, so nothing can hold the upstream's Close.
	got := make(chan seen, 8)
	up := startConnUpstream(t, 0, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/_bulk" {
			return
		}
		raw, _ := io.ReadAll(r.Body)
		select {
		case got <- seen{r.Header.Get("Content-Encoding"), raw}:
		default:
		}
		w.Write([]byte(`{"errors":false,"items":[]}`))
	})
	front, _ := sandwich(t, certs.Options{CAFiles: []string{up.ca}}, auth.APIKey("aWQ6a2V5"), func(o *proxy.Options) {
		o.CompressionLevel = 1
		o.ResurrectDelay = time.Hour
	}, up.URL)
	plain := strings.Repeat("{\"index\":{}}\n{\"message\":\"hello world\"}\n", 2000)
	if res, _ := do(t, "POST", front+"/_bulk", plain); res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	s := <-got
	zr, err := gzip.NewReader(bytes.NewReader(s.body))
	if err != nil || s.encoding != "gzip" {
		t.Fatalf("Content-Encoding %q, %v", s.encoding, err)
	}
	if b, _ := io.ReadAll(zr); string(b) != plain || len(s.body) >= len(plain)/4 {
		t.Errorf("%d bytes gzipped to %d; round trip equal: %v", len(plain), len(s.body), string(b) == plain)
	}
	var pre bytes.Buffer
	zw := gzip.NewWriter(&pre)
	zw.Write([]byte(plain))
	zw.Close()
	sent := pre.Bytes()
	if res, _ := do(t, "POST", front+"/_bulk", string(sent), "Content-Encoding", "gzip"); res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	if s := <-got; s.encoding != "gzip" || !bytes.Equal(s.body, sent) {
		t.Error("a gzipped body did not pass untouched")
	}
}
