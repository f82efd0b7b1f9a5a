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
