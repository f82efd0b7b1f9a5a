package proxy_test

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/esgate/esgate/auth"
	"github.com/esgate/esgate/certs"
	"github.com/esgate/esgate/proxy"
	"github.com/esgate/esgate/test/esserver"
)

// fakeProvider is a token provider whose state the test sets: the
// credential it hands out, or the error of having none.
type fakeProvider struct {
	mu       sync.Mutex
	cred     auth.Credential
	err      error
	rejected []string
}

func (f *fakeProvider) Credential() (auth.Credential, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cred, f.err
}

func (f *fakeProvider) Rejected(sent string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rejected = append(f.rejected, sent)
}

func (f *fakeProvider) Ready() (bool, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return false, f.err.Error()
	}
	return true, ""
}

func (f *fakeProvider) set(c auth.Credential, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cred, f.err = c, err
}

// withSecret is a bearer credential with a JWT realm's shared secret.
type withSecret struct {
	auth.Credential
	secret string
}

func (w withSecret) ClientAuthentication() string { return "SharedSecret " + w.secret }

// TestProviderSeam: a provider with no valid credential gets 503 in
// Elasticsearch's shape and nothing reaches the cluster; a 401 is
// reported to the provider with the value sent; a shared secret travels
// as ES-Client-Authentication and replaces the client's.
func TestProviderSeam(t *testing.T) {
	es, ca := esserver.StartT(t, esserver.Options{})
	es.AddUser("shipper", "pw-shipper", "superuser")
	var reached atomic.Int64
	var clientAuth atomic.Value
	es.OnRequest(func(r *http.Request) {
		reached.Add(1)
		clientAuth.Store(r.Header.Values("Es-Client-Authentication"))
	})
	fp := &fakeProvider{}
	fp.set(nil, fmt.Errorf("token endpoint https://issuer.example/token: invalid_client: %w", auth.ErrNoValidCredential))
	front, p := sandwich(t, certs.Options{CAFiles: []string{ca}}, auth.Basic("x", "y"), func(o *proxy.Options) {
		st := *o.State()
		st.Credential = fp
		o.State = func() *proxy.State { return &st }
	}, es.URL)

	res, body := do(t, "GET", front+"/", "")
	if res.StatusCode != 503 {
		t.Fatalf("no valid credential: status %d %s", res.StatusCode, body)
	}
	if e := parseErr(t, body); e.Error.Type != "esgate_credential_unavailable_exception" || e.Status != 503 {
		t.Errorf("no valid credential: %+v", e)
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("%d requests reached the cluster without a valid credential", n)
	}
	if ok, _ := p.Ready(); ok {
		t.Error("ready without a valid credential")
	}

	fp.set(withSecret{auth.Basic("shipper", "pw-shipper"), "s3"}, nil)
	res, body = do(t, "GET", front+"/", "", "ES-Client-Authentication", "SharedSecret from-client")
	if res.StatusCode != 200 {
		t.Fatalf("valid credential: status %d %s", res.StatusCode, body)
	}
	if got := clientAuth.Load().([]string); len(got) != 1 || got[0] != "SharedSecret s3" {
		t.Errorf("ES-Client-Authentication upstream = %q", got)
	}

	fp.set(auth.Basic("shipper", "wrong"), nil)
	if res, _ = do(t, "GET", front+"/", ""); res.StatusCode != 401 {
		t.Fatalf("refused credential: status %d", res.StatusCode)
	}
	fp.mu.Lock()
	rej := fp.rejected
	fp.mu.Unlock()
	if want := auth.Basic("shipper", "wrong").Header(); len(rej) != 1 || rej[0] != want {
		t.Errorf("Rejected got %d calls (%v)", len(rej), len(rej) == 1 && rej[0] == want)
	}
}
