package esserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/esgate/esgate/test/issuer"
)

type jwtKeys struct {
	rsa  *rsa.PrivateKey
	ec   *ecdsa.PrivateKey
	hmac string
}

func newJWTKeys(t *testing.T) jwtKeys {
	t.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return jwtKeys{rsa: rk, ec: ek, hmac: "0123456789abcdef0123456789abcdef"}
}

// TestJWTValidationOrder runs one row per check of JwtAuthenticator, in
// Elasticsearch's order; rows failing two checks show which comes first.
// The 401 is the same for every row; JWTStats().Reasons names the check.
func TestJWTValidationOrder(t *testing.T) {
	keys := newJWTKeys(t)
	dir := t.TempDir()
	jwks := filepath.Join(dir, "jwks.json")
	os.WriteFile(jwks, issuer.JWKS(issuer.JWK(&keys.rsa.PublicKey, "rsa1", "RS256"), issuer.JWK(&keys.ec.PublicKey, "ec1", ""), issuer.JWK(&keys.rsa.PublicKey, "rsa-any", "")), 0o644)
	now := time.Unix(1_800_000_000, 500_000_000)
	c := newTC(t, Options{Now: func() time.Time { return now }, JWTRealms: []JWTRealm{{Name: "jwt1", Settings: map[string]any{
		"order":                               1,
		"allowed_issuer":                      "https://issuer.example",
		"allowed_audiences":                   "es01,es02",
		"allowed_subjects":                    []string{"logstash"},
		"allowed_subject_patterns":            []string{"svc-*", "/system:serviceaccount:logs:.*/"},
		"allowed_signature_algorithms":        []string{"RS256", "PS256", "ES256", "HS256"},
		"claims.principal":                    "sub",
		"allowed_clock_skew":                  "10s",
		"required_claims.tenant":              "blue",
		"pkc_jwkset_path":                     jwks,
		"hmac_key":                            keys.hmac,
		"client_authentication.shared_secret": "client-secret",
	}}}})
	sec := int64(1_800_000_000)
	base := func() map[string]any {
		return map[string]any{"iss": "https://issuer.example", "sub": "logstash", "aud": "es01", "iat": sec - 5, "nbf": sec - 5, "exp": sec + 60, "tenant": "blue"}
	}
	type row struct {
		name   string
		hdr    map[string]any
		claims func(map[string]any)
		key    any // default RSA
		secret string
		want   string // "" accepted, else the failing check
	}
	del := func(names ...string) func(map[string]any) {
		return func(m map[string]any) {
			for _, n := range names {
				delete(m, n)
			}
		}
	}
	set := func(kv ...any) func(map[string]any) {
		return func(m map[string]any) {
			for i := 0; i+1 < len(kv); i += 2 {
				m[kv[i].(string)] = kv[i+1]
			}
		}
	}
	rows := []row{
		{name: "valid RS256", want: ""},
		{name: "valid ES256", hdr: map[string]any{"alg": "ES256", "kid": "ec1"}, key: keys.ec},
		{name: "valid HS256 (hmac_key)", hdr: map[string]any{"alg": "HS256"}, key: []byte(keys.hmac)},
		{name: "valid PS256", hdr: map[string]any{"alg": "PS256", "kid": "rsa-any"}, key: keys.rsa},
		{name: "PS256 on a JWK whose alg is RS256", hdr: map[string]any{"alg": "PS256", "kid": "rsa1"}, key: keys.rsa, want: "signature"},
		{name: "typ JWT", hdr: map[string]any{"alg": "RS256", "typ": "JWT", "kid": "rsa1"}},
		{name: "aud array, one allowed", claims: set("aud", []any{"other", "es02"})},
		{name: "sub by wildcard pattern", claims: set("sub", "svc-shipper")},
		{name: "sub by regexp pattern", claims: set("sub", "system:serviceaccount:logs:shipper")},
		{name: "exp passed within skew", claims: set("exp", sec-9)},
		{name: "iat ahead within skew", claims: set("iat", sec+10)},
		{name: "no nbf", claims: del("nbf")},
		{name: "kid unknown, key without kid", hdr: map[string]any{"alg": "ES256", "kid": "other"}, key: keys.ec, want: "signature"},
		{name: "secret missing", secret: "-", want: "client_authentication"},
		{name: "secret wrong", secret: "nope", want: "client_authentication"},
		{name: "typ at+jwt on id_token realm", hdr: map[string]any{"alg": "RS256", "typ": "at+jwt"}, want: "typ"},
		{name: "iss missing", claims: del("iss"), want: "iss"},
		{name: "iss other", claims: set("iss", "https://evil.example"), want: "iss"},
		{name: "iss array", claims: set("iss", []any{"https://issuer.example"}), want: "iss"},
		{name: "sub missing", claims: del("sub"), want: "sub"},
		{name: "sub not allowed", claims: set("sub", "intruder"), want: "sub"},
		{name: "aud missing", claims: del("aud"), want: "aud"},
		{name: "aud other", claims: set("aud", "kibana"), want: "aud"},
		{name: "alg not allowed", hdr: map[string]any{"alg": "RS384"}, want: "alg"},
		{name: "iat missing", claims: del("iat"), want: "iat"},
		{name: "iat ahead beyond skew", claims: set("iat", sec+11), want: "iat"},
		{name: "iat in milliseconds", claims: set("iat", (sec-5)*1000), want: "iat"},
		{name: "exp missing", claims: del("exp"), want: "exp"},
		{name: "exp passed beyond skew", claims: set("exp", sec-10), want: "exp"},
		{name: "nbf ahead beyond skew", claims: set("nbf", sec+11), want: "nbf"},
		{name: "auth_time ahead beyond skew", claims: set("auth_time", sec+11), want: "auth_time"},
		{name: "required claim other", claims: set("tenant", "red"), want: "required_claims"},
		{name: "required claim missing", claims: del("tenant"), want: "required_claims"},
		{name: "signature by another key", key: mustRSA(t), want: "signature"},
		{name: "HS256 with another secret", hdr: map[string]any{"alg": "HS256"}, key: []byte("another-secret-another-secret-32"), want: "signature"},
		// Two failures: the earlier check is the one reported.
		{name: "secret missing + iss other", secret: "-", claims: set("iss", "x"), want: "client_authentication"},
		{name: "typ + iss", hdr: map[string]any{"alg": "RS256", "typ": "JOSE"}, claims: set("iss", "x"), want: "typ"},
		{name: "iss + expired", claims: set("iss", "x", "exp", sec-100), want: "iss"},
		{name: "sub + aud", claims: set("sub", "intruder", "aud", "kibana"), want: "sub"},
		{name: "aud + alg", hdr: map[string]any{"alg": "RS512"}, claims: set("aud", "kibana"), want: "aud"},
		{name: "alg + expired", hdr: map[string]any{"alg": "RS512"}, claims: set("exp", sec-100), want: "alg"},
		{name: "iat + exp", claims: set("iat", sec+100, "exp", sec-100), want: "iat"},
		{name: "exp + nbf", claims: set("nbf", sec+100, "exp", sec-100), want: "exp"},
		{name: "nbf + required claim", claims: set("nbf", sec+100, "tenant", "red"), want: "nbf"},
		{name: "required claim + signature", claims: set("tenant", "red"), key: mustRSA(t), want: "required_claims"},
	}
	for _, rw := range rows {
		t.Run(rw.name, func(t *testing.T) {
			hdr := rw.hdr
			if hdr == nil {
				hdr = map[string]any{"alg": "RS256", "kid": "rsa1"}
			}
			claims := base()
			if rw.claims != nil {
				rw.claims(claims)
			}
			key := rw.key
			if key == nil {
				key = keys.rsa
			}
			tok, err := issuer.Sign(hdr, claims, key)
			if err != nil {
				t.Fatal(err)
			}
			h := bearer(tok)
			switch rw.secret {
			case "":
				h = append(h, "ES-Client-Authentication", "SharedSecret client-secret")
			case "-":
			default:
				h = append(h, "ES-Client-Authentication", "SharedSecret "+rw.secret)
			}
			before := c.s.JWTStats().Reasons
			res, body := c.call("GET", "/_security/_authenticate", "", h...)
			after := c.s.JWTStats().Reasons
			if rw.want == "" {
				if res.StatusCode != 200 {
					t.Fatalf("%d %s (reasons %v)", res.StatusCode, body, after)
				}
				return
			}
			if res.StatusCode != 401 {
				t.Fatalf("want 401 for %s, got %d %s", rw.want, res.StatusCode, body)
			}
			if after[rw.want] != before[rw.want]+1 {
				t.Fatalf("want check %s to fail; reasons before %v after %v", rw.want, before, after)
			}
			if !strings.Contains(body, `"reason":"unable to authenticate user [`) {
				t.Fatalf("401 body: %s", body)
			}
		})
	}
}

func mustRSA(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestJWTAccessTokenTyp: an access_token realm takes typ at+jwt from 9.1
// (PR #126687), not before; an id_token realm never does.
func TestJWTAccessTokenTyp(t *testing.T) {
	keys := newJWTKeys(t)
	now := time.Now()
	tok, _ := issuer.Sign(map[string]any{"alg": "HS256", "typ": "at+jwt"}, map[string]any{"iss": "i", "sub": "svc-a", "aud": "es", "iat": now.Unix(), "exp": now.Unix() + 60}, []byte(keys.hmac))
	for _, tc := range []struct {
		version, tokenType string
		status             int
	}{{"8.15.3", "access_token", 401}, {"9.0.3", "access_token", 401}, {"9.1.5", "access_token", 200}, {"9.1.5", "id_token", 401}} {
		settings := map[string]any{"order": 1, "allowed_issuer": "i", "allowed_audiences": "es", "claims.principal": "sub", "token_type": tc.tokenType,
			"allowed_subject_patterns": "svc-*", "allowed_signature_algorithms": "HS256", "hmac_key": keys.hmac, "client_authentication.type": "none"}
		c := newTC(t, Options{Version: tc.version, JWTRealms: []JWTRealm{{Name: "jwt1", Settings: settings}}})
		if res, body := c.call("GET", "/_security/_authenticate", "", bearer(tok)...); res.StatusCode != tc.status {
			t.Errorf("%s %s: %d %s", tc.version, tc.tokenType, res.StatusCode, body)
		} else if tc.status == 200 && !strings.Contains(body, `"jwt_token_type":"access_token"`) {
			t.Errorf("metadata: %s", body)
		}
	}
}
