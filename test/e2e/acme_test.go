package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/esgate/esgate/auth/frontdoor"
	"github.com/esgate/esgate/test/esserver"
	"github.com/esgate/esgate/test/pki"
)

// pebbleModule is the ACME test server built for this test (go run
// fetches it from the module proxy; certmagic is tested against the same).
const pebbleModule = "github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.1"

// TestACMEListenerCertificate: esgate obtains its listener certificate
// through certmagic from an ACME CA (pebble on 127.0.0.1, challenges taken
// as valid: the ACME exchange itself is what is tested), and a client
// trusting pebble's root connects and is forwarded.
func TestACMEListenerCertificate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds pebble")
	}
	dir := t.TempDir()
	if out, err := exec.Command("go", "install", pebbleModule).CombinedOutput(); err != nil {
		if os.Getenv("ESGATE_REQUIRE_CLIENTS") != "" {
			t.Fatalf("building pebble: %v\n%s", err, out)
		}
		t.Skipf("pebble cannot be built here: %v", err)
	}
	gobin, _ := exec.Command("go", "env", "GOPATH").Output()
	bin := filepath.Join(strings.TrimSpace(string(gobin)), "bin", "pebble")

	// pebble's own HTTPS certificate, from a CA esgate is told to trust.
	acmeCA, _ := pki.NewCA("pebble server CA")
	leaf, _ := acmeCA.Issue("pebble", "ec")
	certFile, keyFile, acmeRoot := filepath.Join(dir, "p.crt"), filepath.Join(dir, "p.key"), filepath.Join(dir, "acme-ca.crt")
	leaf.WriteFiles(certFile, keyFile, "pkcs8", "")
	os.WriteFile(acmeRoot, acmeCA.CertPEM(), 0o644)
	listen, mgmt := freePort(t), freePort(t)
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress": listen, "managementListenAddress": mgmt, "certificate": certFile, "privateKey": keyFile,
		"httpPort": 5002, "tlsPort": 5001, "ocspResponderURL": "", "externalAccountBindingRequired": false,
		"keyAlgorithm": "ecdsa", "profiles": map[string]any{"default": map[string]any{"description": "test", "validityPeriod": 7776000}},
	}}
	cfgFile := filepath.Join(dir, "pebble.json")
	b, _ := json.Marshal(cfg)
	os.WriteFile(cfgFile, b, 0o644)
	pebble := exec.Command(bin, "-config", cfgFile, "-strict=false")
	pebble.Env = append(os.Environ(), "PEBBLE_VA_ALWAYS_VALID=1", "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0")
	var pout syncBuffer
	pebble.Stdout, pebble.Stderr = &pout, &pout
	if err := pebble.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pebble.Process.Kill(); pebble.Wait() })
	waitListening(t, listen)

	es, esCA := esserver.StartT(t, esserver.Options{})
	p := startEsgate(t, nil, "--hosts", es.URL, "--ssl-certificate-authorities", esCA, "--user", "elastic", "--password", "changeme",
		"--listen-ssl-domains", "localhost", "--listen-ssl-issuer", "acme",
		"--listen-ssl-acme-directory", "https://"+listen+"/dir", "--listen-ssl-acme-ca-root", acmeRoot,
		"--listen-ssl-storage", filepath.Join(dir, "certs"),
		"--client-bearer-tokens", "loader:"+frontdoor.HashToken("acme-token"))

	// pebble's root (random per run) signs what it issued.
	pool := x509.NewCertPool()
	mc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: func() *x509.CertPool {
		cp := x509.NewCertPool()
		cp.AddCert(acmeCA.Cert)
		return cp
	}()}}}
	res, err := mc.Get("https://" + mgmt + "/roots/0")
	if err != nil {
		t.Fatalf("pebble's root: %v\n%s", err, pout.String())
	}
	root, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !pool.AppendCertsFromPEM(root) {
		t.Fatalf("pebble's root: %s", root)
	}
	_, port, _ := net.SplitHostPort(p.addr)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}}
	// esgate listens at once and serves TLS when the certificate is in.
	deadline := time.Now().Add(catchHang)
	for {
		req, _ := http.NewRequest("GET", "https://127.0.0.1:"+port+"/", nil)
		req.Header.Set("Authorization", "Bearer acme-token")
		if res, err = client.Do(req); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a client trusting pebble's root: %v\n%s\n%s", err, p.out.String(), pout.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	res.Body.Close()
	if res.StatusCode != 200 || len(res.TLS.PeerCertificates) == 0 || !strings.Contains(res.TLS.PeerCertificates[len(res.TLS.PeerCertificates)-1].Issuer.CommonName, "Pebble") {
		t.Errorf("status %d, chain %v", res.StatusCode, res.TLS.PeerCertificates[0].Issuer)
	}
}

func waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(catchHang)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is not listening", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
