package esserver

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/esgate/esgate/test/issuer"
)

// jwtRealmSettings is a realm trusting iss through its JWKS URL.
func jwtRealmSettings(iss *issuer.Server, issCA string, extra map[string]any) map[string]any {
	m := map[string]any{
		"order":                       2,
		"allowed_issuer":              iss.Issuer(),
		"allowed_audiences":           []string{"elasticsearch"},
		"claims.principal":            "sub",
		"client_authentication.type":  "none",
		"pkc_jwkset_path":             iss.JWKSURL,
		"ssl.certificate_authorities": []string{issCA},
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func bearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

func TestJWTRealmEndToEnd(t *testing.T) {
	iss, issCA := issuer.StartT(t, issuer.Options{Lifetime: time.Minute})
	iss.AddClient("logstash", "s3cret")
	c := newTC(t, Options{JWTRealms: []JWTRealm{{Name: "jwt1", Settings: jwtRealmSettings(iss, issCA, map[string]any{
		"claims.mail": "email",
	})}}})
	// Without a mapping the user authenticates with no roles.
	tok, err := iss.Mint("logstash", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	res, body := c.call("GET", "/_security/_authenticate", "", bearer(tok)...)
	if res.StatusCode != 200 {
		t.Fatalf("authenticate: %d %s", res.StatusCode, body)
	}
	var auth struct {
		Username      string         `json:"username"`
		Roles         []string       `json:"roles"`
		Metadata      map[string]any `json:"metadata"`
		Realm         map[string]any `json:"authentication_realm"`
		Lookup        map[string]any `json:"lookup_realm"`
		Type          string         `json:"authentication_type"`
		Email, FullNm any
	}
	json.Unmarshal([]byte(body), &auth)
	if auth.Username != "logstash" || len(auth.Roles) != 0 || auth.Realm["name"] != "jwt1" || auth.Realm["type"] != "jwt" ||
		auth.Lookup["name"] != "jwt1" || auth.Type != "realm" {
		t.Fatalf("authenticate: %s", body)
	}
	if auth.Metadata["jwt_token_type"] != "id_token" || auth.Metadata["jwt_claim_sub"] != "logstash" ||
		auth.Metadata["jwt_claim_iss"] != iss.Issuer() || auth.Metadata["jwt_claim_aud"] != "elasticsearch" {
		t.Fatalf("metadata: %v", auth.Metadata)
	}
	for _, k := range []string{"jwt_claim_exp", "jwt_claim_iat", "jwt_claim_nbf"} {
		if _, ok := auth.Metadata[k]; ok {
			t.Fatalf("metadata has %s: %v", k, auth.Metadata)
		}
	}
	// No roles: a bulk is forbidden.
	res, body = c.call("POST", "/_bulk", "{\"create\":{\"_index\":\"logs\"}}\n{}\n", append(bearer(tok), "Content-Type", "application/x-ndjson")...)
	if res.StatusCode != 200 || !strings.Contains(body, `"status":403`) {
		t.Fatalf("bulk without roles: %d %s", res.StatusCode, body)
	}
	// A role mapping through the API (as elastic) gives the role.
	res, body = c.call("PUT", "/_security/role_mapping/shippers", `{"roles":["writer"],"enabled":true,"rules":{"all":[{"field":{"realm.name":"jwt1"}},{"field":{"username":"logs*"}}]}}`,
		with(elastic, "Content-Type", "application/json")...)
	if res.StatusCode != 200 || body != `{"role_mapping":{"created":true}}` {
		t.Fatalf("put mapping: %d %s", res.StatusCode, body)
	}
	c.s.PutRole("writer", Role{Indices: []IndexPrivileges{{Names: []string{"logs*"}, Privileges: []string{"create_doc", "create_index"}}}})
	res, body = c.call("POST", "/_bulk", "{\"create\":{\"_index\":\"logs\"}}\n{}\n", append(bearer(tok), "Content-Type", "application/x-ndjson")...)
	if res.StatusCode != 200 || !strings.Contains(body, `"status":201`) {
		t.Fatalf("bulk with mapped role: %d %s", res.StatusCode, body)
	}
	// The mapped user has no manage_security: the role-mapping API is 403.
	res, _ = c.call("GET", "/_security/role_mapping", "", bearer(tok)...)
	if res.StatusCode != 403 {
		t.Fatalf("role_mapping as jwt user: %d", res.StatusCode)
	}
	st := c.s.JWTStats()
	if st.Requests != 4 || st.Accepted != 4 || st.Rejected != 0 || st.ExpiredOnArrival != 0 {
		t.Fatalf("stats: %+v", st)
	}
	// A token from the token endpoint works the same.
	form := url.Values{"grant_type": {"client_credentials"}}
	req, _ := http.NewRequest("POST", iss.TokenURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("logstash", "s3cret")
	cli := issuerClient(t, issCA)
	resp, err := cli.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tr)
	resp.Body.Close()
	if res, body := c.call("GET", "/_security/_authenticate", "", bearer(tr.AccessToken)...); res.StatusCode != 200 {
		t.Fatalf("token endpoint's token: %d %s", res.StatusCode, body)
	}
}

func issuerClient(t *testing.T, caPath string) *http.Client {
	t.Helper()
	cfg, err := clientTLS(caPath)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
}

func clientTLS(caPath string) (*tls.Config, error) {
	b, err := os.ReadFile(caPath)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(b)
	return &tls.Config{RootCAs: pool}, nil
}
