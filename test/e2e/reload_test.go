package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esutil"

	"github.com/esgate/esgate/test/esserver"
	"github.com/esgate/esgate/test/pki"
)

// load runs a bounded bulk load through esgate with the official client
// until stop is called, and reports what was acknowledged and what failed.
type load struct {
	bi      esutil.BulkIndexer
	added   atomic.Int64
	acked   atomic.Int64
	failed  atomic.Int64
	firstFE atomic.Value
	stopc   chan struct{}
	done    chan struct{}
}

func startLoad(t *testing.T, url, index string) *load {
	t.Helper()
	client, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{url}, CompressRequestBody: true})
	if err != nil {
		t.Fatal(err)
	}
	l := &load{stopc: make(chan struct{}), done: make(chan struct{})}
	l.bi, err = esutil.NewBulkIndexer(esutil.BulkIndexerConfig{Client: client, Index: index, NumWorkers: 2,
		FlushBytes: 8 << 10, FlushInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(l.done)
		deadline := time.Now().Add(catchHang) // bounded whatever happens
		for i := 0; i < 200_000 && time.Now().Before(deadline); i++ {
			select {
			case <-l.stopc:
				return
			default:
			}
			l.bi.Add(context.Background(), esutil.BulkIndexerItem{
				Action: "create",
				Body:   strings.NewReader(fmt.Sprintf(`{"@timestamp":"2026-11-27T12:00:00Z","message":"event %d"}`, i)),
				OnSuccess: func(context.Context, esutil.BulkIndexerItem, esutil.BulkIndexerResponseItem) {
					l.acked.Add(1)
				},
				OnFailure: func(_ context.Context, _ esutil.BulkIndexerItem, r esutil.BulkIndexerResponseItem, err error) {
					l.failed.Add(1)
					if err == nil {
						err = fmt.Errorf("%d %s %s", r.Status, r.Error.Type, r.Error.Reason)
					}
					l.firstFE.CompareAndSwap(nil, err.Error())
				},
			})
			l.added.Add(1)
			time.Sleep(500 * time.Microsecond)
		}
	}()
	return l
}

// flows waits until n more events were acknowledged: the load went on
// through whatever came before.
func (l *load) flows(t *testing.T, n int64) {
	t.Helper()
	want := l.acked.Load() + n
	deadline := time.Now().Add(catchHang)
	for l.acked.Load() < want {
		if time.Now().After(deadline) {
			t.Fatalf("the load stalled: %d events acknowledged, waiting for %d (%d failed)", l.acked.Load(), want, l.failed.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stop ends the load and checks that every event was acknowledged and arrived.
func (l *load) stop(t *testing.T, es *esserver.Server, index string) {
	t.Helper()
	close(l.stopc)
	<-l.done
	if err := l.bi.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := l.bi.Stats()
	if l.failed.Load() != 0 || st.NumFailed != 0 {
		t.Errorf("%d events failed during rotation (first: %v)", l.failed.Load(), l.firstFE.Load())
	}
	if got := es.Count(index); int64(got) != l.added.Load() || st.NumFlushed != uint64(l.added.Load()) {
		t.Errorf("%d events added, %d flushed, %d arrived", l.added.Load(), st.NumFlushed, got)
	}
	t.Logf("%d events in %d bulk requests during the rotation, %d failed", st.NumFlushed, st.NumRequests, l.failed.Load())
}

// replace writes content next to path and renames it over path, as an
// operator (or the kubelet's symlink swap) replaces a file atomically.
func replace(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".new"
	writeFile(t, tmp, content)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestRotateAPIKeyAndCAUnderLoad: under continuous bulk load, the API key
// file is replaced (file-change trigger) and the cluster moves to a new CA
// (bundle old+new, server switches, bundle new only; SIGHUP trigger).
// No request fails and no event is lost.
func TestRotateAPIKeyAndCAUnderLoad(t *testing.T) {
	es, _ := esserver.StartT(t, esserver.Options{})
	dir := t.TempDir()
	bundle := filepath.Join(dir, "ca.pem")
	oldCA := string(es.CA.CertPEM())
	writeFile(t, bundle, oldCA)
	id1, _, key1 := es.CreateAPIKey("elastic", "k1", 0, nil)
	_, _, key2 := es.CreateAPIKey("elastic", "k2", 0, nil)
	keyFile := filepath.Join(dir, "api_key")
	writeFile(t, keyFile, key1+"\n")
	p := startEsgate(t, []string{key1, key2}, "--hosts", es.URL, "--ssl-certificate-authorities", bundle,
		"--api-key-file", keyFile, "--reload-interval", "100ms")
	const index = "logstash-rotate"
	l := startLoad(t, p.URL, index)
	l.flows(t, 200)

	// 1. API key: new file; once esgate uses it and in-flight requests
	//    have finished, the old key is invalidated.
	replace(t, keyFile, key2+"\n")
	waitMetric(t, p, 1, "esgate_reloads_total", `result="success"`)
	l.flows(t, 200) // requests sent with the new key
	es.InvalidateAPIKey(id1)
	l.flows(t, 200)

	// 2. CA: trust both, switch the server, trust only the new one.
	newCA, err := pki.NewCA("Elasticsearch security auto-configuration HTTP CA (2)")
	if err != nil {
		t.Fatal(err)
	}
	replace(t, bundle, oldCA+string(newCA.CertPEM()))
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitMetric(t, p, 2, "esgate_reloads_total", `result="success"`)
	if err := es.RotateCertificate(newCA); err != nil {
		t.Fatal(err)
	}
	l.flows(t, 200)
	replace(t, bundle, string(newCA.CertPEM()))
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitMetric(t, p, 3, "esgate_reloads_total", `result="success"`)
	l.flows(t, 200)
	l.stop(t, es, index)

	// New connections now verify against the new CA only.
	res, err := http.Get(p.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("after rotation: %d", res.StatusCode)
	}
	if n := p.metricSum(t, "esgate_reloads_total", `result="failure"`); n != 0 {
		t.Errorf("%v reloads failed:\n%s", n, p.out.String())
	}
}

// TestRotateClientCertificateUnderLoad: the PKI client certificate and key
// are replaced file by file under load; the half-written state (new cert,
// old key) is refused and the old pair keeps serving until both are new.
func TestRotateClientCertificateUnderLoad(t *testing.T) {
	es, ca := esserver.StartT(t, esserver.Options{})
	es.MapPKIUser("logstash-pki", "superuser")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key")
	leaf1, _ := es.CA.Issue("logstash-pki", "ec", pki.Client())
	leaf1.WriteFiles(certFile, keyFile, "pkcs8", "")
	p := startEsgate(t, nil, "--hosts", es.URL, "--ssl-certificate-authorities", ca,
		"--ssl-certificate", certFile, "--ssl-key", keyFile, "--reload-interval", "100ms")
	const index = "logstash-pki"
	l := startLoad(t, p.URL, index)
	l.flows(t, 200)

	leaf2, _ := es.CA.Issue("logstash-pki", "rsa", pki.Client())
	newCert, newKey := filepath.Join(dir, "n.crt"), filepath.Join(dir, "n.key")
	leaf2.WriteFiles(newCert, newKey, "pkcs1", "")
	cb, _ := os.ReadFile(newCert)
	kb, _ := os.ReadFile(newKey)
	replace(t, certFile, string(cb)) // certificate first: mismatched pair
	waitMetric(t, p, 1, "esgate_reloads_total", `result="failure"`)
	l.flows(t, 200) // the old pair keeps serving
	replace(t, keyFile, string(kb))
	waitMetric(t, p, 1, "esgate_reloads_total", `result="success"`)
	l.flows(t, 200)
	l.stop(t, es, index)

}

// TestPasswordFileRotation: Basic auth has one password at a time, so a
// password change cannot be seamless (use API keys for that); esgate picks
// up the new password file and recovers.
func TestPasswordFileRotation(t *testing.T) {
	es, ca := esserver.StartT(t, esserver.Options{})
	es.AddUser("logstash_internal", "first-password", "superuser")
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	writeFile(t, pw, "first-password\n")
	p := startEsgate(t, []string{"first-password", "second-password"}, "--hosts", es.URL, "--ssl-certificate-authorities", ca,
		"--user", "logstash_internal", "--password-file", pw, "--reload-interval", "100ms")
	status := func() int {
		res, err := http.Get(p.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if s := status(); s != 200 {
		t.Fatalf("status %d", s)
	}
	es.AddUser("logstash_internal", "second-password", "superuser")
	if s := status(); s != 401 {
		t.Fatalf("status %d with the old password", s)
	}
	replace(t, pw, "second-password\n")
	waitMetric(t, p, 1, "esgate_reloads_total", `result="success"`)
	if s := status(); s != 200 {
		t.Fatalf("status %d after reload", s)
	}
	// An emptied file is refused and the current password keeps working.
	replace(t, pw, "\n")
	waitMetric(t, p, 1, "esgate_reloads_total", `result="failure"`)
	if s := status(); s != 200 {
		t.Fatalf("status %d after a broken reload", s)
	}
}

// TestKubernetesSecretSymlinkSwap mimics the kubelet's Secret volume
// update: files are links through ..data, which is atomically re-pointed
// to a new timestamped directory.
func TestKubernetesSecretSymlinkSwap(t *testing.T) {
	es, ca := esserver.StartT(t, esserver.Options{})
	id1, _, key1 := es.CreateAPIKey("elastic", "k1", 0, nil)
	id2, _, key2 := es.CreateAPIKey("elastic", "k2", 0, nil)
	vol := t.TempDir()
	version := func(name, key string) {
		d := filepath.Join(vol, name)
		os.Mkdir(d, 0o755)
		writeFile(t, filepath.Join(d, "api_key"), key)
		tmp := filepath.Join(vol, "..data_tmp")
		if err := os.Symlink(name, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(vol, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	version("..2026_11_27_12_00_00.1", key1)
	if err := os.Symlink("..data/api_key", filepath.Join(vol, "api_key")); err != nil {
		t.Fatal(err)
	}
	p := startEsgate(t, []string{key1, key2}, "--hosts", es.URL, "--ssl-certificate-authorities", ca,
		"--api-key-file", filepath.Join(vol, "api_key"), "--reload-interval", "100ms")
	whoami := func() string {
		res, err := http.Get(p.URL + "/_security/_authenticate")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b := make([]byte, 4096)
		n, _ := res.Body.Read(b)
		return string(b[:n])
	}
	if !strings.Contains(whoami(), id1) {
		t.Fatal("not using the first key")
	}
	version("..2026_11_27_12_05_00.2", key2)
	waitMetric(t, p, 1, "esgate_reloads_total", `result="success"`)
	if !strings.Contains(whoami(), id2) {
		t.Error("not using the key after the symlink swap")
	}
}

// TestReloadHostsAndAuthMethod: SIGHUP applies a config whose hosts moved
// to another cluster and whose credential changed method (API key to
// user/password); a setting that applies only at start is named in a
// warning instead of being silently ignored.
func TestReloadHostsAndAuthMethod(t *testing.T) {
	a, ca := esserver.StartT(t, esserver.Options{NodeName: "node-a"})
	b, err := esserver.Start(esserver.Options{NodeName: "node-b", CA: a.CA, ElasticPassword: "b-pass", PasswordHashing: "bcrypt4"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	var sawB atomic.Int64
	var hdr atomic.Value
	b.OnRequest(func(r *http.Request) { sawB.Add(1); hdr.Store(r.Header.Get("X-Opaque-Id")) })
	_, _, key := a.CreateAPIKey("elastic", "on-a", 0, nil)
	cfg := filepath.Join(t.TempDir(), "esgate.yml")
	writeFile(t, cfg, fmt.Sprintf("hosts: [%q]\nssl_certificate_authorities: [%q]\napi_key: %q\n", a.URL, ca, key))
	p := startEsgate(t, []string{key, "b-pass"}, "--config", cfg, "--log-format", "json")
	who := func() string {
		t.Helper()
		res, err := http.Get(p.URL + "/_security/_authenticate")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var v struct {
			Username string `json:"username"`
			Type     string `json:"authentication_type"`
		}
		json.NewDecoder(res.Body).Decode(&v)
		return v.Username + "/" + v.Type
	}
	if g := who(); g != "elastic/api_key" {
		t.Fatalf("before reload: %s", g)
	}
	writeFile(t, cfg, fmt.Sprintf("hosts: [%q]\nssl_certificate_authorities: [%q]\nuser: elastic\npassword: b-pass\ncustom_headers: {X-Opaque-Id: new}\n", b.URL, ca))
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitMetric(t, p, 1, "esgate_reloads_total", `result="success"`)
	if g := who(); g != "elastic/realm" || sawB.Load() == 0 {
		t.Fatalf("after reload: %s, %d requests at the new host", g, sawB.Load())
	}
	waitRecord(t, p, `keys ["custom_headers"]`, func(r map[string]any) bool {
		return slices.Equal(strs(r["keys"]), []string{"custom_headers"})
	})
	if h, _ := hdr.Load().(string); h != "" {
		t.Errorf("custom_headers applied without a restart (%q) although esgate says it needs one", h)
	}
	waitRecord(t, p, "the hosts added and removed", func(r map[string]any) bool {
		return slices.Equal(strs(r["removed"]), []string{strings.TrimPrefix(a.URL, "https://")}) &&
			slices.Equal(strs(r["added"]), []string{strings.TrimPrefix(b.URL, "https://")})
	})
}
