package proxy_test

import (
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/esgate/esgate/auth"
	"github.com/esgate/esgate/auth/policy"
	"github.com/esgate/esgate/certs"
	"github.com/esgate/esgate/proxy"
	"github.com/esgate/esgate/test/esserver"
	"github.com/esgate/esgate/test/pki"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// states holds each sandwich proxy's state, for publish.
var states sync.Map // *proxy.Proxy -> *atomic.Pointer[proxy.State]

// publish puts in force a copy of p's state changed by change, as a
// reload does, and returns the hosts added and removed.
func publish(p *proxy.Proxy, change func(*proxy.State)) (added, removed []string) {
	v, _ := states.Load(p)
	cur := v.(*atomic.Pointer[proxy.State])
	prev := cur.Load()
	next := *prev
	change(&next)
	cur.Store(&next)
	return p.Published(prev, &next)
}

// withPolicy sets the initial state's policy, in a sandwich's mod.
func withPolicy(o *proxy.Options, pol *policy.Policy) {
	st := *o.State()
	st.Policy = pol
	o.State = func() *proxy.State { return &st }
}

// sandwich runs client -> esgate (httptest) -> upstreams and returns esgate's URL.
func sandwich(t testing.TB, tlsOpts certs.Options, cred auth.Credential, mod func(*proxy.Options), upstreams ...string) (string, *proxy.Proxy) {
	t.Helper()
	mat, err := certs.Load(tlsOpts)
	if err != nil {
		t.Fatal(err)
	}
	cs, _ := auth.NewSource(func() (auth.Credential, error) { return cred, nil })
	var urls []*url.URL
	for _, u := range upstreams {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		urls = append(urls, pu)
	}
	st := &proxy.State{Hosts: proxy.NewHostSet(urls), TLS: mat, Credential: cs}
	o := proxy.Options{Name: "test", State: func() *proxy.State { return st }, Log: quiet, ResurrectDelay: 100 * time.Millisecond}
	if mod != nil {
		mod(&o)
	}
	cur := new(atomic.Pointer[proxy.State])
	cur.Store(o.State())
	o.State = cur.Load
	p, err := proxy.New(o)
	if err != nil {
		t.Fatal(err)
	}
	states.Store(p, cur)
	t.Cleanup(func() { states.Delete(p) })
	p.Start(t.Context())
	front := httptest.NewServer(p)
	t.Cleanup(func() { front.Close(); p.Close() })
	return front.URL, p
}

func do(t testing.TB, method, u, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

type esErr struct {
	Error struct {
		RootCause []struct{ Type, Reason string } `json:"root_cause"`
		Type      string                          `json:"type"`
		Reason    string                          `json:"reason"`
	} `json:"error"`
	Status int `json:"status"`
}

func parseErr(t testing.TB, body string) esErr {
	t.Helper()
	var e esErr
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("error body is not ES JSON: %v: %q", err, body)
	}
	return e
}

// TestAuthModes sends GET /_security/_authenticate through esgate with each
// credential kind and checks who Elasticsearch saw, with a client-sent
// Authorization that must be replaced.
func TestAuthModes(t *testing.T) {
	es, ca := esserver.StartT(t, esserver.Options{})
	es.AddUser("logstash_internal", "s3cret-pw", "superuser")
	id, secret, encoded := es.CreateAPIKey("logstash_internal", "publish", 0, nil)
	token := es.CreateServiceToken("elastic/fleet-server", "tok1", esserver.Role{Cluster: []string{"monitor"}})
	dir := t.TempDir()
	leaf, err := es.CA.Issue("pki-logstash", "rsa", pki.Client())
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "c.crt"), filepath.Join(dir, "c.key")
	if err := leaf.WriteFiles(certFile, keyFile, "pkcs1", ""); err != nil {
		t.Fatal(err)
	}
	es.MapPKIUser("pki-logstash", "superuser")
	b64 := func(s string) string {
		enc, err := auth.ParseAPIKey(s)
		if err != nil {
			t.Fatal(err)
		}
		return enc
	}
	tests := []struct {
		name     string
		cred     auth.Credential
		pki      bool
		wantUser string
		wantType string
	}{
		{"basic", auth.Basic("logstash_internal", "s3cret-pw"), false, "logstash_internal", "realm"},
		{"api_key id:key", auth.APIKey(b64(id + ":" + secret)), false, "logstash_internal", "api_key"},
		{"api_key encoded", auth.APIKey(b64(encoded)), false, "logstash_internal", "api_key"},
		{"bearer service token", auth.Bearer(token), false, "elastic/fleet-server", "token"},
		{"pki", auth.NoHeader("pki"), true, "pki-logstash", "realm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := certs.Options{CAFiles: []string{ca}}
			if tt.pki {
				opts.CertFile, opts.KeyFile = certFile, keyFile
			}
			front, _ := sandwich(t, opts, tt.cred, nil, es.URL)
			res, body := do(t, "GET", front+"/_security/_authenticate", "", "Authorization", "Basic ZXZpbDpldmls")
			if res.StatusCode != 200 {
				t.Fatalf("status %d: %s", res.StatusCode, body)
			}
			var who struct {
				Username string `json:"username"`
				Type     string `json:"authentication_type"`
			}
			json.Unmarshal([]byte(body), &who)
			if who.Username != tt.wantUser || who.Type != tt.wantType {
				t.Errorf("got user %q type %q; expected %q %q", who.Username, who.Type, tt.wantUser, tt.wantType)
			}
			if g := res.Header.Get("X-Elastic-Product"); g != "Elasticsearch" {
				t.Errorf("X-Elastic-Product = %q", g)
			}
		})
	}
}

// TestMutualTLSWithAPIKey: a cluster that requires client certificates
// at the TLS layer gets esgate's certificate, and the API key still
// decides who the request runs as.
func TestMutualTLSWithAPIKey(t *testing.T) {
	es, ca := esserver.StartT(t, esserver.Options{RequireClientCert: true})
	es.AddUser("logstash_internal", "s3cret-pw", "superuser")
	_, _, key := es.CreateAPIKey("logstash_internal", "publish", 0, nil)
	leaf, err := es.CA.Issue("logstash-host", "ec", pki.Client())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "c.crt"), filepath.Join(dir, "c.key")
	if err := leaf.WriteFiles(certFile, keyFile, "pkcs8", ""); err != nil {
		t.Fatal(err)
	}
	enc, _ := auth.ParseAPIKey(key)
	front, _ := sandwich(t, certs.Options{CAFiles: []string{ca}, CertFile: certFile, KeyFile: keyFile}, auth.APIKey(enc), nil, es.URL)
	res, body := do(t, "GET", front+"/_security/_authenticate", "")
	if !strings.Contains(body, `"username":"logstash_internal"`) || !strings.Contains(body, `"authentication_type":"api_key"`) {
		t.Errorf("status %d: %s; expected logstash_internal by API key", res.StatusCode, body)
	}
	// Without the certificate the cluster refuses the connection.
	bare, _ := sandwich(t, certs.Options{CAFiles: []string{ca}}, auth.APIKey(enc), nil, es.URL)
	if res, body := do(t, "GET", bare+"/_security/_authenticate", ""); res.StatusCode != 502 || !strings.Contains(body, "certificate required") {
		t.Errorf("without a client certificate: status %d %s; expected 502 naming the missing certificate", res.StatusCode, body)
	}
}

// TestClientAuthorizationIsReplaced checks the header ES receives.
func TestClientAuthorizationIsReplaced(t *testing.T) {
	es, ca := esserver.StartT(t, esserver.Options{})
	var got atomic.Value
	es.OnRequest(func(r *http.Request) { got.Store(r.Header.Values("Authorization")) })
	front, _ := sandwich(t, certs.Options{CAFiles: []string{ca}}, auth.Basic("elastic", "changeme"), nil, es.URL)
	res, _ := do(t, "GET", front+"/", "", "Authorization", "Basic ZXZpbDpldmls", "Proxy-Authorization", "x")
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	vals := got.Load().([]string)
	if len(vals) != 1 || vals[0] != "Basic ZWxhc3RpYzpjaGFuZ2VtZQ==" {
		t.Errorf("upstream Authorization = %q", vals)
	}
}

// TestTrustModes covers CA files and bundles, fingerprint-only trust,
// certificate mode against a wrong host name, and refusals.
func TestTrustModes(t *testing.T) {
	es, ca := esserver.StartT(t, esserver.Options{Names: []string{"es.internal", "127.0.0.1"}})
	other, err := pki.NewCA("Some Other CA")
	if err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(t.TempDir(), "bundle.pem")
	caPEM, _ := os.ReadFile(ca)
	os.WriteFile(bundle, append(other.CertPEM(), caPEM...), 0o644)
	otherFile := filepath.Join(t.TempDir(), "other.pem")
	os.WriteFile(otherFile, other.CertPEM(), 0o644)
	fp, _ := certs.ParseFingerprint(es.CAFingerprint())
	wrongFP, _ := certs.ParseFingerprint(other.Fingerprint())
	// The server's certificate names es.internal and 127.0.0.1, not localhost.
	localhostURL := strings.Replace(es.URL, "127.0.0.1", "localhost", 1)
	tests := []struct {
		name     string
		opts     certs.Options
		upstream string
		status   int
		errType  string
		reason   string
	}{
		{"ca file", certs.Options{CAFiles: []string{ca}}, es.URL, 200, "", ""},
		{"bundle", certs.Options{CAFiles: []string{bundle}}, es.URL, 200, "", ""},
		{"fingerprint only", certs.Options{Fingerprints: [][32]byte{fp}}, es.URL, 200, "", ""},
		{"fingerprint and unrelated CA", certs.Options{Fingerprints: [][32]byte{fp}, CAFiles: []string{otherFile}}, es.URL, 200, "", ""},
		{"wrong fingerprint", certs.Options{Fingerprints: [][32]byte{wrongFP}}, es.URL, 502, "esgate_tls_verification_exception", "no presented certificate matches ca_trusted_fingerprint"},
		{"wrong CA", certs.Options{CAFiles: []string{otherFile}}, es.URL, 502, "esgate_tls_verification_exception", "x509: certificate signed by unknown authority"},
		{"system roots refuse self-signed", certs.Options{}, es.URL, 502, "esgate_tls_verification_exception", "set ssl_certificate_authorities"},
		{"full mode wrong host name", certs.Options{CAFiles: []string{ca}}, localhostURL, 502, "esgate_tls_verification_exception", `not valid for "localhost"`},
		{"certificate mode wrong host name", certs.Options{CAFiles: []string{ca}, Mode: certs.VerifyCertificate}, localhostURL, 200, "", ""},
		{"server name override", certs.Options{CAFiles: []string{ca}, ServerName: "es.internal"}, localhostURL, 200, "", ""},
		{"certificate mode still checks the CA", certs.Options{CAFiles: []string{otherFile}, Mode: certs.VerifyCertificate}, es.URL, 502, "esgate_tls_verification_exception", "unknown authority"},
		{"none", certs.Options{Mode: certs.VerifyNone}, localhostURL, 200, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			front, _ := sandwich(t, tt.opts, auth.Basic("elastic", "changeme"), nil, tt.upstream)
			res, body := do(t, "GET", front+"/", "")
			if res.StatusCode != tt.status {
				t.Fatalf("status %d; expected %d: %s", res.StatusCode, tt.status, body)
			}
			if tt.errType == "" {
				return
			}
			e := parseErr(t, body)
			if e.Error.Type != tt.errType || e.Status != tt.status || len(e.Error.RootCause) != 1 {
				t.Errorf("error = %+v", e)
			}
			if !strings.Contains(e.Error.Reason, tt.reason) {
				t.Errorf("reason %q does not contain %q", e.Error.Reason, tt.reason)
			}
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q", ct)
			}
		})
	}
}

// TestImpostorGetsNoRequest: a server with a certificate from another CA is
// refused in the handshake and never sees a request or a credential.
func TestImpostorGetsNoRequest(t *testing.T) {
	_, ca := esserver.StartT(t, esserver.Options{})
	impostor, _ := esserver.StartT(t, esserver.Options{}) // its own, different CA
	var seen atomic.Int64
	impostor.OnRequest(func(*http.Request) { seen.Add(1) })
	front, _ := sandwich(t, certs.Options{CAFiles: []string{ca}}, auth.Basic("elastic", "changeme"), nil, impostor.URL)
	res, body := do(t, "POST", front+"/_bulk", "{\"index\":{\"_index\":\"x\"}}\n{}\n", "Content-Type", "application/json")
	if res.StatusCode != 502 {
		t.Fatalf("status %d: %s", res.StatusCode, body)
	}
	if n := seen.Load(); n != 0 {
		t.Errorf("impostor received %d requests", n)
	}
	if impostor.Stats().Requests != 0 {
		t.Errorf("impostor counted %d requests", impostor.Stats().Requests)
	}
}

// TestTransparency: path and query byte-exact, gzip bodies untouched,
// headers and statuses through, HEAD and chunked bodies.
func TestTransparency(t *testing.T) {
	es, ca := esserver.StartT(t, esserver.Options{})
	var last atomic.Pointer[http.Request]
	es.OnRequest(func(r *http.Request) {
		if r.URL.Path != "/_security/_authenticate" { // esgate's readiness probe
			last.Store(r)
		}
	})
	front, _ := sandwich(t, certs.Options{CAFiles: []string{ca}}, auth.Basic("elastic", "changeme"), nil, es.URL)

	t.Run("bulk with filter_path and gzip", func(t *testing.T) {
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write([]byte("{\"create\":{\"_index\":\"logstash-1\"}}\n{\"message\":\"a\"}\n{\"create\":{\"_index\":\"logstash-1\",\"_id\":\"x\"}}\n{\"message\":\"b\"}\n"))
		zw.Close()
		req, _ := http.NewRequest("POST", front+"/_bulk?filter_path=errors,items.*.error,items.*.status", bytes.NewReader(gz.Bytes()))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Content-Encoding", "gzip")
		req.Header.Set("X-Elastic-Event-Count", "2")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if g, e := string(body), `{"errors":false,"items":[{"create":{"status":201}},{"create":{"status":201}}]}`; g != e {
			t.Errorf("got %s; expected %s", g, e)
		}
		r := last.Load()
		if g, e := r.URL.RequestURI(), "/_bulk?filter_path=errors,items.*.error,items.*.status"; g != e {
			t.Errorf("upstream URI %q; expected %q", g, e)
		}
		if g := r.Header.Get("Content-Encoding"); g != "gzip" {
			t.Errorf("Content-Encoding %q", g)
		}
		if g := r.Header.Get("X-Elastic-Event-Count"); g != "2" {
			t.Errorf("X-Elastic-Event-Count %q", g)
		}
	})
	t.Run("escaped path", func(t *testing.T) {
		// Logstash's ILM bootstrap index: date math, CGI-escaped.
		res, _ := do(t, "GET", front+"/%3Clogstash-%7Bnow%2Fd%7D-000001%3E", "")
		r := last.Load()
		if g, e := r.URL.EscapedPath(), "/%3Clogstash-%7Bnow%2Fd%7D-000001%3E"; g != e {
			t.Errorf("upstream path %q; expected %q", g, e)
		}
		if res.StatusCode != 404 {
			t.Errorf("status %d", res.StatusCode)
		}
	})
	t.Run("HEAD", func(t *testing.T) {
		res, body := do(t, "HEAD", front+"/", "")
		if res.StatusCode != 200 || body != "" || res.Header.Get("X-Elastic-Product") != "Elasticsearch" {
			t.Errorf("HEAD / = %d %q %v", res.StatusCode, body, res.Header)
		}
	})
	t.Run("chunked request body", func(t *testing.T) {
		pr, pw := io.Pipe()
		go func() {
			pw.Write([]byte("{\"index\":{\"_index\":\"logstash-2\"}}\n"))
			pw.Write([]byte("{\"m\":1}\n"))
			pw.Close()
		}()
		req, _ := http.NewRequest("POST", front+"/_bulk", pr)
		req.Header.Set("Content-Type", "application/x-ndjson")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 || es.Count("logstash-2") != 1 {
			t.Errorf("status %d count %d", res.StatusCode, es.Count("logstash-2"))
		}
	})
	t.Run("406 passes through", func(t *testing.T) {
		res, body := do(t, "POST", front+"/_bulk", "x\n", "Content-Type", "text/plain")
		if g, e := body, `{"error":"Content-Type header [text/plain] is not supported","status":406}`; res.StatusCode != 406 || g != e {
			t.Errorf("got %d %s", res.StatusCode, body)
		}
	})
}

// Test401PassesThrough: ES's 401 and its three WWW-Authenticate headers
// reach the client unchanged.
func Test401PassesThrough(t *testing.T) {
	for _, ver := range []string{"8.13.4", "8.15.3"} {
		t.Run(ver, func(t *testing.T) {
			es, ca := esserver.StartT(t, esserver.Options{Version: ver})
			front, _ := sandwich(t, certs.Options{CAFiles: []string{ca}}, auth.Basic("elastic", "wrong"), nil, es.URL)
			res, body := do(t, "GET", front+"/", "")
			if res.StatusCode != 401 {
				t.Fatalf("status %d", res.StatusCode)
			}
			ch := res.Header.Values("WWW-Authenticate")
			if len(ch) != 3 {
				t.Fatalf("WWW-Authenticate = %q", ch)
			}
			schemes := map[string]string{}
			for _, c := range ch {
				s, params, _ := strings.Cut(c, " ")
				schemes[s] = params
			}
			if !strings.Contains(schemes["Basic"], `realm="security"`) || !strings.Contains(schemes["Bearer"], `realm="security"`) {
				t.Errorf("challenges %q", ch)
			}
			if _, ok := schemes["ApiKey"]; !ok {
				t.Errorf("no ApiKey challenge in %q", ch)
			}
			e := parseErr(t, body)
			if e.Error.Reason != "unable to authenticate user [elastic] for REST request [/]" {
				t.Errorf("reason %q", e.Error.Reason)
			}
		})
	}
}

// TestFailover: dead first, dead last, all dead.
func TestFailover(t *testing.T) {
	es, ca := esserver.StartT(t, esserver.Options{})
	dead := deadAddr(t)
	tests := []struct {
		name   string
		hosts  []string
		status []int // for consecutive requests
	}{
		{"dead first", []string{dead, es.URL}, []int{200, 200, 200}},
		{"dead last", []string{es.URL, dead}, []int{200, 200, 200}},
		{"all dead", []string{dead, deadAddr(t)}, []int{502, 503, 503}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			front, p := sandwich(t, certs.Options{CAFiles: []string{ca}}, auth.Basic("elastic", "changeme"),
				func(o *proxy.Options) { o.ResurrectDelay = time.Hour }, tt.hosts...)
			for i, want := range tt.status {
				// A body must survive the retry on another host.
				res, body := do(t, "POST", front+"/_bulk", "{\"index\":{\"_index\":\"logstash-f\"}}\n{\"n\":1}\n", "Content-Type", "application/json")
				if res.StatusCode != want {
					t.Fatalf("request %d: status %d; expected %d: %s", i, res.StatusCode, want, body)
				}
				if want >= 500 {
					e := parseErr(t, body)
					wantType := map[int]string{502: "esgate_connect_exception", 503: "esgate_no_living_hosts_exception"}[want]
					if e.Error.Type != wantType || e.Status != want {
						t.Errorf("error %+v; expected type %s", e, wantType)
					}
				}
			}
			alive := 0
			for _, h := range p.Hosts() {
				if h.Alive() {
					alive++
				}
			}
			if tt.name != "all dead" && alive != 1 {
				t.Errorf("%d hosts alive; expected 1", alive)
			}
		})
	}
}

// TestResurrection: a dead host that comes back is health-checked and used again.
func TestResurrection(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(ca, sharedCA.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	upstream := deadAddr(t)
	front, p := sandwich(t, certs.Options{CAFiles: []string{ca}}, auth.Basic("elastic", "changeme"), nil, upstream)
	if res, _ := do(t, "GET", front+"/", ""); res.StatusCode != 502 {
		t.Fatalf("status %d", res.StatusCode)
	}
	if p.Hosts()[0].Alive() {
		t.Fatal("host should be dead")
	}
	if res, _ := do(t, "GET", front+"/", ""); res.StatusCode != 503 {
		t.Fatalf("status %d; expected 503 while the only host is dead", res.StatusCode)
	}
	es, err := esserver.Start(esserver.Options{Addr: strings.TrimPrefix(upstream, "https://"), CA: sharedCA, PasswordHashing: "bcrypt4"})
	if err != nil {
		t.Skipf("could not listen on the freed port again: %v", err)
	}
	defer es.Close()
	deadline := time.Now().Add(catchHang)
	for !p.Hosts()[0].Alive() {
		if time.Now().After(deadline) {
			t.Fatal("host not resurrected")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if res, body := do(t, "GET", front+"/", ""); res.StatusCode != 200 {
		t.Fatalf("status %d: %s", res.StatusCode, body)
	}
}

// sharedCA lets a test start a second server trusted by the same CA file.
var sharedCA = func() *pki.CA {
	ca, err := pki.NewCA("Elasticsearch security auto-configuration HTTP CA")
	if err != nil {
		panic(err)
	}
	return ca
}()

func deadAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := l.Addr().String()
	l.Close()
	return "https://" + a
}

// TestTimeouts: response-header timeout is 504; a mid-response close after
// headers aborts the client's response rather than inventing one.
func TestTimeouts(t *testing.T) {
	es, ca := esserver.StartT(t, esserver.Options{})
	// An API key (SHA-256) rather than a password (bcrypt, slow under -race).
	_, _, key := es.CreateAPIKey("elastic", "k", 0, nil)
	front, _ := sandwich(t, certs.Options{CAFiles: []string{ca}}, auth.APIKey(key),
		func(o *proxy.Options) { o.ResponseHeaderTimeout = 200 * time.Millisecond }, es.URL)
	// The host holds its answer until the request ends: the 504 is the
	// header timeout's whatever the machine's load.
	es.AddFault(esserver.Fault{PathContains: "_bulk", Delay: catchHang, Count: 1})
	res, body := do(t, "POST", front+"/_bulk", "{\"index\":{\"_index\":\"logstash-t\"}}\n{}\n", "Content-Type", "application/json")
	if e := parseErr(t, body); res.StatusCode != 504 || e.Error.Type != "esgate_timeout_exception" {
		t.Errorf("status %d body %s", res.StatusCode, body)
	}

	// A route whose header timeout only catches hangs, so that the answer's
	// head surely arrives before the host cuts it.
	front, _ = sandwich(t, certs.Options{CAFiles: []string{ca}}, auth.APIKey(key),
		func(o *proxy.Options) { o.ResponseHeaderTimeout = catchHang }, es.URL)
	es.AddFault(esserver.Fault{PathContains: "_bulk", CloseMidResponse: true, Count: 1})
	req, _ := http.NewRequest("POST", front+"/_bulk", strings.NewReader("{\"index\":{\"_index\":\"logstash-t\"}}\n{}\n"))
	req.Header.Set("Content-Type", "application/json")
	r2, err := http.DefaultClient.Do(req)
	if err == nil {
		_, err = io.ReadAll(r2.Body)
		r2.Body.Close()
	}
	if err == nil {
		t.Errorf("a truncated upstream response reached the client as complete (status %d)", r2.StatusCode)
	}
}

// TestMaxBodySize: 413 in ES's shape, before contacting Elasticsearch.
func TestMaxBodySize(t *testing.T) {
	es, ca := esserver.StartT(t, esserver.Options{})
	front, _ := sandwich(t, certs.Options{CAFiles: []string{ca}}, auth.Basic("elastic", "changeme"),
		func(o *proxy.Options) { o.MaxBodySize = 1024 }, es.URL)
	var bulks atomic.Int64
	es.OnRequest(func(r *http.Request) {
		if strings.Contains(r.URL.Path, "_bulk") {
			bulks.Add(1)
		}
	})
	res, body := do(t, "POST", front+"/_bulk", strings.Repeat("x", 2048), "Content-Type", "application/json")
	if e := parseErr(t, body); res.StatusCode != 413 || e.Error.Type != "esgate_content_too_long_exception" || e.Status != 413 {
		t.Errorf("status %d body %s", res.StatusCode, body)
	}
	if bulks.Load() != 0 {
		t.Error("oversized request reached Elasticsearch")
	}
	// Chunked: discovered while streaming.
	pr, pw := io.Pipe()
	go func() { pw.Write(bytes.Repeat([]byte("y"), 4096)); pw.Close() }()
	req, _ := http.NewRequest("POST", front+"/_bulk", pr)
	req.Header.Set("Content-Type", "application/json")
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := io.ReadAll(r2.Body)
	r2.Body.Close()
	if r2.StatusCode != 413 {
		t.Errorf("chunked: status %d body %s", r2.StatusCode, b2)
	}
}

// TestPathPrefixAndHeaders: a host with a path prefix gets it prepended;
// unknown response headers and the status pass through; hop-by-hop and
// forwarding headers from the client do not reach Elasticsearch.
func TestPathPrefixAndHeaders(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.crt")
	os.WriteFile(ca, sharedCA.CertPEM(), 0o644)
	leaf, _ := sharedCA.Issue("es", "ec")
	var got atomic.Pointer[http.Request]
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/es/_security/_authenticate" { // esgate's readiness probe
			got.Store(r)
		}
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.Header().Set("X-Custom-Reply", "kept")
		w.Header().Add("Warning", `299 Elasticsearch-8.15.3 "deprecated"`)
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"ok":true}`))
	}))
	up.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLSCertificate()}}
	up.StartTLS()
	defer up.Close()
	front, _ := sandwich(t, certs.Options{CAFiles: []string{ca}}, auth.APIKey("aWQ6a2V5"),
		func(o *proxy.Options) { o.CustomHeaders = map[string]string{"X-Opaque-Id": "esgate-test"} }, up.URL+"/es")
	res, body := do(t, "PUT", front+"/logstash-1/_doc/1?refresh=true&pipeline=a%2Fb", `{"a":1}`,
		"Content-Type", "application/json", "X-Forwarded-For", "10.0.0.1", "Connection", "X-Drop", "X-Drop", "1",
		"Proxy-Authorization", "Basic eDp5", "Expect", "100-continue", "Te", "trailers")
	if res.StatusCode != 201 || body != `{"ok":true}` || res.Header.Get("X-Custom-Reply") != "kept" || res.Header.Get("Warning") == "" {
		t.Fatalf("response %d %q %v", res.StatusCode, body, res.Header)
	}
	r := got.Load()
	if g, e := r.URL.RequestURI(), "/es/logstash-1/_doc/1?refresh=true&pipeline=a%2Fb"; g != e {
		t.Errorf("upstream URI %q; expected %q", g, e)
	}
	for _, h := range []string{"X-Forwarded-For", "X-Drop", "Proxy-Authorization", "Expect"} {
		if v := r.Header.Get(h); v != "" {
			t.Errorf("%s reached upstream: %q", h, v)
		}
	}
	if g := r.Header.Get("Authorization"); g != "ApiKey aWQ6a2V5" {
		t.Errorf("Authorization %q", g)
	}
	if g := r.Header.Get("X-Opaque-Id"); g != "esgate-test" {
		t.Errorf("custom header %q", g)
	}
	if g := r.Header.Get("Content-Type"); g != "application/json" {
		t.Errorf("Content-Type %q", g)
	}
}
