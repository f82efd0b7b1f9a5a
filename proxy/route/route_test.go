package route

import (
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/esgate/esgate/auth"
	"github.com/esgate/esgate/configs"
	"github.com/esgate/esgate/proxy/metrics"
	"github.com/esgate/esgate/test/esserver"
	"github.com/esgate/esgate/test/pki"
)

// catchHang bounds waits in this package's tests: it only catches a
// hang, and leaves room for a machine starved of CPU.
const catchHang = 3 * time.Minute

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// header is the Authorization value of r's configured credential.
func header(t *testing.T, r *Route) string {
	t.Helper()
	c, err := r.Credential()
	if err != nil {
		t.Fatal(err)
	}
	return c.Header()
}

func load(t *testing.T, args ...string) *configs.Route {
	t.Helper()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fl := configs.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	cfg, err := configs.Load(fl, func(string) (string, bool) { return "", false })
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		t.Fatal(err)
	}
	return &cfg.Routes[0]
}

// TestReloadAppliesWholeOrNothing: a reload whose TLS part loads and whose
// credential part does not changes nothing (it used to leave the new CA
// with the old key); once both load, both are in force.
func TestReloadAppliesWholeOrNothing(t *testing.T) {
	dir := t.TempDir()
	caA, _ := pki.NewCA("CA A")
	caB, _ := pki.NewCA("CA B")
	caFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "key")
	write(t, caFile, string(caA.CertPEM()))
	write(t, keyFile, "id:first\n")
	cfg := load(t, "--hosts", "https://127.0.0.1:9", "--ssl-certificate-authorities", caFile, "--api-key-file", keyFile)
	r, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	firstKey := header(t, r)

	write(t, caFile, string(caB.CertPEM()))
	write(t, keyFile, "\n")
	if !r.FilesChanged() {
		t.Fatal("the changed files went unnoticed")
	}
	if err := r.Reload(nil, "test"); err == nil {
		t.Fatal("a reload with an empty key file succeeded")
	}
	if got := r.TLS().CAs[0].Subject.CommonName; got != "CA A" || header(t, r) != firstKey {
		t.Errorf("after a failed reload: CA %q, key changed %v; expected the old state whole", got, header(t, r) != firstKey)
	}
	if r.FilesChanged() {
		t.Error("the failed files are retried before they change again")
	}

	write(t, keyFile, "id:second\n")
	if err := r.Reload(nil, "test"); err != nil {
		t.Fatal(err)
	}
	if got := r.TLS().CAs[0].Subject.CommonName; got != "CA B" || header(t, r) == firstKey {
		t.Errorf("after a good reload: CA %q, key changed %v; expected both new", got, header(t, r) != firstKey)
	}
}

// TestConfigReadWhileReloading: readiness and status read the route's
// configuration while reloads replace it (run with -race).
func TestConfigReadWhileReloading(t *testing.T) {
	dir := t.TempDir()
	ca, _ := pki.NewCA("CA")
	caFile := filepath.Join(dir, "ca.pem")
	write(t, caFile, string(ca.CertPEM()))
	args := []string{"--ssl-certificate-authorities", caFile, "--api-key", "id:k"}
	a := load(t, append([]string{"--hosts", "https://127.0.0.1:9"}, args...)...)
	b := load(t, append([]string{"--hosts", "https://127.0.0.1:10"}, args...)...)
	r, err := New(a, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 200; i++ {
			next := a
			if i%2 == 0 {
				next = b
			}
			if err := r.Reload(next, "test"); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for i := 0; i < 2000; i++ {
		if c := r.Config(); len(c.Upstreams()) != 1 || r.Name() != a.Name {
			t.Fatal("a torn configuration")
		}
		r.Ready()
	}
	wg.Wait()
}

// TestReloadUnderLoadIsConsistent: clients send requests without pause
// through a serving route while reloads move it back and forth between
// two clusters that share nothing: each has its own CA and accepts only
// its own user. Every reload changes the credential, the CA and the hosts
// together. Each request reads the route's state once, so every request
// that reaches a cluster carries that cluster's credential (recorded at
// the server), and every client gets 200: no request mixes the
// credential of one state with the trust or hosts of another.
func TestReloadUnderLoadIsConsistent(t *testing.T) {
	type cluster struct {
		es         *esserver.Server
		user, pass string
		cfg        *configs.Route
		got, mixed atomic.Int64
	}
	var cl [2]*cluster
	for i, name := range []string{"alpha", "beta"} {
		es, ca := esserver.StartT(t, esserver.Options{ClusterName: name})
		c := &cluster{es: es, user: "shipper-" + name, pass: "pw-" + name}
		es.AddUser(c.user, c.pass, "superuser")
		want := "Basic " + base64.StdEncoding.EncodeToString([]byte(c.user+":"+c.pass))
		es.OnRequest(func(r *http.Request) {
			if r.Header.Get("Authorization") == want {
				c.got.Add(1)
			} else {
				c.mixed.Add(1)
			}
		})
		c.cfg = load(t, "--listen", "127.0.0.1:0", "--hosts", es.URL, "--ssl-certificate-authorities", ca,
			"--user", c.user, "--password", c.pass, "--resurrect-delay", "1h",
			// Only a hang may end a request: a test server starved of CPU
			// answered after esgate's default 60 s under two busy loops.
			"--timeout", catchHang.String())
		cl[i] = c
	}
	r, err := New(cl[0].cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	addr, err := r.Listen()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- r.Serve() }()

	var (
		stop     atomic.Bool
		ok, fail atomic.Int64
		firstBad atomic.Value
		wg       sync.WaitGroup
	)
	client := &http.Client{Timeout: 2 * catchHang, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	defer client.CloseIdleConnections()
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				res, err := client.Get("http://" + addr.String() + "/_cluster/health")
				if err != nil {
					fail.Add(1)
					firstBad.CompareAndSwap(nil, err.Error())
					continue
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					fail.Add(1)
					firstBad.CompareAndSwap(nil, fmt.Sprintf("%d %s", res.StatusCode, b))
					continue
				}
				ok.Add(1)
			}
		}()
	}
	// Reload while requests flow: each reload waits for some requests on
	// the state it put in force, so that every switch happens under load.
	const reloads = 40
	for i := 1; i <= reloads; i++ {
		next := cl[i%2]
		before := next.got.Load()
		if err := r.Reload(next.cfg, "test"); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(catchHang)
		for next.got.Load() < before+5 {
			if time.Now().After(deadline) {
				t.Fatalf("reload %d: no requests reached %s", i, next.es.URL)
			}
			time.Sleep(time.Millisecond)
		}
	}
	stop.Store(true)
	wg.Wait()
	r.Shutdown(t.Context())
	if err := <-served; err != nil {
		t.Error(err)
	}
	for _, c := range cl {
		if n := c.mixed.Load(); n != 0 {
			t.Errorf("%s got %d requests with another cluster's credential", c.es.URL, n)
		}
		if c.got.Load() == 0 {
			t.Errorf("%s got no requests", c.es.URL)
		}
	}
	if fail.Load() != 0 {
		t.Errorf("%d of %d requests failed (first: %v)", fail.Load(), fail.Load()+ok.Load(), firstBad.Load())
	}
	t.Logf("%d requests over %d reloads: %d to %s, %d to %s", ok.Load(), reloads, cl[0].got.Load(), cl[0].es.URL, cl[1].got.Load(), cl[1].es.URL)
}

// runner is a provider that keeps itself fresh: it counts its runs.
type runner struct {
	*auth.Source
	started, ended chan struct{}
}

func (p *runner) Run(ctx context.Context) {
	close(p.started)
	<-ctx.Done()
	close(p.ended)
}

// TestProviderRunsWhileInForce: a provider that implements auth.Runner
// runs from Start while its state is in force; a reload that replaces it
// ends its run and starts the new one's; Close ends the last.
func TestProviderRunsWhileInForce(t *testing.T) {
	var made []*runner
	buildProvider = func(cfg *configs.Route, o Options, m *metrics.Route) (auth.Provider, error) {
		src, err := newProvider(cfg, o, m)
		if err != nil {
			return nil, err
		}
		p := &runner{Source: src.(*auth.Source), started: make(chan struct{}), ended: make(chan struct{})}
		made = append(made, p)
		return p, nil
	}
	t.Cleanup(func() { buildProvider = newProvider })
	wait := func(c chan struct{}, what string) {
		t.Helper()
		select {
		case <-c:
		case <-time.After(catchHang):
			t.Fatalf("%s: not within %v", what, catchHang)
		}
	}
	cfg := load(t, "--hosts", "https://127.0.0.1:9", "--api-key", "id:k", "--resurrect-delay", "1h")
	r, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	wait(made[0].started, "the first provider's run")
	if err := r.Reload(nil, "test"); err != nil {
		t.Fatal(err)
	}
	wait(made[0].ended, "the replaced provider's run ending")
	wait(made[1].started, "the new provider's run")
	if c, err := r.Credential(); err != nil || c != made[1].Current() {
		t.Errorf("the credential in force is not the new provider's (%v)", err)
	}
	r.Close()
	wait(made[1].ended, "the last provider's run ending at Close")
}
