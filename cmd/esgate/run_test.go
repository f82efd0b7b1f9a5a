package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"golang.org/x/crypto/bcrypt"

	"github.com/esgate/esgate/auth/frontdoor"
	"github.com/esgate/esgate/test/esserver"
	"github.com/esgate/esgate/test/pki"
)

func TestRunUsage(t *testing.T) {
	t.Setenv("JOB_COMPLETION_INDEX", "")
	for _, tt := range []struct {
		args []string
		code int
		out  string
	}{
		{nil, exitUsage, "Usage:"},
		{[]string{"version"}, exitOK, "esgate dev"},
		{[]string{"help"}, exitOK, "esgate serve"},
		{[]string{"nope"}, exitUsage, `error: unknown command "nope"`},
		{[]string{"serv"}, exitUsage, `error: unknown command "serv" (did you mean serve?)`},
		{[]string{"bootstarp"}, exitUsage, `error: unknown command "bootstarp" (did you mean bootstrap?)`},
		{[]string{"--version"}, exitOK, "esgate dev"},
		{[]string{"probe", "--api-key", "a:b"}, exitUsage, "error: --api-key is not a flag of esgate probe: esgate bootstrap, esgate check, esgate load and esgate serve take it (credential)"},
		{[]string{"check", "--allowed-origins", "*"}, exitUsage, "error: --allowed-origins is not a flag of esgate check: esgate serve takes it (policy)"},
		{[]string{"serve", "extra"}, exitUsage, "error: unexpected arguments: extra"},
		{[]string{"serve", "--api-key", "a:b"}, exitUsage, "error: hosts: required"},
		{[]string{"check", "--hosts", "https://127.0.0.1:1", "--api-key", "a:b", "--connect-timeout", "1s"}, exitFailed, "error: 1 host(s) failed the check"},
		// load's shard and report errors name the flag and the fix.
		{[]string{"load", "--shard", "4/4"}, exitUsage, "error: --shard: want I/N with 0 <= I < N"},
		{[]string{"load", "--shard", "/4"}, exitUsage, "takes I from JOB_COMPLETION_INDEX, which is not set"},
		{[]string{"load", "--shard", "0/4"}, exitUsage, "error: --run-id: needed with --shard N>1"},
		{[]string{"load", "--shard", "0/4", "--run-id", "r", "--clients", "2"}, exitUsage, "2 clients cannot be split between 4 shards"},
		{[]string{"load", "--start-at", "tomorrow"}, exitUsage, "error: --start-at: want an RFC 3339 time"},
		{[]string{"load", "--output", "xml"}, exitUsage, "error: --output: want text, json or records"},
		{[]string{"load", "report"}, exitUsage, "name the records: files, directories, or -"},
		{[]string{"load", "report", "--output", "records", "x"}, exitUsage, "error: --output: want text or json"},
	} {
		var out bytes.Buffer
		code := run(context.Background(), tt.args, &out, &out)
		if code != tt.code || !strings.Contains(out.String(), tt.out) {
			t.Errorf("%v: code %d output %q; expected %d and %q", tt.args, code, out.String(), tt.code, tt.out)
		}
	}
}

// TestRunServeUntilCanceled runs serve in-process and stops it through its
// context, the way a supervisor embedding it would.
// catchHang bounds the waits for esgate to start answering: only a hang
// reaches it (a starved machine can take many seconds to start esgate, and
// a keystore's key derivation is slow on purpose).
const catchHang = 3 * time.Minute

// retry calls f every 10 ms until it succeeds or catchHang passes, and
// returns its last error.
func retry(f func() error) error {
	deadline := time.Now().Add(catchHang)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRunServeUntilCanceled(t *testing.T) {
	es, ca := esserver.StartT(t, esserver.Options{})
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"serve", "--status-listen", "off", "--listen", addr, "--hosts", es.URL, "--ssl-certificate-authorities", ca, "--user", "elastic", "--password", "changeme"}, io.Discard, io.Discard)
	}()
	var res *http.Response
	err := retry(func() (err error) { res, err = http.Get("http://" + addr + "/"); return err })
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("status %d", res.StatusCode)
	}
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("exit %d", code)
		}
	case <-time.After(time.Minute): // a hang catcher
		t.Fatal("serve did not stop")
	}
}

// TestPprofHidesCommandLine: /debug/pprof/cmdline would print an inline
// --password or --api-key; the status listener does not serve it.
func TestPprofHidesCommandLine(t *testing.T) {
	srv := httptest.NewServer(statusHandler(prometheus.NewRegistry(), nil, true))
	defer srv.Close()
	for path, want := range map[string]int{"/debug/pprof/cmdline": 404, "/debug/pprof/goroutine?debug=1": 200} {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("%s: %d; expected %d", path, res.StatusCode, want)
		}
		if strings.Contains(string(b), strings.Join(os.Args, "\x00")) {
			t.Errorf("%s shows the command line", path)
		}
	}
}

// TestManagedKeyRoutes: with api_key_management, serve whose minting
// credential Elasticsearch refuses fails at once naming the cause (it used
// to deadlock: the mint's 401 re-entered the key manager through the
// forwarding hook), and check reports on the minting credential (it used
// to probe with the placeholder and always report 401).
func TestManagedKeyRoutes(t *testing.T) {
	es, ca := esserver.StartT(t, esserver.Options{})
	es.PutRole("minter", esserver.Role{Cluster: []string{"monitor", "manage_own_api_key"}})
	es.AddUser("logstash_internal", "right-password", "minter")
	base := []string{"--hosts", es.URL, "--ssl-certificate-authorities", ca, "--api-key-management"}
	// The minting credential is an API key Elasticsearch has invalidated:
	// its 401 names an API key problem, which the forwarding hook acts on.
	_, _, revoked := es.CreateAPIKey("logstash_internal", "revoked-minter", 0, nil)
	es.InvalidateAPIKeysNamed("revoked-minter")

	ctx, cancel := context.WithTimeout(context.Background(), catchHang)
	defer cancel()
	var out bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--status-listen", "off", "--listen", "127.0.0.1:0", "--api-key", revoked}, base...), &out, &out)
	}()
	var code int
	select {
	case code = <-done:
	case <-time.After(catchHang + time.Minute):
		t.Fatal("serve hung with a refused minting credential")
	}
	if code != exitFailed || !strings.Contains(out.String(), "api_key_management") || !strings.Contains(out.String(), "401") {
		t.Errorf("serve: code %d, output %q; expected a failure naming api_key_management and the 401", code, out.String())
	}

	out.Reset()
	code = run(ctx, append([]string{"check", "--user", "logstash_internal", "--password", "right-password"}, base...), &out, &out)
	if code != exitOK || !strings.Contains(out.String(), `user "logstash_internal"`) {
		t.Errorf("check: code %d, output %q; expected the minting user authenticated", code, out.String())
	}
}

// TestProbe: esgate probe against a live esgate that is ready, one whose
// credential Elasticsearch refuses (not ready), and nothing listening.
func TestProbe(t *testing.T) {
	es, ca := esserver.StartT(t, esserver.Options{})
	statusAddr := func() string {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		defer l.Close()
		return l.Addr().String()
	}
	start := func(password string) (string, func()) {
		addr := statusAddr()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan int)
		go func() {
			done <- run(ctx, []string{"serve", "--status-listen", addr, "--listen", "127.0.0.1:0", "--resurrect-delay", "100ms",
				"--hosts", es.URL, "--ssl-certificate-authorities", ca, "--user", "elastic", "--password", password}, io.Discard, io.Discard)
		}()
		return addr, func() { cancel(); <-done }
	}
	probe := func(args ...string) (int, string) {
		var out bytes.Buffer
		code := run(context.Background(), append([]string{"probe"}, args...), &out, &out)
		return code, out.String()
	}
	// waitCode probes until the exit code is want and the output holds
	// say (esgate starts in the background; readiness follows its checks).
	waitCode := func(want int, say string, args ...string) {
		t.Helper()
		var code int
		var out string
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if code, out = probe(args...); code == want && strings.Contains(out, say) {
				return
			}
		}
		t.Fatalf("probe %v: exit %d %q; expected %d and %q", args, code, out, want, say)
	}

	addr, stop := start("changeme")
	waitCode(exitOK, "ok", "--status-listen", addr)
	waitCode(exitOK, "ok", "--status-listen", addr, "--live")
	stop()

	addr, stop = start("wrong-password")
	defer stop()
	waitCode(exitFailed, "refuses the credentials (401)", "--status-listen", addr) // the route's reason
	waitCode(exitOK, "ok", "--status-listen", addr, "--live")                      // alive all the same

	if code, out := probe("--status-listen", statusAddr()); code != exitFailed || !strings.Contains(out, "is esgate running") {
		t.Errorf("nothing listening: exit %d %q", code, out)
	}
	if code, _ := probe("--status-listen", "nonsense"); code != exitUsage {
		t.Errorf("bad address: exit %d", code)
	}
}

// TestSystemdNotify: under systemd (a fake NOTIFY_SOCKET here) serve says
// READY=1 once every route listens, and STOPPING=1 when it drains.
func TestSystemdNotify(t *testing.T) {
	es, ca := esserver.StartT(t, esserver.Options{})
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"serve", "--status-listen", "off", "--listen", addr, "--hosts", es.URL,
			"--ssl-certificate-authorities", ca, "--user", "elastic", "--password", "changeme"}, io.Discard, io.Discard)
	}()
	next := func() string {
		t.Helper()
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 256)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		return string(buf[:n])
	}
	if msg := next(); !strings.HasPrefix(msg, "READY=1") {
		t.Fatalf("first notification %q; expected READY=1", msg)
	}
	// Ready means listening: a request gets through at once.
	res, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatalf("READY=1 before listening: %v", err)
	}
	res.Body.Close()
	cancel()
	if msg := next(); msg != "STOPPING=1" {
		t.Errorf("on shutdown %q; expected STOPPING=1", msg)
	}
	<-done
}

// TestMigrateEndToEnd: a Logstash pipeline pointed at a secured cluster is
// migrated in place (with a backup); esgate serves the written config, and
// the rewritten output's URL carries a bulk to the cluster.
func TestMigrateEndToEnd(t *testing.T) {
	es, ca := esserver.StartT(t, esserver.Options{})
	_, _, key := es.CreateAPIKey("elastic", "ls", 0, nil)
	dir := t.TempDir()
	pipeline := filepath.Join(dir, "logstash.conf")
	orig := `input { generator { count => 1 } }
output {
  elasticsearch {
    hosts => ["` + es.URL + `"]
    api_key => "` + key + `"
    ssl_certificate_authorities => "` + ca + `"
    index => "migrated"
  }
}
`
	os.WriteFile(pipeline, []byte(orig), 0o644)
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	out := filepath.Join(dir, "esgate.yml")
	ks := filepath.Join(dir, "esgate.keystore")
	t.Setenv("ESGATE_KEYSTORE_PASS", "ks-pass")
	var buf bytes.Buffer
	if code := run(context.Background(), []string{"migrate", "--config-out", out, "--in-place", "--keystore", ks, "--first-port", strconv.Itoa(port), pipeline}, &buf, &buf); code != exitOK {
		t.Fatalf("migrate: exit %d: %s", code, buf.String())
	}
	if b, _ := os.ReadFile(pipeline + ".bak"); string(b) != orig {
		t.Error("no faithful backup")
	}
	rewritten, _ := os.ReadFile(pipeline)
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	if !strings.Contains(string(rewritten), `hosts => ["`+url+`"]`) || strings.Contains(string(rewritten), key) || !strings.Contains(string(rewritten), `index => "migrated"`) {
		t.Fatalf("rewritten pipeline:\n%s", rewritten)
	}
	// The literal key moved into the keystore; the config references it.
	if cfgText, _ := os.ReadFile(out); strings.Contains(string(cfgText), key) || !strings.Contains(string(cfgText), "${ESGATE_OUTPUT_1_API_KEY}") {
		t.Errorf("config:\n%s", cfgText)
	}
	if fi, _ := os.Stat(out); fi.Mode().Perm() != 0o600 {
		t.Errorf("config mode %v", fi.Mode().Perm())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"serve", "--config", out, "--status-listen", "off"}, io.Discard, io.Discard)
	}()
	defer func() { cancel(); <-done }()
	var res *http.Response
	err := retry(func() (err error) {
		res, err = http.Post(url+"/_bulk", "application/x-ndjson", strings.NewReader("{\"index\":{\"_index\":\"migrated\"}}\n{\"m\":1}\n"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || es.Count("migrated") != 1 {
		t.Errorf("bulk through the migrated route: %d, %d documents", res.StatusCode, es.Count("migrated"))
	}
}

// TestFrontDoor: routes on listeners with TLS that authenticate their
// clients (mutual TLS limited to a name; Basic against a bcrypt hash; a
// bearer token stored as its hash), each client on its own route with its
// own cluster credential; missing or wrong credentials get 401 with
// WWW-Authenticate, an address that keeps failing gets 429, through real
// sockets.
func TestFrontDoor(t *testing.T) {
	es, esCA := esserver.StartT(t, esserver.Options{})
	_, _, key := es.CreateAPIKey("elastic", "remote-ls", 0, nil)
	dir := t.TempDir()
	ca, _ := pki.NewCA("esgate clients and listener")
	srv, _ := ca.Issue("esgate", "ec")
	srvCert, srvKey := filepath.Join(dir, "srv.crt"), filepath.Join(dir, "srv.key")
	srv.WriteFiles(srvCert, srvKey, "pkcs8", "")
	caFile := filepath.Join(dir, "ca.crt")
	os.WriteFile(caFile, ca.CertPEM(), 0o644)
	good, _ := ca.Issue("ls-remote", "ec", pki.Client())
	other, _ := ca.Issue("someone-else", "ec", pki.Client())
	hash, _ := bcrypt.GenerateFromPassword([]byte("alice-pw"), 4)
	free := func() string {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		defer l.Close()
		return l.Addr().String()
	}
	mtlsAddr, pwAddr, tokAddr := free(), free(), free()
	_, _, tokKey := es.CreateAPIKey("elastic", "token-route", 0, nil)
	cfgFile := filepath.Join(dir, "esgate.yml")
	os.WriteFile(cfgFile, []byte(fmt.Sprintf(`hosts: [%q]
ssl_certificate_authorities: [%q]
listen_ssl_certificate: %q
listen_ssl_key: %q
status_listen: "off"
routes:
  - name: mtls
    listen: %q
    api_key: %q
    listen_ssl_client_ca: [%q]
    client_allowed_names: [ls-remote]
  - name: passwords
    listen: %q
    user: elastic
    password: changeme
    client_basic_users: ["alice:%s"]
  - name: tokens
    listen: %q
    api_key: %q
    client_bearer_tokens: ["bob:%s"]
`, es.URL, esCA, srvCert, srvKey, mtlsAddr, key, caFile, pwAddr, hash, tokAddr, tokKey, frontdoor.HashToken("bob-token"))), 0o600)
	ctx, cancel := context.WithCancel(context.Background())
	var out syncWriter
	done := make(chan int)
	go func() { done <- run(ctx, []string{"serve", "--config", cfgFile}, &out, &out) }()
	defer func() { cancel(); <-done }()

	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	client := func(cert *pki.Leaf) *http.Client {
		tc := &tls.Config{RootCAs: pool}
		if cert != nil {
			tc.Certificates = []tls.Certificate{cert.TLSCertificate()}
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}}
	}
	who := func(c *http.Client, addr string, hdr ...string) (int, string, http.Header) {
		t.Helper()
		req, _ := http.NewRequest("GET", "https://"+addr+"/_security/_authenticate", nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		var res *http.Response
		err := retry(func() (err error) { res, err = c.Do(req); return err })
		if err != nil {
			t.Fatalf("%s: %v\n%s", addr, err, out.String())
		}
		defer res.Body.Close()
		var v struct {
			Username string `json:"username"`
			APIKey   *struct {
				Name string `json:"name"`
			} `json:"api_key"`
		}
		json.NewDecoder(res.Body).Decode(&v)
		if v.APIKey != nil {
			return res.StatusCode, "api_key:" + v.APIKey.Name, res.Header
		}
		return res.StatusCode, v.Username, res.Header
	}
	if code, user, _ := who(client(good), mtlsAddr); code != 200 || user != "api_key:remote-ls" {
		t.Errorf("mtls route, allowed certificate: %d as %q", code, user)
	}
	if code, _, _ := who(client(other), mtlsAddr); code != 401 {
		t.Errorf("mtls route, a certificate not in client_allowed_names: %d", code)
	}
	if code, _, _ := who(client(nil), mtlsAddr); code != 401 {
		t.Errorf("mtls route, no certificate: %d", code)
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:alice-pw"))
	if code, user, _ := who(client(nil), pwAddr, "Authorization", basic); code != 200 || user != "elastic" {
		t.Errorf("password route, alice: %d as %q", code, user)
	}
	if code, user, _ := who(client(nil), tokAddr, "Authorization", "Bearer bob-token"); code != 200 || user != "api_key:token-route" {
		t.Errorf("token route, bob's token: %d as %q", code, user)
	}
	// Each client reaches only its own route.
	if code, _, _ := who(client(nil), pwAddr, "Authorization", "Bearer bob-token"); code != 401 {
		t.Errorf("password route, bob's token: %d", code)
	}
	if code, _, _ := who(client(nil), tokAddr, "Authorization", basic); code != 401 {
		t.Errorf("token route, alice's password: %d", code)
	}
	if code, _, _ := who(client(good), tokAddr); code != 401 {
		t.Errorf("token route, the mtls client's certificate: %d", code)
	}
	if code, _, h := who(client(nil), pwAddr); code != 401 || !strings.Contains(h.Get("WWW-Authenticate"), `Basic realm="esgate"`) {
		t.Errorf("password route, nothing: %d %q", code, h.Get("WWW-Authenticate"))
	}
	if code, _, _ := who(client(good), pwAddr); code != 401 {
		t.Errorf("password route, a client certificate only: %d", code)
	}
	wrong := "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:guess"))
	codes := map[int]int{}
	for i := 0; i < 12; i++ {
		code, _, _ := who(client(nil), pwAddr, "Authorization", wrong)
		codes[code]++
	}
	if codes[401] != 9 || codes[429] != 3 { // asking without credentials is no failed login; bob's token above was one
		t.Errorf("wrong passwords: %v; expected 401 until ten failures, then 429", codes)
	}
	if strings.Contains(out.String(), "alice-pw") || strings.Contains(out.String(), "bob-token") {
		t.Error("a client secret reached esgate's output")
	}
}

type syncWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// TestInternalIssuer: with listen_ssl_issuer internal, esgate creates its
// own CA, writes its root, and serves a certificate it issued (through
// certmagic); curl trusting that root connects and is forwarded.
func TestInternalIssuer(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		if os.Getenv("ESGATE_REQUIRE_CLIENTS") != "" {
			t.Fatal("curl is required")
		}
		t.Skip("curl not installed")
	}
	es, ca := esserver.StartT(t, esserver.Options{})
	storage := t.TempDir()
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var out syncWriter
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"serve", "--status-listen", "off", "--listen", fmt.Sprintf("127.0.0.1:%d", port),
			"--hosts", es.URL, "--ssl-certificate-authorities", ca, "--user", "elastic", "--password", "changeme",
			"--listen-ssl-domains", "localhost", "--listen-ssl-issuer", "internal", "--listen-ssl-storage", storage,
			"--client-bearer-tokens", "loader:" + frontdoor.HashToken("load-token")}, &out, &out)
	}()
	defer func() { cancel(); <-done }()
	root := filepath.Join(storage, "esgate-internal-root.crt")
	var code string
	retry(func() error {
		b, err := exec.Command(curl, "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", root,
			"--resolve", fmt.Sprintf("localhost:%d:127.0.0.1", port), "-H", "Authorization: Bearer load-token",
			fmt.Sprintf("https://localhost:%d/", port)).CombinedOutput()
		code = string(b)
		return err
	})
	if code != "200" {
		t.Fatalf("curl: %q\n%s", code, out.String())
	}
	if fi, err := os.Stat(filepath.Join(storage, "esgate-internal-root.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the internal CA's key: %v %v", fi, err)
	}
}
