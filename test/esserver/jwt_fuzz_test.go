package esserver

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestParseJWT(t *testing.T) {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct {
		tok string
		ok  bool
	}{
		{enc(`{"alg":"RS256"}`) + "." + enc(`{"sub":"a"}`) + "." + enc("sig"), true},
		{enc(`{"alg":"RS256"}`) + "." + enc(`{}`) + "." + enc("sig"), true},
		{enc(`{"alg":"none"}`) + "." + enc(`{"sub":"a"}`) + ".", false},
		{enc(`{"alg":"RS256"}`) + "." + enc(`{"sub":"a"}`) + ".", false},
		{enc(`{}`) + "." + enc(`{"sub":"a"}`) + "." + enc("sig"), false},
		{enc(`{"alg":"RS256"}`) + "." + enc(`[1]`) + "." + enc("sig"), false},
		{enc(`{"alg":"RS256"}`) + "." + enc(`null`) + "." + enc("sig"), false},
		{enc(`{"alg":"RS256"}`) + "." + enc(`{"a":1}{"b":2}`) + "." + enc("sig"), false},
		{enc(`{"alg":"RS256"}`) + "." + enc(`{"sub":"a"}`), false},
		{"a.b.c.d", false},
		{"!!.??.**", false},
		{"", false},
	} {
		_, err := parseJWT(tc.tok)
		if (err == nil) != tc.ok {
			t.Errorf("%q: err %v", tc.tok, err)
		}
	}
	tok, _ := parseJWT(enc(`{"alg":"RS256"}`) + "." + enc(`{"sub":"a","aud":["x","y"],"n":1,"mixed":["a",1],"empty":[],"iss":"i"}`) + "." + enc("s"))
	if got := tok.tokenPrincipal(); got != "'aud:x,y' 'iss:i' 'sub:a'" {
		t.Fatalf("principal %s", got)
	}
}

// FuzzParseJWT: the parser never panics, and what it accepts has three
// parts, a non-none alg and a signature; the token principal is built.
func FuzzParseJWT(f *testing.F) {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	f.Add(enc(`{"alg":"RS256","kid":"k"}`) + "." + enc(`{"sub":"a","aud":["x"],"exp":1.5}`) + "." + enc("sig"))
	f.Add(enc(`{"alg":"none"}`) + "." + enc(`{}`) + ".")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := parseJWT(s)
		if err != nil {
			return
		}
		if strings.Count(s, ".") != 2 || tok.alg() == "" || strings.EqualFold(tok.alg(), "none") || len(tok.sig) == 0 {
			t.Fatalf("accepted %q", s)
		}
		_ = tok.tokenPrincipal()
		for _, c := range []string{"exp", "iat", "nbf"} {
			tok.dateClaim(c)
		}
		candidates([]jwk{{kid: "k", kty: "oct", secret: []byte("0123456789abcdef0123456789abcdef")}}, tok)
	})
}

// FuzzParseJWKS: the JWKS parser never panics.
func FuzzParseJWKS(f *testing.F) {
	f.Add(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"},{"kty":"EC","crv":"P-256","x":"AA","y":"AA"},{"kty":"oct","k":"AA"}]}`)
	f.Add(`{"keys":null}`)
	f.Fuzz(func(t *testing.T, s string) {
		parseJWKS([]byte(s))
	})
}
