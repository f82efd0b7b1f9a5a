package route

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/esgate/esgate/auth"
	"github.com/esgate/esgate/auth/token"
)

func jwtWith(claims map[string]any) string {
	b, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256"}`)) + "." + base64.RawURLEncoding.EncodeToString(b) + ".c2ln"
}

// TestNewProvider: which credential a route forwards with. A
// bearer_token_file holding a JWT is followed as a token; one holding
// anything else is today's configured credential; an OAuth2 route holds
// its first token, and a refused client names the keys to fix.
func TestNewProvider(t *testing.T) {
	dir := t.TempDir()
	opaque, jwtFile := filepath.Join(dir, "opaque"), filepath.Join(dir, "jwt")
	write(t, opaque, "AAEAAWVsYXN0aWMvZmxlZXQtc2VydmVyL3Rva2VuMTpzZWNyZXQ\n")
	tok := jwtWith(map[string]any{"sub": "system:serviceaccount:logs:shipper", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()})
	write(t, jwtFile, tok+"\n")

	p, err := newProvider(load(t, "--hosts", "https://127.0.0.1:9", "--bearer-token-file", opaque), Options{}, nil)
	if _, ok := p.(*auth.Source); !ok || err != nil {
		t.Errorf("opaque token file: %T %v", p, err)
	}
	p, err = newProvider(load(t, "--hosts", "https://127.0.0.1:9", "--bearer-token-file", jwtFile, "--jwt-shared-secret", "s1"), Options{}, nil)
	tp, ok := p.(*token.Provider)
	if !ok || err != nil {
		t.Fatalf("JWT token file: %T %v", p, err)
	}
	c, err := tp.Credential()
	if err != nil || c.Header() != "Bearer "+tok || c.(auth.ClientAuthenticator).ClientAuthentication() != "SharedSecret s1" {
		t.Errorf("JWT file credential: %v", err)
	}
	if i := tp.Info(); i.Subject != "system:serviceaccount:logs:shipper" || i.Kind != "bearer_jwt_file" {
		t.Errorf("info %+v", i)
	}

	var refuse atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if refuse.Load() {
			w.WriteHeader(401)
			fmt.Fprint(w, `{"error":"invalid_client"}`)
			return
		}
		fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":60}`, tok)
	}))
	defer srv.Close()
	cfg := load(t, "--hosts", "https://127.0.0.1:9", "--oauth2-token-url", srv.URL+"/token", "--oauth2-client-id", "logs", "--oauth2-client-secret", "S3CRET-x")
	r, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c, cerr := r.Credential()
	if cerr != nil || r.CredentialProvider().(auth.Credential).Kind() != "oauth2" || c.Header() != "Bearer "+tok {
		t.Errorf("oauth2 route credential %v (%v)", c, cerr)
	}
	if ok, why := r.Ready(); !ok && strings.Contains(why, "token") {
		t.Errorf("not ready: %s", why)
	}
	refuse.Store(true)
	_, err = New(cfg, Options{})
	if err == nil || !strings.Contains(err.Error(), "oauth2_client_id / oauth2_client_secret: the token endpoint refused the client: token endpoint "+srv.URL+"/token: invalid_client") ||
		strings.Contains(err.Error(), "S3CRET") {
		t.Errorf("refused client: %v", err)
	}
}

// TestReloadKeepsTokenProvider: a reload that keeps the token settings
// keeps the provider and its token, and puts a rotated client secret in
// force only once the new state is published; a change of the token
// settings builds a new provider with its own first token, and when that
// token cannot be had the reload fails and the old provider stays.
func TestReloadKeepsTokenProvider(t *testing.T) {
	tok := jwtWith(map[string]any{"sub": "logs", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()})
	var fetches atomic.Int64
	var refuse atomic.Bool
	var lastSecret atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, secret, _ := r.BasicAuth()
		lastSecret.Store(secret)
		w.Header().Set("Content-Type", "application/json")
		if refuse.Load() {
			w.WriteHeader(401)
			fmt.Fprint(w, `{"error":"invalid_client"}`)
			return
		}
		fetches.Add(1)
		fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":3600}`, tok)
	}))
	defer srv.Close()
	secretFile := filepath.Join(t.TempDir(), "secret")
	write(t, secretFile, "first-secret\n")
	args := []string{"--hosts", "https://127.0.0.1:9", "--oauth2-token-url", srv.URL + "/token", "--oauth2-client-id", "logs", "--oauth2-client-secret-file", secretFile}
	r, err := New(load(t, args...), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	first := r.CredentialProvider()
	if fetches.Load() != 1 {
		t.Fatalf("%d token requests at start", fetches.Load())
	}

	write(t, secretFile, "second-secret\n")
	if err := r.Reload(nil, "test"); err != nil {
		t.Fatal(err)
	}
	if r.CredentialProvider() != first || fetches.Load() != 1 {
		t.Fatalf("a reload of the same token settings: new provider %v, %d token requests", r.CredentialProvider() != first, fetches.Load())
	}
	if err := first.(*token.Provider).Init(t.Context()); err != nil || lastSecret.Load() != "second-secret" {
		t.Errorf("the next token request after the reload: %v, secret rotated %v", err, lastSecret.Load() == "second-secret")
	}

	refuse.Store(true)
	if err := r.Reload(load(t, append(args, "--oauth2-scopes", "write")...), "test"); err == nil {
		t.Fatal("a reload whose new token could not be had succeeded")
	}
	if r.CredentialProvider() != first {
		t.Fatal("a failed reload replaced the provider")
	}
	refuse.Store(false)
	n := fetches.Load()
	if err := r.Reload(load(t, append(args, "--oauth2-scopes", "write")...), "test"); err != nil {
		t.Fatal(err)
	}
	if r.CredentialProvider() == first || fetches.Load() != n+1 {
		t.Errorf("new scopes: kept provider %v, %d token requests (want %d)", r.CredentialProvider() == first, fetches.Load(), n+1)
	}
}
