package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func build(t *testing.T, pkg, name string) string {
	bin := filepath.Join(t.TempDir(), name)
	if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", pkg, err, out)
	}
	return bin
}

func run(t *testing.T, dir, marker string, bin string, args ...string) (*exec.Cmd, *syncBuf) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	out := &syncBuf{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), marker) {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start: %s", bin, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cmd, out
}

func httpsClient(t *testing.T, caPath string) *http.Client {
	b, err := os.ReadFile(caPath)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(b)
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// TestIssuerAndServerCommands runs the commands as docs/test-server.md
// shows them: the issuer writes the realm settings, the test server loads
// them, a client-credentials token authenticates, SIGUSR1/SIGUSR2 take
// the token endpoint down and back.
func TestIssuerAndServerCommands(t *testing.T) {
	dir := t.TempDir()
	iss := build(t, "github.com/esgate/esgate/test/cmd/estestissuer", "estestissuer")
	es := build(t, "github.com/esgate/esgate/test/cmd/estestserver", "estestserver")
	issAddr, esAddr := freeAddr(t), freeAddr(t)
	issCmd, issOut := run(t, dir, "ready", iss, "-addr", issAddr, "-client", "logstash:s3cret", "-lifetime", "3s", "-realm-out", "jwt1.yml",
		"-project-dir", "sa", "-project-every", "1s")
	run(t, dir, "JWT realm: jwt1", es, "-addr", esAddr, "-ca-out", "http_ca.crt", "-jwt-realm", "jwt1.yml")

	token := func() (int, string) {
		req, _ := http.NewRequest("POST", "https://"+issAddr+"/oauth2/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("logstash", "s3cret")
		res, err := httpsClient(t, filepath.Join(dir, "issuer_ca.crt")).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var m struct {
			AccessToken string `json:"access_token"`
			ExpiresIn   int    `json:"expires_in"`
		}
		json.NewDecoder(res.Body).Decode(&m)
		return res.StatusCode, m.AccessToken
	}
	authenticate := func(tok string) (int, string) {
		req, _ := http.NewRequest("GET", "https://"+esAddr+"/_security/_authenticate", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := httpsClient(t, filepath.Join(dir, "http_ca.crt")).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	status, tok := token()
	if status != 200 {
		t.Fatalf("token: %d", status)
	}
	if st, body := authenticate(tok); st != 200 || !strings.Contains(body, `"username":"logstash"`) || !strings.Contains(body, `"authentication_realm":{"name":"jwt1","type":"jwt"}`) {
		t.Fatalf("authenticate: %d %s", st, body)
	}
	projected, err := os.ReadFile(filepath.Join(dir, "sa", "token"))
	if err != nil {
		t.Fatal(err)
	}
	if st, body := authenticate(string(projected)); st != 200 || !strings.Contains(body, `"username":"system:serviceaccount:logs:shipper"`) {
		t.Fatalf("projected token: %d %s", st, body)
	}
	issCmd.Process.Signal(syscall.SIGUSR1)
	waitFor(t, issOut, "token endpoint down")
	if status, _ := token(); status != 503 {
		t.Fatalf("down: %d", status)
	}
	issCmd.Process.Signal(syscall.SIGUSR2)
	waitFor(t, issOut, "token endpoint up")
	if status, _ := token(); status != 200 {
		t.Fatalf("back up: %d", status)
	}
}

func waitFor(t *testing.T, out *syncBuf, s string) {
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in %s", s, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
