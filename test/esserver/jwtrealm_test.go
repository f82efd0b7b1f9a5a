package esserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/esgate/esgate/test/issuer"
)

// TestJWT401Shapes: a rejected JWT, a Bearer that is not a JWT, an empty
// shared secret and two Authorization headers.
func TestJWT401Shapes(t *testing.T) {
	iss, issCA := issuer.StartT(t, issuer.Options{})
	c := newTC(t, Options{JWTRealms: []JWTRealm{{Name: "jwt1", Settings: jwtRealmSettings(iss, issCA, map[string]any{
		"client_authentication.type": "shared_secret", "client_authentication.shared_secret": "s1",
	})}}})
	mapAll(c.s, "jwt1")
	tok, _ := iss.Mint("logstash", "", 0)
	res, body := c.call("GET", "/_security/_authenticate?human=false", "", bearer(tok)...)
	principal := "'aud:elasticsearch' 'iss:" + iss.Issuer() + "' 'jti:"
	if res.StatusCode != 401 || !strings.Contains(body, `"reason":"unable to authenticate user [`+principal) ||
		!strings.Contains(body, `'sub:logstash'] for REST request [/_security/_authenticate?human=false]"`) ||
		strings.Count(body, `"additional_unsuccessful_credentials":"oauth2 token: invalid token"`) != 2 {
		t.Fatalf("missing secret: %d %s", res.StatusCode, body)
	}
	if got := res.Header.Values("WWW-Authenticate"); len(got) != 3 || got[1] != `Bearer realm="security"` {
		t.Fatalf("WWW-Authenticate: %q", got)
	}
	// An all-numeric token has no principal claims.
	bare, _ := issuer.Sign(map[string]any{"alg": "RS256"}, map[string]any{"exp": 1}, mustRSA(t))
	var e struct {
		Error struct{ Reason string } `json:"error"`
	}
	_, body = c.call("GET", "/", "", bearer(bare)...)
	if json.Unmarshal([]byte(body), &e); e.Error.Reason != "unable to authenticate user [<unrecognized JWT token>] for REST request [/]" {
		t.Fatalf("unrecognized: %s", body)
	}
	for _, notJWT := range []string{"abc.def.ghi", "opaque-token", strings.Replace(tok, ".", "", 1)} {
		res, body := c.call("GET", "/", "", bearer(notJWT)...)
		if res.StatusCode != 401 || !strings.Contains(body, `"reason":"`+unableReason+`"`) {
			t.Fatalf("not a JWT %q: %d %s", notJWT, res.StatusCode, body)
		}
	}
	// Lower-case scheme: the JWT realm matches "Bearer " case-sensitively.
	if res, body := c.call("GET", "/", "", "Authorization", "bearer "+tok, "ES-Client-Authentication", "SharedSecret s1"); res.StatusCode != 401 || !strings.Contains(body, unableReason) {
		t.Fatalf("lower-case bearer: %d %s", res.StatusCode, body)
	}
	if res, body := c.call("GET", "/", "", append(bearer(tok), "ES-Client-Authentication", "sharedsecret s1")...); res.StatusCode != 200 {
		t.Fatalf("scheme is case-insensitive: %d %s", res.StatusCode, body)
	}
	// HTTP trims the trailing spaces: a bare scheme is a missing secret.
	before := c.s.JWTStats().Reasons["client_authentication"]
	if res, body := c.call("GET", "/", "", append(bearer(tok), "ES-Client-Authentication", "SharedSecret  ")...); res.StatusCode != 401 || !strings.Contains(body, `"reason":"unable to authenticate user [`) ||
		c.s.JWTStats().Reasons["client_authentication"] != before+1 {
		t.Fatalf("empty secret: %d %s", res.StatusCode, body)
	}
	req, _ := http.NewRequest("GET", c.s.URL+"/", nil)
	req.Header.Add("Authorization", "Bearer "+tok)
	req.Header.Add("Authorization", "ApiKey Zm9vOmJhcg==")
	resp, err := c.cli.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("two Authorization headers: %d", resp.StatusCode)
	}
}

// TestJWTSharedSecretRotation: keystore update + reload_secure_settings;
// the old secret works for rotation_grace_period, then not.
func TestJWTSharedSecretRotation(t *testing.T) {
	iss, issCA := issuer.StartT(t, issuer.Options{})
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	c := newTC(t, Options{Now: func() time.Time { return time.Unix(0, now.Load()) }, JWTRealms: []JWTRealm{{Name: "jwt1", Settings: jwtRealmSettings(iss, issCA, map[string]any{
		"client_authentication.type": "shared_secret", "client_authentication.shared_secret": "old-secret",
		"client_authentication.rotation_grace_period": "30s",
	})}}})
	mapAll(c.s, "jwt1")
	tok, _ := iss.Mint("logstash", "", time.Hour)
	status := func(secret string) int {
		res, _ := c.call("GET", "/", "", append(bearer(tok), "ES-Client-Authentication", "SharedSecret "+secret)...)
		return res.StatusCode
	}
	if status("old-secret") != 200 || status("new-secret") != 401 {
		t.Fatal("before rotation")
	}
	c.s.SetSecureSetting("xpack.security.authc.realms.jwt.jwt1.client_authentication.shared_secret", "new-secret")
	if status("new-secret") != 401 {
		t.Fatal("a keystore update alone changes nothing")
	}
	res, body := c.call("POST", "/_nodes/reload_secure_settings", "", elastic...)
	if res.StatusCode != 200 || !strings.Contains(body, `"_nodes":{"total":1,"successful":1,"failed":0}`) {
		t.Fatalf("reload: %d %s", res.StatusCode, body)
	}
	if status("new-secret") != 200 || status("old-secret") != 200 {
		t.Fatal("within the grace period both secrets work")
	}
	now.Add(int64(31 * time.Second))
	if status("new-secret") != 200 || status("old-secret") != 401 {
		t.Fatal("after the grace period only the new secret works")
	}
	if st := c.s.JWTStats(); st.Reasons["client_authentication"] != 3 {
		t.Fatalf("reasons: %v", st.Reasons)
	}
}

// TestJWTJWKSReload: a key rollover at the issuer is picked up on the
// first signature failure, with one fetch shared by concurrent requests;
// an unchanged JWKS keeps the failure.
func TestJWTJWKSReload(t *testing.T) {
	iss, issCA := issuer.StartT(t, issuer.Options{})
	c := newTC(t, Options{JWTRealms: []JWTRealm{{Name: "jwt1", Settings: jwtRealmSettings(iss, issCA, nil)}}})
	mapAll(c.s, "jwt1")
	fetches := iss.JWKSRequests()
	if fetches != 1 {
		t.Fatalf("startup fetches: %d", fetches)
	}
	if err := iss.RotateKey(false); err != nil {
		t.Fatal(err)
	}
	tok, _ := iss.Mint("logstash", "", 0)
	var wg sync.WaitGroup
	var ok atomic.Int64
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", c.s.URL+"/", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			if res, err := c.cli.Do(req); err == nil {
				res.Body.Close()
				if res.StatusCode == 200 {
					ok.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 8 || iss.JWKSRequests() != 2 {
		t.Fatalf("ok %d, JWKS fetches %d (want 8, 2)", ok.Load(), iss.JWKSRequests())
	}
	// A token from an unknown key: one more fetch, unchanged, still 401.
	bad, _ := issuer.Sign(map[string]any{"alg": "RS256", "kid": "x"}, map[string]any{"iss": iss.Issuer(), "sub": "a", "aud": "elasticsearch", "iat": time.Now().Unix(), "exp": time.Now().Unix() + 60}, mustRSA(t))
	if res, _ := c.call("GET", "/", "", bearer(bad)...); res.StatusCode != 401 || iss.JWKSRequests() != 3 {
		t.Fatalf("unknown key: %d, fetches %d", res.StatusCode, iss.JWKSRequests())
	}
}

// TestJWTExpiredOnArrival counts tokens expired at arrival even when the
// skew lets the realm accept them.
func TestJWTExpiredOnArrival(t *testing.T) {
	iss, issCA := issuer.StartT(t, issuer.Options{})
	c := newTC(t, Options{JWTRealms: []JWTRealm{{Name: "jwt1", Settings: jwtRealmSettings(iss, issCA, nil)}}})
	mapAll(c.s, "jwt1")
	key, kid := iss.SigningKey()
	mk := func(expIn int64) string {
		n := time.Now().Unix()
		tok, _ := issuer.Sign(map[string]any{"alg": "RS256", "kid": kid}, map[string]any{"iss": iss.Issuer(), "sub": "a", "aud": "elasticsearch", "iat": n - 100, "exp": n + expIn}, key)
		return tok
	}
	for _, tc := range []struct {
		expIn  int64
		status int
	}{{3600, 200}, {-5, 200}, {-120, 401}} {
		if res, body := c.call("GET", "/", "", bearer(mk(tc.expIn))...); res.StatusCode != tc.status {
			t.Fatalf("exp in %d: %d %s", tc.expIn, res.StatusCode, body)
		}
	}
	st := c.s.JWTStats()
	if st.Requests != 3 || st.Accepted != 2 || st.Rejected != 1 || st.ExpiredOnArrival != 2 || st.Reasons["exp"] != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestJWTRealmSettingsErrors: startup errors name the setting.
func TestJWTRealmSettingsErrors(t *testing.T) {
	dir := t.TempDir()
	jwks := filepath.Join(dir, "jwks.json")
	os.WriteFile(jwks, issuer.JWKS(issuer.JWK(&mustRSA(t).PublicKey, "k", "")), 0o644)
	ok := func() map[string]any {
		return map[string]any{"order": 1, "allowed_issuer": "i", "allowed_audiences": "a", "claims.principal": "sub",
			"client_authentication.type": "none", "pkc_jwkset_path": jwks}
	}
	p := "xpack.security.authc.realms.jwt.r1."
	for _, tc := range []struct {
		name string
		edit func(map[string]any)
		want string
	}{
		{"valid", func(map[string]any) {}, ""},
		{"no principal", func(m map[string]any) { delete(m, "claims.principal") }, "Setting [" + p + "claims.principal] is required"},
		{"no issuer", func(m map[string]any) { delete(m, "allowed_issuer") }, p + "allowed_issuer"},
		{"no audiences", func(m map[string]any) { delete(m, "allowed_audiences") }, p + "allowed_audiences"},
		{"access_token without subjects", func(m map[string]any) { m["token_type"] = "access_token" }, p + "allowed_subjects"},
		{"access_token with patterns", func(m map[string]any) { m["token_type"] = "access_token"; m["allowed_subject_patterns"] = "svc-*" }, ""},
		{"bad token_type", func(m map[string]any) { m["token_type"] = "jwt" }, p + "token_type"},
		{"shared_secret without secret", func(m map[string]any) { delete(m, "client_authentication.type") }, p + "client_authentication.shared_secret"},
		{"none with secret", func(m map[string]any) { m["client_authentication.shared_secret"] = "x" }, p + "client_authentication.shared_secret"},
		{"bad alg", func(m map[string]any) { m["allowed_signature_algorithms"] = "RS256,none" }, p + "allowed_signature_algorithms"},
		{"HS256 without hmac_key", func(m map[string]any) { m["allowed_signature_algorithms"] = "HS256" }, p + "hmac_key"},
		{"http JWKS URL", func(m map[string]any) { m["pkc_jwkset_path"] = "http://127.0.0.1:1/jwks" }, "Only HTTPS"},
		{"JWKS file missing", func(m map[string]any) { m["pkc_jwkset_path"] = filepath.Join(dir, "nope") }, "failed to load PKC JWKs for realm [r1]"},
		{"bad skew", func(m map[string]any) { m["allowed_clock_skew"] = "60" }, p + "allowed_clock_skew"},
		{"unknown setting", func(m map[string]any) { m["allowed_issuers"] = "x" }, "unknown setting [" + p + "allowed_issuers]"},
		{"reserved required claim", func(m map[string]any) { m["required_claims.exp"] = "1" }, p + "required_claims.exp"},
		{"no order", func(m map[string]any) { delete(m, "order") }, p + "order"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := ok()
			tc.edit(m)
			s, err := Start(Options{JWTRealms: []JWTRealm{{Name: "r1", Settings: m}}})
			if s != nil {
				s.Close()
			}
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("want %q, got %v", tc.want, err)
			}
		})
	}
}

func TestParseJWTRealms(t *testing.T) {
	yml := `
xpack.security.authc.realms.jwt.jwt2:
  order: 2
  allowed_issuer: https://iss
  allowed_audiences: [es01, es02]
  claims:
    principal: sub
xpack.security.authc.realms.jwt.jwt1.order: 1
xpack.security.authc.realms.jwt.jwt1.allowed_clock_skew: 0s
`
	realms, err := ParseJWTRealms([]byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(realms)
	want := "[{jwt1 map[allowed_clock_skew:0s order:1]} {jwt2 map[allowed_audiences:[es01 es02] allowed_issuer:https://iss claims.principal:sub order:2]}]"
	if got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
	for _, bad := range []string{"xpack.security.authc.realms.native.n1.order: 1", "order: 1", "[1, 2]", "xpack.security.authc.realms.jwt.: 1"} {
		if _, err := ParseJWTRealms([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// mapAll maps every user of realm to the viewer role.
func mapAll(s *Server, realm string) {
	s.PutRoleMapping("all-"+realm, RoleMapping{Roles: []string{"viewer"}, Enabled: true,
		Rules: map[string]any{"field": map[string]any{"realm.name": realm}}})
}
