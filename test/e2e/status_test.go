package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/esgate/esgate/test/esserver"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestStatusListener: /healthz, /metrics (checked by promtool when it is
// installed) with the CA's expiry, and /readyz following the upstream:
// server gone and back, key revoked and replaced.
func TestStatusListener(t *testing.T) {
	es, ca := esserver.StartT(t, esserver.Options{})
	id1, _, key1 := es.CreateAPIKey("elastic", "k1", 0, nil)
	_, _, key2 := es.CreateAPIKey("elastic", "k2", 0, nil)
	keyFile := filepath.Join(t.TempDir(), "key")
	writeFile(t, keyFile, key1)
	p := startEsgate(t, []string{key1, key2}, "--hosts", es.URL, "--ssl-certificate-authorities", ca, "--api-key-file", keyFile,
		"--resurrect-delay", "200ms", "--reload-interval", "100ms")
	st := p.statusURL(t)
	if code, body := get(t, st+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("healthz %d %q", code, body)
	}
	if code, body := get(t, p.URL+"/"); code != 200 {
		t.Fatalf("GET / %d %s", code, body)
	}
	code, metrics := get(t, st+"/metrics")
	want := fmt.Sprintf(`esgate_cert_expiry_timestamp_seconds{kind="ca",route="%s",subject="CN=Elasticsearch security auto-configuration HTTP CA"} %s`,
		p.addr, strings.Replace(fmt.Sprintf("%g", float64(es.CA.Cert.NotAfter.Unix())), "e+09", "e+09", 1))
	if code != 200 || !strings.Contains(metrics, want) {
		t.Errorf("metrics lack %q:\n%s", want, grep(metrics, "esgate_cert"))
	}
	if !strings.Contains(metrics, `esgate_requests_total{code="200",endpoint="root",method="GET",route="`+p.addr+`"} 1`) {
		t.Errorf("request not counted:\n%s", grep(metrics, "esgate_requests_total"))
	}
	promtool(t, metrics)

	ready := func() (int, string) { return get(t, st+"/readyz") }
	waitReady := func(want int) string {
		t.Helper()
		deadline := time.Now().Add(catchHang)
		for {
			code, body := ready()
			if code == want {
				return body
			}
			if time.Now().After(deadline) {
				t.Fatalf("readyz stayed %d (%s); expected %d", code, body, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitReady(200)
	// The key is revoked: not ready, and says why.
	es.InvalidateAPIKey(id1)
	if body := waitReady(503); !strings.Contains(body, "refuses the credentials") {
		t.Errorf("readyz body %s", body)
	}
	// A new key file fixes it.
	replace(t, keyFile, key2)
	waitReady(200)
	// The server goes away and comes back on the same address.
	addr := es.Addr()
	es.Close()
	if body := waitReady(503); !strings.Contains(body, "no live Elasticsearch host") {
		t.Errorf("readyz body %s", body)
	}
	es2, err := esserver.Start(esserver.Options{Addr: addr, CA: es.CA, PasswordHashing: "bcrypt4"})
	if err != nil {
		t.Skipf("could not listen on %s again: %v", addr, err)
	}
	defer es2.Close()
	// The new server knows no keys yet: give it k2's owner and a key the
	// file can hold.
	_, _, key3 := es2.CreateAPIKey("elastic", "k3", 0, nil)
	replace(t, keyFile, key3)
	waitReady(200)
}

func grep(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// promtool lints the exposition when promtool is installed (CI installs it).
func promtool(t *testing.T, metrics string) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("ESGATE_REQUIRE_CLIENTS") == "1" {
			t.Fatal("promtool is required (ESGATE_REQUIRE_CLIENTS=1)")
		}
		t.Log("promtool not installed; skipping the lint")
		return
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = bytes.NewReader([]byte(metrics))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestNoSecretInLogs runs every authentication mode at debug level with
// access logs, successes and failures (401, wrong CA, reload errors), and
// scans every output line for the secrets (startEsgate's cleanup fails the
// test if any appears).
func TestNoSecretInLogs(t *testing.T) {
	es, ca := esserver.StartT(t, esserver.Options{})
	es.AddUser("logstash_internal", "Secret-Password-1", "superuser")
	_, apiSecret, apiKey := es.CreateAPIKey("elastic", "k", 0, nil)
	token := es.CreateServiceToken("elastic/fleet-server", "t1", esserver.Role{Cluster: []string{"monitor"}})
	dir := t.TempDir()
	leaf, _ := es.CA.Issue("pki-user", "ec")
	leaf.WriteFiles(filepath.Join(dir, "c.crt"), filepath.Join(dir, "c.key"), "pkcs8-encrypted", "Key-Passphrase-1")
	es.MapPKIUser("pki-user", "superuser")
	modes := []struct {
		secrets []string
		args    []string
	}{
		{[]string{"Secret-Password-1"}, []string{"--user", "logstash_internal", "--password", "Secret-Password-1"}},
		{[]string{apiKey, apiSecret}, []string{"--api-key", apiKey}},
		{[]string{token}, []string{"--bearer-token", token}},
		{[]string{"Key-Passphrase-1"}, []string{"--ssl-certificate", filepath.Join(dir, "c.crt"), "--ssl-key", filepath.Join(dir, "c.key"), "--ssl-key-passphrase", "Key-Passphrase-1"}},
	}
	for _, m := range modes {
		p := startEsgate(t, m.secrets, append([]string{"--hosts", es.URL, "--ssl-certificate-authorities", ca, "--resurrect-delay", "100ms"}, m.args...)...)
		get(t, p.URL+"/")
		get(t, p.URL+"/_security/_authenticate?pretty")
		http.Post(p.URL+"/_bulk", "application/json", strings.NewReader("{\"create\":{\"_index\":\"x\"}}\n{}\n"))
		// A client-sent credential must not be logged either.
		req, _ := http.NewRequest("GET", p.URL+"/", nil)
		req.Header.Set("Authorization", "Basic Q2xpZW50LVNlY3JldA==")
		http.DefaultClient.Do(req)
		p.cmd.Process.Signal(syscall.SIGHUP)
		waitMetric(t, p, 1, "esgate_reloads_total", `result="success"`)
		if strings.Contains(p.out.String(), "Q2xpZW50LVNlY3JldA") {
			t.Error("a client's Authorization appears in the log")
		}
	}

}
