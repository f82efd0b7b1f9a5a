package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/esgate/esgate/auth"
	"github.com/esgate/esgate/auth/token"
)

// TestTokenCredentialErrors: each misuse of the oauth2_* and
// jwt_shared_secret keys is refused at startup, naming the key and the fix.
func TestTokenCredentialErrors(t *testing.T) {
	const base = "hosts: https://x\n"
	const ok = base + "oauth2_token_url: https://issuer.example/token\noauth2_client_id: logs\noauth2_client_secret: S3CRET-x\n"
	for _, tc := range []struct{ name, yaml, want string }{
		{"oauth2 beside api_key", ok + "api_key: a:b\n", "multiple authentication options are specified (api_key, oauth2_token_url): set exactly one (a client certificate may be added to any of them)"},
		{"oauth2 beside bearer", ok + "bearer_token: t\n", "multiple authentication options are specified (bearer_token, oauth2_token_url): set exactly one (a client certificate may be added to any of them)"},
		{"http token URL", base + "oauth2_token_url: http://issuer.example/token\noauth2_client_id: a\noauth2_client_secret: S3CRET-x\n", `oauth2_token_url "http://issuer.example/token": use https: the client secret and the tokens would cross the network in clear (http is accepted on loopback only)`},
		{"credentials in the token URL", base + "oauth2_token_url: https://a:S3CRET-x@issuer.example/token\noauth2_client_id: a\noauth2_client_secret: S3CRET-x\n", `oauth2_token_url "https://a:xxxxx@issuer.example/token": credentials in the URL are not allowed: use oauth2_client_id and oauth2_client_secret`},
		{"no client id", base + "oauth2_token_url: https://issuer.example/token\noauth2_client_secret: S3CRET-x\n", "oauth2_client_id: required with oauth2_token_url: the client's id at the token endpoint"},
		{"no client secret", base + "oauth2_token_url: https://issuer.example/token\noauth2_client_id: a\n", "oauth2_client_secret: required with oauth2_token_url (or oauth2_client_secret_file; the keystore and ${VAR} work too)"},
		{"secret and file", ok + "oauth2_client_secret_file: /x\n", "oauth2_client_secret and oauth2_client_secret_file are mutually exclusive"},
		{"secret file missing", base + "oauth2_token_url: https://issuer.example/token\noauth2_client_id: a\noauth2_client_secret_file: /nonexistent/s\n", "oauth2_client_secret_file: open /nonexistent/s: no such file or directory"},
		{"bad auth style", ok + "oauth2_auth_style: header\n", `oauth2_auth_style: want basic (HTTP Basic, RFC 6749's client_secret_basic) or params (client_id and client_secret in the form), got "header"`},
		{"scope in params", ok + "oauth2_endpoint_params:\n  scope: x\n", "oauth2_endpoint_params: scope: use oauth2_scopes"},
		{"client_secret in params", ok + "oauth2_endpoint_params:\n  client_secret: x\n", "oauth2_endpoint_params: client_secret: use oauth2_client_id and oauth2_client_secret (with oauth2_auth_style: params to send them in the form)"},
		{"scope with a space", ok + "oauth2_scopes: ['a b']\n", `oauth2_scopes: "a b" holds white space or a quote: give each scope as its own list item`},
		{"CA missing", ok + "oauth2_ssl_certificate_authorities: /nonexistent/ca.pem\n", "oauth2_ssl_certificate_authorities: reading CA file: open /nonexistent/ca.pem: no such file or directory"},
		{"oauth2 key without URL", base + "api_key: a:b\noauth2_client_id: a\n", "oauth2_client_id: needs oauth2_token_url, the token endpoint to get tokens from"},
		{"with api_key_management", ok + "api_key_management: true\n", "api_key_management: not with oauth2_token_url: the route's tokens are already short-lived; remove one of them"},
		{"shared secret with basic", base + "user: u\npassword: p\njwt_shared_secret: S3CRET-x\n", "jwt_shared_secret: it goes beside a JWT sent as Bearer to Elasticsearch's JWT realm: set oauth2_token_url, bearer_token or bearer_token_file as well"},
		{"shared secret and file", base + "bearer_token: t\njwt_shared_secret: S3CRET-x\njwt_shared_secret_file: /x\n", "jwt_shared_secret and jwt_shared_secret_file are mutually exclusive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "esgate.yml")
			os.WriteFile(path, []byte(tc.yaml), 0o600)
			_, err := loadArgs([]string{"--config", path}, env(nil))
			if err == nil {
				t.Fatal("no error")
			}
			if err.Error() != tc.want {
				t.Errorf("got %q\n expected %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "S3CRET") {
				t.Error("the error shows a secret")
			}
		})
	}
}

// TestOAuth2Config: the keys as a route uses them, the client secret
// from the keystore/environment, and reloadable files for both secrets.
func TestOAuth2Config(t *testing.T) {
	dir := t.TempDir()
	shared := filepath.Join(dir, "shared")
	os.WriteFile(shared, []byte("shared-1\n"), 0o600)
	path := filepath.Join(dir, "esgate.yml")
	os.WriteFile(path, []byte(`hosts: https://es:9200
oauth2_token_url: http://127.0.0.1:8443/token
oauth2_client_id: logs
oauth2_client_secret: ${CLIENT_SECRET}
oauth2_scopes: [logs, es]
oauth2_endpoint_params:
  audience: elasticsearch
oauth2_auth_style: params
jwt_shared_secret_file: `+shared+"\n"), 0o600)
	cfg, err := loadArgs([]string{"--config", path}, env(map[string]string{"CLIENT_SECRET": "from-env"}))
	if err != nil {
		t.Fatal(err)
	}
	r := &cfg.Routes[0]
	o := r.OAuth2()
	if r.AuthKind() != "oauth2" || o == nil || o.TokenURL != "http://127.0.0.1:8443/token" || o.ClientID != "logs" ||
		strings.Join(o.Scopes, " ") != "logs es" || o.Params["audience"] != "elasticsearch" || o.AuthStyle != token.AuthParams {
		t.Fatalf("auth %q, oauth2 %+v", r.AuthKind(), o)
	}
	c, err := r.CredentialLoader()()
	if err != nil {
		t.Fatal(err)
	}
	cc, ok := c.(*token.Configured)
	if !ok || cc.ClientSecret() != "from-env" || cc.ClientAuthentication() != "SharedSecret shared-1" || c.Header() != "" {
		t.Fatalf("configured credential %v", c)
	}
	os.WriteFile(shared, []byte("shared-2\n"), 0o600)
	c, _ = r.CredentialLoader()()
	if c.(auth.ClientAuthenticator).ClientAuthentication() != "SharedSecret shared-2" {
		t.Error("shared secret file not re-read")
	}
	found := false
	for _, f := range r.Files() {
		found = found || f == shared
	}
	if !found {
		t.Error("jwt_shared_secret_file is not watched for changes")
	}
	// Beside a static bearer token.
	cfg, err = loadArgs([]string{"--hosts", "https://es", "--bearer-token", "tok", "--jwt-shared-secret", "s1"}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	c, _ = cfg.Routes[0].CredentialLoader()()
	if ca, ok := c.(auth.ClientAuthenticator); !ok || ca.ClientAuthentication() != "SharedSecret s1" || c.Header() != "Bearer tok" {
		t.Errorf("bearer with shared secret: %v", c)
	}
}
