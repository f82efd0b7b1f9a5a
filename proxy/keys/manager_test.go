package keys

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"

	"github.com/esgate/esgate/auth"
	"github.com/esgate/esgate/test/esserver"
)

// catchHang bounds waits in this package's tests: it only catches a
// hang, and leaves room for a machine starved of CPU.
const catchHang = 3 * time.Minute

// hostTransport sends every request to base, with Basic elastic:changeme.
type hostTransport struct {
	base *url.URL
	rt   http.RoundTripper
}

func (h hostTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r2 := r.Clone(r.Context())
	r2.URL.Scheme, r2.URL.Host = h.base.Scheme, h.base.Host
	r2.SetBasicAuth("elastic", "changeme")
	return h.rt.RoundTrip(r2)
}

func newClient(t *testing.T, es *esserver.Server) *elasticsearch.TypedClient {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(es.CA.Cert)
	u, _ := url.Parse(es.URL)
	client, err := elasticsearch.NewTypedClient(elasticsearch.Config{Addresses: []string{"https://es"},
		Transport: hostTransport{u, &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}})
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// TestRemintSingleFlightAndRateLimited: twenty requests refused with the
// current key at once make one new key, and the key each mint replaces is
// invalidated; a key refused right after it was minted is not replaced.
func TestRemintSingleFlightAndRateLimited(t *testing.T) {
	es, _ := esserver.StartT(t, esserver.Options{})
	defer func(d time.Duration) { MinRemintInterval = d }(MinRemintInterval)
	MinRemintInterval = 0
	target, _ := auth.NewSource(func() (auth.Credential, error) { return auth.NoHeader("api_key"), nil })
	m := New(newClient(t, es), target, Options{Name: "sf", InvalidateDelay: time.Millisecond, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := m.Mint(context.Background()); err != nil {
		t.Fatal(err)
	}
	first := target.Header()
	expired := []byte(`{"error":{"type":"security_exception","reason":"unable to authenticate","additional_unsuccessful_credentials":"API key: api key is expired"},"status":401}`)
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !m.Recover(context.Background(), first, expired) {
				t.Error("a refused request was not told to retry")
			}
		}()
	}
	wg.Wait()
	if n := es.APIKeysNamed("sf"); n != 2 {
		t.Errorf("%d keys minted in all; expected 2 (the first and one re-mint)", n)
	}
	deadline := time.Now().Add(catchHang)
	for es.ActiveAPIKeys("sf") != 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := es.ActiveAPIKeys("sf"); n != 1 {
		t.Errorf("%d active keys; the replaced one was not invalidated", n)
	}
	MinRemintInterval = time.Hour
	if m.Recover(context.Background(), target.Header(), expired) || es.APIKeysNamed("sf") != 2 {
		t.Error("a key refused right after its mint was replaced again")
	}
}

func TestRecoverDecisions(t *testing.T) {
	es, _ := esserver.StartT(t, esserver.Options{})
	client := newClient(t, es)
	defer func(d time.Duration) { MinRemintInterval = d }(MinRemintInterval)
	MinRemintInterval = 0
	target, _ := auth.NewSource(func() (auth.Credential, error) { return auth.NoHeader("api_key"), nil })
	m := New(client, target, Options{Name: "k", Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := m.Mint(context.Background()); err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	target.Apply(h)
	sent := h.Get("Authorization")
	first := m.CurrentID()
	for _, tt := range []struct {
		name, body string
		want       bool
	}{
		{"wrong password, not a key problem", `{"error":{"type":"security_exception","reason":"unable to authenticate user [x] for REST request [/]"},"status":401}`, false},
		{"not JSON", `<html>`, false},
		{"other credential", `{"error":{"additional_unsuccessful_credentials":"token: nope"}}`, false},
		{"expired", `{"error":{"additional_unsuccessful_credentials":"API key: api key is expired"},"status":401}`, true},
	} {
		if got := m.Recover(context.Background(), sent, []byte(tt.body)); got != tt.want {
			t.Errorf("%s: %v", tt.name, got)
		}
	}
	if m.CurrentID() == first {
		t.Error("the expired key was not replaced")
	}
	// A second request that sent the old key does not mint again.
	second := m.CurrentID()
	if !m.Recover(context.Background(), sent, []byte(`{"error":{"additional_unsuccessful_credentials":"API key: unable to find apikey with id x"}}`)) || m.CurrentID() != second {
		t.Error("a stale 401 minted again")
	}
	if es.ActiveAPIKeys("k") != 2 {
		t.Errorf("%d keys", es.ActiveAPIKeys("k"))
	}
}
