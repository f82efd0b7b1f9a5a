package route

import (
	"flag"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/esgate/esgate/configs"
	"github.com/esgate/esgate/test/pki"
)

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
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
	firstKey := r.Credential().Header()

	write(t, caFile, string(caB.CertPEM()))
	write(t, keyFile, "\n")
	if !r.FilesChanged() {
		t.Fatal("the changed files went unnoticed")
	}
	if err := r.Reload(nil, "test"); err == nil {
		t.Fatal("a reload with an empty key file succeeded")
	}
	if got := r.TLS().CAs[0].Subject.CommonName; got != "CA A" || r.Credential().Header() != firstKey {
		t.Errorf("after a failed reload: CA %q, key changed %v; expected the old state whole", got, r.Credential().Header() != firstKey)
	}
	if r.FilesChanged() {
		t.Error("the failed files are retried before they change again")
	}

	write(t, keyFile, "id:second\n")
	if err := r.Reload(nil, "test"); err != nil {
		t.Fatal(err)
	}
	if got := r.TLS().CAs[0].Subject.CommonName; got != "CA B" || r.Credential().Header() == firstKey {
		t.Errorf("after a good reload: CA %q, key changed %v; expected both new", got, r.Credential().Header() != firstKey)
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
