package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/esgate/esgate/test/esserver"
	"github.com/esgate/esgate/test/pki"
)

var esgateBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "esgate-e2e-")
	if err != nil {
		panic(err)
	}
	esgateBin = filepath.Join(dir, "esgate")
	if b := os.Getenv("ESGATE_TEST_BIN"); b != "" {
		// Another build: to measure before and after a change, or one
		// made before the machine was made busy (make test-busy).
		esgateBin = b
	} else {
		build := exec.Command("go", "build", "-o", esgateBin, "github.com/esgate/esgate/cmd/esgate")
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building esgate:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// syncBuffer collects a process's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proc is a running esgate.
type proc struct {
	cmd   *exec.Cmd
	out   *syncBuffer
	URL   string
	addr  string
	done  chan error
	ready readyFile // what --ready-file said (startEsgate)
	// readyPath is the --ready-file.
	readyPath string
}

func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startEsgate runs `esgate serve args… --listen <free>` and waits until it
// accepts connections. secrets must never appear in its output.
func startEsgate(t testing.TB, secrets []string, args ...string) *proc {
	t.Helper()
	return startEsgateAt(t, freePort(t), secrets, args...)
}

// startEsgateAt is startEsgate listening on addr. It waits for esgate's
// --ready-file, which gives the status listener's bound address.
func startEsgateAt(t testing.TB, addr string, secrets []string, args ...string) *proc {
	t.Helper()
	p := &proc{out: &syncBuffer{}, addr: addr, URL: "http://" + addr, done: make(chan error, 1)}
	readyFile := filepath.Join(t.TempDir(), "ready.json")
	p.cmd = exec.Command(esgateBin, append([]string{"serve", "--listen", addr, "--log-level", "debug", "--status-listen", "127.0.0.1:0",
		"--ready-file", readyFile}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		for _, s := range secrets {
			if s != "" && strings.Contains(p.out.String(), s) {
				t.Errorf("a secret appears in esgate's output:\n%s", p.out.String())
			}
		}
		if t.Failed() {
			t.Logf("esgate output:\n%s", p.out.String())
		}
	})
	p.ready, p.readyPath = waitReadyFile(t, readyFile, p.done, p.out), readyFile
	return p
}

// readyFile is what esgate serve --ready-file writes (cmd/esgate's
// ReadyFile).
type readyFile struct {
	PID    int `json:"pid"`
	Routes []struct {
		Name   string `json:"name"`
		Listen string `json:"listen"`
		URL    string `json:"url"`
	} `json:"routes"`
	Status string `json:"status"`
}

// waitReadyFile waits until esgate has written its ready file (every
// route listens) and returns it; it fails when esgate exits first or
// after catchHang, which only a hang reaches.
func waitReadyFile(t testing.TB, path string, done chan error, out *syncBuffer) readyFile {
	t.Helper()
	deadline := time.Now().Add(catchHang)
	for {
		if b, err := os.ReadFile(path); err == nil {
			var rf readyFile
			if err := json.Unmarshal(b, &rf); err != nil {
				t.Fatalf("ready file %s: %v: %s", path, err, b)
			}
			return rf
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("esgate exited: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("esgate wrote no ready file within %v: %s", catchHang, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// catchHang is how long a test waits for something that must happen
// (esgate starting, a metric moving, a log line) before it calls it a
// hang: generous, so that a machine busy with other work never fails a
// test that would pass on an idle one. It catches hangs only.
const catchHang = 3 * time.Minute

func (p *proc) wait(t testing.TB, d time.Duration) (int, error) {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), nil
		}
		return 0, err
	case <-time.After(d):
		return -1, fmt.Errorf("esgate still running after %s", d)
	}
}

// TestSIGTERMDrainsInFlightBulk: a slow bulk in flight when SIGTERM arrives
// completes with Elasticsearch's answer, new connections are refused
// while it drains, and esgate exits 0.
func TestSIGTERMDrainsInFlightBulk(t *testing.T) {
	es, ca := esserver.StartT(t, esserver.Options{})
	p := startEsgate(t, []string{"changeme"}, "--hosts", es.URL, "--ssl-certificate-authorities", ca,
		"--user", "elastic", "--password", "changeme", "--shutdown-timeout", "5m")
	// Long enough that the drain is seen while the bulk waits; the
	// shutdown timeout is far longer, so only the answer ends the drain.
	es.AddFault(esserver.Fault{PathContains: "_bulk", Delay: 8 * time.Second, Count: 1})
	type result struct {
		status int
		body   string
		err    error
	}
	rc := make(chan result, 1)
	go func() {
		res, err := http.Post(p.URL+"/_bulk", "application/json", strings.NewReader("{\"create\":{\"_index\":\"logstash-drain\"}}\n{\"m\":1}\n"))
		if err != nil {
			rc <- result{err: err}
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		rc <- result{status: res.StatusCode, body: string(b)}
	}()
	waitMetric(t, p, 1, "esgate_requests_in_flight") // the bulk waits on Elasticsearch
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(catchHang); ; time.Sleep(20 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", p.addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("esgate still accepts connections after SIGTERM")
		}
	}
	select {
	case r := <-rc:
		rc <- r
		t.Log("the bulk was answered before the listener was seen closed: the drain was not observed")
	default:
	}
	r := <-rc
	if r.err != nil || r.status != 200 || !strings.Contains(r.body, `"errors":false`) {
		t.Fatalf("in-flight bulk: %d %q %v", r.status, r.body, r.err)
	}
	code, err := p.wait(t, catchHang)
	if err != nil || code != 0 {
		t.Fatalf("exit code %d, %v", code, err)
	}
	// The ready file named this process and its listener, and is gone
	// with it.
	if p.ready.PID != p.cmd.Process.Pid || len(p.ready.Routes) != 1 || p.ready.Routes[0].URL != p.URL || p.ready.Status == "" {
		t.Errorf("ready file %+v; esgate was pid %d on %s", p.ready, p.cmd.Process.Pid, p.URL)
	}
	if _, err := os.Stat(p.readyPath); !os.IsNotExist(err) {
		t.Errorf("the ready file outlives esgate: %v", err)
	}
	if n := es.Count("logstash-drain"); n != 1 {
		t.Errorf("count %d", n)
	}
}

// TestShutdownTimeoutCutsSlowRequests: past shutdown_timeout esgate closes
// what is left and exits anyway. The request waits on a cluster that
// would answer only after ten minutes: esgate exiting at all (within the
// hang catcher) is the shutdown timeout at work, and the cut request gets
// no made-up answer.
func TestShutdownTimeoutCutsSlowRequests(t *testing.T) {
	es, ca := esserver.StartT(t, esserver.Options{})
	p := startEsgate(t, nil, "--hosts", es.URL, "--ssl-certificate-authorities", ca,
		"--user", "elastic", "--password", "changeme", "--shutdown-timeout", "300ms")
	es.AddFault(esserver.Fault{PathContains: "_bulk", Delay: 10 * time.Minute, Count: 1})
	errc := make(chan error, 1)
	go func() {
		res, err := http.Post(p.URL+"/_bulk", "application/json", strings.NewReader("{\"create\":{\"_index\":\"logstash-x\"}}\n{}\n"))
		if err == nil {
			_, err = io.ReadAll(res.Body)
			res.Body.Close()
			if err == nil {
				err = fmt.Errorf("answered %d", res.StatusCode)
			}
		}
		errc <- err
	}()
	waitMetric(t, p, 1, "esgate_requests_in_flight")
	p.cmd.Process.Signal(syscall.SIGTERM)
	code, err := p.wait(t, catchHang)
	if err != nil {
		t.Fatalf("%v: shutdown_timeout 300ms did not end a request Elasticsearch holds for 10 minutes", err)
	}
	if code != 0 {
		t.Errorf("exit code %d after a shutdown cut by shutdown_timeout", code)
	}
	if err := <-errc; err == nil || strings.HasPrefix(err.Error(), "answered") {
		t.Errorf("the cut request: %v; want the connection closed without an answer", err)
	}
}

// TestStream256MB sends 256 MiB up and receives 256 MiB down through esgate
// and checks digests and esgate's peak memory (VmHWM).
func TestStream256MB(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	const size = 256 << 20
	block := make([]byte, 1<<20)
	rng := rand.NewChaCha8([32]byte{1})
	rng.Read(block)
	ca, _ := pki.NewCA("sink CA")
	leaf, _ := ca.Issue("sink", "ec")
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(caFile, ca.CertPEM(), 0o644)
	var upDigest string
	var upBytes int64
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{leaf.TLSCertificate()}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, _ := io.Copy(h, r.Body)
		upBytes, upDigest = n, hex.EncodeToString(h.Sum(nil))
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("down") == "" {
			w.Header().Set("Content-Length", "2")
			w.Write([]byte("{}"))
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(size))
		for i := 0; i < size/len(block); i++ {
			if _, err := w.Write(block); err != nil {
				return
			}
		}
	})}
	go srv.Serve(ln)
	defer srv.Close()
	p := startEsgate(t, nil, "--hosts", "https://"+ln.Addr().String(), "--ssl-certificate-authorities", caFile, "--api-key", "id:key")

	// Up: a 256 MiB chunked body, generated while it streams.
	want := sha256.New()
	pr, pw := io.Pipe()
	go func() {
		for i := 0; i < size/len(block); i++ {
			want.Write(block)
			if _, err := pw.Write(block); err != nil {
				return
			}
		}
		pw.Close()
	}()
	res, err := http.Post(p.URL+"/_bulk", "application/x-ndjson", pr)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || upBytes != size || upDigest != hex.EncodeToString(want.Sum(nil)) {
		t.Fatalf("up: status %d, %d bytes, digest match %v", res.StatusCode, upBytes, upDigest == hex.EncodeToString(want.Sum(nil)))
	}
	// Down: a 256 MiB response.
	res, err = http.Get(p.URL + "/_search?down=1")
	if err != nil {
		t.Fatal(err)
	}
	got, want2 := sha256.New(), sha256.New()
	n, _ := io.Copy(got, res.Body)
	res.Body.Close()
	for i := 0; i < size/len(block); i++ {
		want2.Write(block)
	}
	if n != size || !bytes.Equal(got.Sum(nil), want2.Sum(nil)) {
		t.Fatalf("down: %d bytes, digest match %v", n, bytes.Equal(got.Sum(nil), want2.Sum(nil)))
	}
	hwm := vmHWM(t, p.cmd.Process.Pid)
	t.Logf("esgate peak RSS (VmHWM) after streaming 256 MiB each way: %.1f MiB", float64(hwm)/(1<<20))
	if hwm > 64<<20 {
		t.Errorf("esgate peak RSS %d MiB; must stay well under 64 MiB", hwm>>20)
	}
}

func vmHWM(t testing.TB, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// TestSIGHUPReloadsCredentials: a new API key file is used after SIGHUP; a
// broken one keeps the old key serving.
func TestSIGHUPReloadsCredentials(t *testing.T) {
	es, ca := esserver.StartT(t, esserver.Options{})
	id1, _, enc1 := es.CreateAPIKey("elastic", "one", 0, nil)
	id2, _, enc2 := es.CreateAPIKey("elastic", "two", 0, nil)
	keyFile := filepath.Join(t.TempDir(), "api_key")
	os.WriteFile(keyFile, []byte(enc1+"\n"), 0o600)
	p := startEsgate(t, []string{enc1, enc2}, "--hosts", es.URL, "--ssl-certificate-authorities", ca, "--api-key-file", keyFile)
	whoami := func() string {
		res, err := http.Get(p.URL + "/_security/_authenticate")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var v struct {
			APIKey struct{ ID string } `json:"api_key"`
		}
		json.NewDecoder(res.Body).Decode(&v)
		return v.APIKey.ID
	}
	if g := whoami(); g != id1 {
		t.Fatalf("key %q; expected %q", g, id1)
	}
	os.WriteFile(keyFile, []byte("this is not a key\n"), 0o600)
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitMetric(t, p, 1, "esgate_reloads_total", `result="failure"`)
	if g := whoami(); g != id1 {
		t.Fatalf("after a broken reload: key %q; expected %q", g, id1)
	}
	os.WriteFile(keyFile, []byte(enc2+"\n"), 0o600)
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitMetric(t, p, 1, "esgate_reloads_total", `result="success"`)
	if g := whoami(); g != id2 {
		t.Fatalf("after reload: key %q; expected %q", g, id2)
	}
}

// logRecords reads the JSON records of an esgate run with --log-format
// json: tests look at fields, not at the wording of log sentences.
func logRecords(out string) []map[string]any {
	var recs []map[string]any
	for _, l := range strings.Split(out, "\n") {
		var r map[string]any
		if json.Unmarshal([]byte(l), &r) == nil {
			recs = append(recs, r)
		}
	}
	return recs
}

// waitRecord waits until a JSON log record of p satisfies ok.
func waitRecord(t testing.TB, p *proc, what string, ok func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(catchHang)
	for {
		for _, r := range logRecords(p.out.String()) {
			if ok(r) {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log record with %s in:\n%s", what, p.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// strs is a JSON record's list field as strings.
func strs(v any) []string {
	l, _ := v.([]any)
	var out []string
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

func waitLog(t testing.TB, p *proc, s string) {
	t.Helper()
	deadline := time.Now().Add(catchHang)
	for !strings.Contains(p.out.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in output", s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestUnixSocketListener serves on a unix socket with owner/group permissions.
func TestUnixSocketListener(t *testing.T) {
	es, ca := esserver.StartT(t, esserver.Options{})
	sock := filepath.Join(t.TempDir(), "esgate.sock")
	cmd := exec.Command(esgateBin, "serve", "--status-listen", "off", "--listen", "unix:"+sock, "--hosts", es.URL, "--ssl-certificate-authorities", ca, "--user", "elastic", "--password", "changeme")
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	var res *http.Response
	var err error
	for deadline := time.Now().Add(catchHang); ; time.Sleep(20 * time.Millisecond) {
		if res, err = client.Get("http://esgate/"); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("X-Elastic-Product") != "Elasticsearch" {
		t.Errorf("status %d", res.StatusCode)
	}
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode %v %v", fi.Mode(), err)
	}
}

// TestStartupErrors: config errors exit 2 with one line naming the key.
func TestStartupErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--hosts", "https://x", "--api-key", "a:b", "--listen", "0.0.0.0:9200"}, "error: listen: 0.0.0.0:9200 is not a loopback address"},
		{[]string{"serve", "--hosts", "https://x"}, "error: no credentials: set one of"},
		{[]string{"serve", "--hosts", "https://x", "--api-key", "a:b", "--bogus"}, "unknown flag --bogus (see esgate serve --help)"},
		{[]string{"frobnicate"}, `error: unknown command "frobnicate"`},
	} {
		out, err := exec.Command(esgateBin, tt.args...).CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), tt.want) {
			t.Errorf("%v: exit %v, output %q; expected exit 2 and %q", tt.args, err, out, tt.want)
		}
	}
}

// TestCheckCommand: esgate check reports the cluster, the CA fingerprint
// and the principal, and fails with the cause and fix.
func TestCheckCommand(t *testing.T) {
	es, ca := esserver.StartT(t, esserver.Options{})
	id, _, enc := es.CreateAPIKey("elastic", "check-key", 0, nil)
	out, err := exec.Command(esgateBin, "check", "--hosts", es.URL, "--ca-trusted-fingerprint", es.CAFingerprint(), "--api-key", enc).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, want := range []string{"OK", "cluster:        esgate-test", "Elasticsearch 8.15.3", "CA fingerprint: " + es.CAFingerprint(), `API key id "` + id + `" (name "check-key") of user "elastic"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), enc) {
		t.Error("check printed the API key")
	}
	es.InvalidateAPIKey(id)
	out, err = exec.Command(esgateBin, "check", "--hosts", es.URL, "--ssl-certificate-authorities", ca, "--api-key", enc).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit %v", err)
	}
	if !strings.Contains(string(out), "401 Unauthorized: unable to authenticate with provided credentials and anonymous access is not allowed for this request (API key: api key ["+id+"] has been invalidated): check the credentials") {
		t.Errorf("output:\n%s", out)
	}
	other, _ := pki.NewCA("other")
	otherFile := filepath.Join(t.TempDir(), "other.pem")
	os.WriteFile(otherFile, other.CertPEM(), 0o644)
	out, _ = exec.Command(esgateBin, "check", "--hosts", es.URL, "--ssl-certificate-authorities", otherFile, "--user", "elastic", "--password", "changeme").CombinedOutput()
	if !strings.Contains(string(out), "x509: certificate signed by unknown authority") || !strings.Contains(string(out), "ca_trusted_fingerprint to its SHA-256 fingerprint (the top presented certificate's is "+es.CAFingerprint()+")") {
		t.Errorf("output:\n%s", out)
	}
	out, _ = exec.Command(esgateBin, "check", "--hosts", "https://"+freePort(t), "--user", "elastic", "--password", "changeme").CombinedOutput()
	if !strings.Contains(string(out), "connection refused: check hosts and that Elasticsearch is running") {
		t.Errorf("output:\n%s", out)
	}
}

// TestVerificationNoneWarnsLoudly: ssl_verification_mode none works and
// says at start what it gives away.
func TestVerificationNoneWarnsLoudly(t *testing.T) {
	es, _ := esserver.StartT(t, esserver.Options{})
	p := startEsgate(t, []string{"changeme"}, "--hosts", es.URL, "--ssl-verification-mode", "none", "--user", "elastic", "--password", "changeme")
	waitLog(t, p, "TLS VERIFICATION IS OFF")
	res, err := http.Get(p.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("status %d", res.StatusCode)
	}
}

// tlsClient trusts the CA file ca.
func tlsClient(t testing.TB, ca string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

func waitMs(n int) { time.Sleep(time.Duration(n) * time.Millisecond) }

// statusURL is the base URL of p's status listener (esgate picks the
// port; its ready file says which).
func (p *proc) statusURL(t testing.TB) string {
	t.Helper()
	if p.ready.Status == "" {
		t.Fatal("esgate's ready file names no status listener")
	}
	return "http://" + p.ready.Status
}

// metricSum scrapes p's /metrics and adds up the samples of name whose
// labels contain every one of labels (`result="failure"`).
func (p *proc) metricSum(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	res, err := http.Get(p.statusURL(t) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	sum := 0.0
lines:
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(line, l) {
				continue lines
			}
		}
		var v float64
		fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v)
		sum += v
	}
	return sum
}

// waitMetric waits until metricSum reaches at least want.
func waitMetric(t testing.TB, p *proc, want float64, name string, labels ...string) {
	t.Helper()
	deadline := time.Now().Add(catchHang)
	for p.metricSum(t, name, labels...) < want {
		if time.Now().After(deadline) {
			t.Fatalf("%s%v stayed below %v", name, labels, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
