package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/esgate/esgate/test/esserver"
)

func TestRunUsage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
		out  string
	}{
		{nil, exitUsage, "Usage:"},
		{[]string{"version"}, exitOK, "esgate dev"},
		{[]string{"help"}, exitOK, "esgate serve"},
		{[]string{"nope"}, exitUsage, `error: unknown command "nope"`},
		{[]string{"serve", "extra"}, exitUsage, "error: unexpected arguments: extra"},
		{[]string{"serve", "--api-key", "a:b"}, exitUsage, "error: hosts: required"},
		{[]string{"check", "--hosts", "https://127.0.0.1:1", "--api-key", "a:b", "--connect-timeout", "1s"}, exitFailed, "error: 1 host(s) failed the check"},
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
	var err error
	for i := 0; i < 200; i++ {
		if res, err = http.Get("http://" + addr + "/"); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
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
	case <-time.After(5 * time.Second):
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

	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	var out bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--status-listen", "off", "--listen", "127.0.0.1:0", "--api-key", revoked}, base...), &out, &out)
	}()
	var code int
	select {
	case code = <-done:
	case <-time.After(45 * time.Second):
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
		for i := 0; i < 500; i++ {
			if code, out = probe(args...); code == want && strings.Contains(out, say) {
				return
			}
			time.Sleep(10 * time.Millisecond)
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
	var buf bytes.Buffer
	if code := run(context.Background(), []string{"migrate", "--config-out", out, "--in-place", "--first-port", strconv.Itoa(port), pipeline}, &buf, &buf); code != exitOK {
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
	if !strings.Contains(buf.String(), "api_key is written in the pipeline") {
		t.Errorf("no warning about the literal key: %s", buf.String())
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
	var err error
	for i := 0; i < 300; i++ {
		res, err = http.Post(url+"/_bulk", "application/x-ndjson", strings.NewReader("{\"index\":{\"_index\":\"migrated\"}}\n{\"m\":1}\n"))
		if err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || es.Count("migrated") != 1 {
		t.Errorf("bulk through the migrated route: %d, %d documents", res.StatusCode, es.Count("migrated"))
	}
}
