package keys

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"testing"

	"github.com/elastic/go-elasticsearch/v8"

	"github.com/esgate/esgate/auth"
	"github.com/esgate/esgate/test/esserver"
)

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

func TestRecoverDecisions(t *testing.T) {
	es, _ := esserver.StartT(t, esserver.Options{})
	pool := x509.NewCertPool()
	pool.AddCert(es.CA.Cert)
	u, _ := url.Parse(es.URL)
	client, err := elasticsearch.NewTypedClient(elasticsearch.Config{Addresses: []string{"https://es"},
		Transport: hostTransport{u, &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}})
	if err != nil {
		t.Fatal(err)
	}
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
