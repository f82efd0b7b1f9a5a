package proxy_test

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/esgate/esgate/auth"
	"github.com/esgate/esgate/certs"
	"github.com/esgate/esgate/proxy"
	"github.com/esgate/esgate/proxy/metrics"
)

// connUpstream is a TLS upstream that counts the connections it accepted
// and those it closed.
type connUpstream struct {
	*httptest.Server
	conns, closed atomic.Int64
	ca            string
}

func startConnUpstream(t *testing.T, idle time.Duration, h http.HandlerFunc) *connUpstream {
	t.Helper()
	u := &connUpstream{ca: filepath.Join(t.TempDir(), "ca.crt")}
	if err := os.WriteFile(u.ca, sharedCA.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	leaf, err := sharedCA.Issue("es", "ec")
	if err != nil {
		t.Fatal(err)
	}
	u.Server = httptest.NewUnstartedServer(h)
	u.Config.IdleTimeout = idle
	u.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			u.conns.Add(1)
		case http.StateClosed, http.StateHijacked:
			u.closed.Add(1)
		}
	}
	u.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLSCertificate()}}
	u.StartTLS()
	t.Cleanup(u.Close)
	return u
}

func echoLength(w http.ResponseWriter, r *http.Request) {
	n, _ := io.Copy(io.Discard, r.Body)
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("X-Got", strconv.FormatInt(n, 10))
	w.Write([]byte(`{"ok":true}`))
}

// TestKeepAlive: sequential requests of every shape share one upstream
// connection, also across a reload that keeps the TLS material; new
// material gets a new connection.
func TestKeepAlive(t *testing.T) {
	up := startConnUpstream(t, 0, echoLength)
	front, p := sandwich(t, certs.Options{CAFiles: []string{up.ca}}, auth.APIKey("aWQ6a2V5"),
		func(o *proxy.Options) { o.ResurrectDelay = time.Hour }, up.URL)
	big := strings.Repeat("{\"index\":{}}\n{\"m\":1}\n", 20000) // 420 KB
	for i, c := range []struct{ method, body string }{
		{"GET", ""}, {"HEAD", ""}, {"POST", big}, {"POST", "{}\n"}, {"DELETE", ""}, {"PUT", big},
	} {
		res, _ := do(t, c.method, front+"/x", c.body)
		if res.StatusCode != 200 || (c.method != "HEAD" && res.Header.Get("X-Got") != strconv.Itoa(len(c.body))) {
			t.Fatalf("request %d (%s): status %d, upstream read %s of %d bytes", i, c.method, res.StatusCode, res.Header.Get("X-Got"), len(c.body))
		}
	}
	if n := up.conns.Load(); n != 1 {
		t.Errorf("%d upstream connections for sequential requests; expected 1", n)
	}
	// A reload that keeps the TLS material keeps the pooled connection;
	// one with new material never reuses a connection made with the old.
	publish(p, func(*proxy.State) {})
	do(t, "GET", front+"/x", "")
	if n := up.conns.Load(); n != 1 {
		t.Errorf("%d upstream connections after a reload with the same TLS material; expected 1", n)
	}
	mat, err := certs.Load(certs.Options{CAFiles: []string{up.ca}})
	if err != nil {
		t.Fatal(err)
	}
	publish(p, func(s *proxy.State) { s.TLS = mat })
	do(t, "GET", front+"/x", "")
	if n := up.conns.Load(); n != 2 {
		t.Errorf("%d upstream connections after a reload with new TLS material; expected 2", n)
	}
}

// TestStalePooledConnection: the host closes idle connections, sooner or
// later; the next request finds out before sending and uses a new
// connection.
func TestStalePooledConnection(t *testing.T) {
	up := startConnUpstream(t, 30*time.Millisecond, echoLength)
	front, _ := sandwich(t, certs.Options{CAFiles: []string{up.ca}}, auth.APIKey("aWQ6a2V5"),
		func(o *proxy.Options) { o.ResurrectDelay = time.Hour }, up.URL)
	body := "{\"index\":{}}\n{}\n"
	for i, idle := range []time.Duration{0, 150 * time.Millisecond, 700 * time.Millisecond} {
		time.Sleep(idle)
		// On a starved machine the host's idle timer may not have fired
		// yet: wait until it has closed the pooled connection, so that the
		// count below does not depend on the machine's speed.
		eventually(t, func() string {
			if n := up.closed.Load(); n != int64(i) {
				return fmt.Sprintf("the host closed %d connections before request %d", n, i)
			}
			return ""
		})
		if res, _ := do(t, "POST", front+"/_bulk", body); res.StatusCode != 200 || res.Header.Get("X-Got") != strconv.Itoa(len(body)) {
			t.Fatalf("POST %d, after %s idle: status %d", i, idle, res.StatusCode)
		}
	}
	if n := up.conns.Load(); n != 3 {
		t.Errorf("%d upstream connections; expected 3", n)
	}
}

// TestHostHangsUp: the host closes a reused connection on receiving a
// request, without answering. A bodiless GET cannot have changed anything
// and is retried on a new connection; a bulk may have been applied, so the
// client gets a 502 rather than a duplicate.
func TestHostHangsUp(t *testing.T) {
	var hangups atomic.Int64
	up := startConnUpstream(t, 0, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hangup" && hangups.Add(1)%2 == 1 {
			io.Copy(io.Discard, r.Body)
			c, _, _ := http.NewResponseController(w).Hijack()
			c.Close()
			return
		}
		echoLength(w, r)
	})
	front, _ := sandwich(t, certs.Options{CAFiles: []string{up.ca}}, auth.APIKey("aWQ6a2V5"),
		func(o *proxy.Options) { o.ResurrectDelay = time.Hour }, up.URL)
	do(t, "GET", front+"/", "")
	if res, _ := do(t, "GET", front+"/hangup", ""); res.StatusCode != 200 {
		t.Errorf("GET: status %d; expected 200 after a retry", res.StatusCode)
	}
	if res, body := do(t, "POST", front+"/hangup", "{}\n"); res.StatusCode != 502 || parseErr(t, body).Error.Type != "esgate_upstream_exception" {
		t.Errorf("POST: status %d %s; expected 502 esgate_upstream_exception", res.StatusCode, body)
	}
	if n := hangups.Load(); n != 3 {
		t.Errorf("the host saw %d hang-up requests; expected 3 (GET twice, POST once)", n)
	}
}

// TestEarlyAnswer: the host answers and closes without reading a large
// body (as Elasticsearch does with 413 over http.max_content_length); the
// client gets that answer, not a 502 for the broken write.
func TestEarlyAnswer(t *testing.T) {
	up := startConnUpstream(t, 0, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" {
			w.Header().Set("Connection", "close")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(413)
			w.Write([]byte(`{"error":"Request Entity Too Large","status":413}`))
			return
		}
		echoLength(w, r)
	})
	front, _ := sandwich(t, certs.Options{CAFiles: []string{up.ca}}, auth.APIKey("aWQ6a2V5"), nil, up.URL)
	res, body := do(t, "POST", front+"/_bulk", strings.Repeat("x", 16<<20))
	if res.StatusCode != 413 || !strings.Contains(body, "Request Entity Too Large") {
		t.Fatalf("status %d body %q; expected the host's 413", res.StatusCode, body)
	}
	if res, _ := do(t, "GET", front+"/", ""); res.StatusCode != 200 {
		t.Fatalf("next request: status %d", res.StatusCode)
	}
}

// TestAbandonedResponse: a client that hangs up in the middle of a large
// response leaves no half-read connection in the pool.
func TestAbandonedResponse(t *testing.T) {
	payload := bytes.Repeat([]byte("z"), 8<<20)
	up := startConnUpstream(t, 0, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			w.Write(payload)
			return
		}
		echoLength(w, r)
	})
	front, _ := sandwich(t, certs.Options{CAFiles: []string{up.ca}}, auth.APIKey("aWQ6a2V5"),
		func(o *proxy.Options) { o.ResurrectDelay = time.Hour }, up.URL)
	res, err := http.Get(front + "/big")
	if err != nil {
		t.Fatal(err)
	}
	io.ReadFull(res.Body, make([]byte, 64<<10))
	res.Body.Close() // the client transport closes the connection: esgate's request is canceled
	time.Sleep(100 * time.Millisecond)
	for i := 0; i < 3; i++ {
		res, body := do(t, "POST", front+"/_bulk", "{}\n")
		if res.StatusCode != 200 || body != `{"ok":true}` {
			t.Fatalf("request %d after an abandoned response: %d %q", i, res.StatusCode, body)
		}
	}
	if n := up.conns.Load(); n != 2 {
		t.Errorf("%d upstream connections; expected 2 (the abandoned one is not reused)", n)
	}
}

// TestInformationalAnswers: a 103 before the answer is skipped.
func TestInformationalAnswers(t *testing.T) {
	up := startConnUpstream(t, 0, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</x>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		w.WriteHeader(201)
		w.Write([]byte("done"))
	})
	front, _ := sandwich(t, certs.Options{CAFiles: []string{up.ca}}, auth.APIKey("aWQ6a2V5"), nil, up.URL)
	if res, body := do(t, "PUT", front+"/i/_doc/1", "{}"); res.StatusCode != 201 || body != "done" {
		t.Fatalf("status %d body %q", res.StatusCode, body)
	}
}

// TestEarlyAnswerHostKeepsOpen: the host answers early and neither reads
// the rest of the body nor closes, until the test ends. The stalled write
// ends after the timeout and the client gets the host's answer: without
// the timeout it would get nothing at all.
func TestEarlyAnswerHostKeepsOpen(t *testing.T) {
	release := make(chan struct{})
	up := startConnUpstream(t, 0, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "POST" {
			echoLength(w, r)
			return
		}
		c, brw, _ := http.NewResponseController(w).Hijack()
		defer c.Close()
		brw.WriteString("HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{\"status\":403}\r\n")
		brw.Flush()
		<-release // neither reading nor closing
	})
	t.Cleanup(func() { close(release) }) // before the upstream's own cleanup
	front, _ := sandwich(t, certs.Options{CAFiles: []string{up.ca}}, auth.APIKey("aWQ6a2V5"),
		func(o *proxy.Options) { o.ResponseHeaderTimeout = 300 * time.Millisecond }, up.URL)
	res, body := do(t, "POST", front+"/_bulk", strings.Repeat("x", 32<<20))
	if res.StatusCode != 403 || body != "{\"status\":403}\r\n" {
		t.Fatalf("status %d body %q; expected the host's 403", res.StatusCode, body)
	}
}

// TestPublishHosts: a reload moves traffic to the new hosts at once; a
// host that stays keeps its state (the same Upstream).
func TestPublishHosts(t *testing.T) {
	a := startConnUpstream(t, 0, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("a")) })
	b := startConnUpstream(t, 0, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("b")) })
	front, p := sandwich(t, certs.Options{CAFiles: []string{a.ca}}, auth.APIKey("aWQ6a2V5"),
		func(o *proxy.Options) { o.ResurrectDelay = time.Hour }, a.URL)
	if _, body := do(t, "GET", front+"/", ""); body != "a" {
		t.Fatalf("before: %q", body)
	}
	ua, _ := url.Parse(a.URL)
	ub, _ := url.Parse(b.URL)
	added, removed := publish(p, func(s *proxy.State) { s.Hosts, _, _ = s.Hosts.With([]*url.URL{ub}) })
	if len(added) != 1 || added[0] != ub.Host || len(removed) != 1 || removed[0] != ua.Host {
		t.Errorf("added %v removed %v", added, removed)
	}
	for i := 0; i < 3; i++ {
		if _, body := do(t, "GET", front+"/", ""); body != "b" {
			t.Fatalf("after: %q", body)
		}
	}
	kept := p.Hosts()[0]
	publish(p, func(s *proxy.State) { s.Hosts, _, _ = s.Hosts.With([]*url.URL{ua, ub}) })
	if h := p.Hosts(); len(h) != 2 || h[1] != kept {
		t.Errorf("hosts %v: the kept host lost its state", h)
	}
}

// TestProbeUserAgent: esgate's own requests say who sends them.
func TestProbeUserAgent(t *testing.T) {
	var ua atomic.Value
	up := startConnUpstream(t, 0, func(w http.ResponseWriter, r *http.Request) { ua.Store(r.UserAgent()) })
	_, p := sandwich(t, certs.Options{CAFiles: []string{up.ca}}, auth.APIKey("aWQ6a2V5"),
		func(o *proxy.Options) { o.ResurrectDelay = time.Hour; o.UserAgent = "esgate/1.2.3" }, up.URL)
	res, err := p.Probe(t.Context(), p.Hosts()[0], "HEAD", "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if g, _ := ua.Load().(string); g != "esgate/1.2.3" {
		t.Errorf("User-Agent %q", g)
	}
}

// TestConnectionCap: with pool_max_per_route 2, two slow answers hold both
// connections; a third request waits for one and, past the timeout, gets
// a 504 naming the setting; afterwards the two connections serve on.
func TestConnectionCap(t *testing.T) {
	gate := make(chan struct{})
	up := startConnUpstream(t, 0, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			w.WriteHeader(200)
			http.NewResponseController(w).Flush()
			<-gate
		}
		w.Write([]byte("done"))
	})
	reg := prometheus.NewRegistry()
	front, _ := sandwich(t, certs.Options{CAFiles: []string{up.ca}}, auth.APIKey("aWQ6a2V5"), func(o *proxy.Options) {
		o.Metrics = metrics.New(reg).Route("cap")
		o.ResurrectDelay = time.Hour
		o.MaxConnsPerHost, o.MaxIdlePerHost = 2, 2
		o.ResponseHeaderTimeout = 300 * time.Millisecond
	}, up.URL)
	var slow []*http.Response
	for i := 0; i < 2; i++ {
		res, err := http.Get(front + "/slow")
		if err != nil {
			t.Fatal(err)
		}
		slow = append(slow, res)
	}
	res, body := do(t, "GET", front+"/fast", "")
	if e := parseErr(t, body); res.StatusCode != 504 || !strings.Contains(e.Error.Reason, "pool_max_per_route") {
		t.Errorf("third request: %d %s; expected 504 naming pool_max_per_route", res.StatusCode, body)
	}
	if n := sumOf(reg, "esgate_upstream_pool_waits_total", "", ""); n != 1 {
		t.Errorf("esgate_upstream_pool_waits_total = %v; expected 1", n)
	}
	close(gate)
	for _, r := range slow {
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if string(b) != "done" {
			t.Errorf("slow answer %q", b)
		}
	}
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if res, body := do(t, "GET", front+"/fast", ""); res.StatusCode != 200 || body != "done" {
				t.Errorf("after: %d %q", res.StatusCode, body)
			}
		}()
	}
	wg.Wait()
	if n := up.conns.Load(); n != 2 {
		t.Errorf("%d upstream connections; expected at most 2 and reuse", n)
	}
}
