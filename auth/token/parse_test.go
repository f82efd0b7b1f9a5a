package token

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseClaims(t *testing.T) {
	exp := time.Unix(1_800_000_060, 0).UTC()
	for _, tc := range []struct {
		name string
		tok  string
		want Claims
		err  bool
	}{
		{"full", makeJWT(map[string]any{"sub": "system:serviceaccount:logs:shipper", "iss": "https://k8s", "aud": []string{"elasticsearch"}, "exp": 1_800_000_060, "iat": 1_800_000_000}),
			Claims{Subject: "system:serviceaccount:logs:shipper", Issuer: "https://k8s", Audience: []string{"elasticsearch"}, Expiry: exp, IssuedAt: time.Unix(1_800_000_000, 0).UTC()}, false},
		{"aud string, fractional exp", makeJWT(map[string]any{"aud": "es", "exp": 1_800_000_060.5}),
			Claims{Audience: []string{"es"}, Expiry: exp.Add(500 * time.Millisecond)}, false},
		{"no exp", makeJWT(map[string]any{"sub": "x"}), Claims{Subject: "x"}, false},
		{"exp a string", makeJWT(map[string]any{"exp": "soon"}), Claims{}, true},
		{"two parts", "abc.def", Claims{}, true},
		{"opaque", "2YotnFZFEjr1zCsicMWpAA", Claims{}, true},
		{"alg none", "eyJhbGciOiJub25lIn0.eyJleHAiOjF9.", Claims{}, true},
		{"payload not JSON", "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln", Claims{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseClaims(tc.tok)
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want error %v", err, tc.err)
			}
			if err != nil {
				if strings.Contains(err.Error(), tc.tok) {
					t.Errorf("error quotes the token")
				}
				return
			}
			if got.Subject != tc.want.Subject || got.Issuer != tc.want.Issuer || strings.Join(got.Audience, ",") != strings.Join(tc.want.Audience, ",") ||
				!got.Expiry.Equal(tc.want.Expiry) || !got.IssuedAt.Equal(tc.want.IssuedAt) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseTokenResponse(t *testing.T) {
	jwt := makeJWT(map[string]any{"sub": "svc", "exp": 1_800_000_003})
	for _, tc := range []struct {
		name   string
		status int
		ct     string
		body   string
		exp    time.Duration // want ExpiresIn
		jwt    bool
		code   string // want EndpointError.Reason(); "" for success
		msg    string // in the error text
	}{
		{"expires_in", 200, "application/json", `{"access_token":"opaque-1","token_type":"Bearer","expires_in":3600}`, time.Hour, false, "", ""},
		{"expires_in quoted", 200, "application/json", `{"access_token":"opaque-1","token_type":"bearer","expires_in":"60"}`, time.Minute, false, "", ""},
		{"no expires_in: JWT exp", 200, "application/json", `{"access_token":"` + jwt + `","token_type":"Bearer"}`, 0, true, "", ""},
		{"200 with error", 200, "application/json", `{"error":"invalid_scope","error_description":"scope logs:write unknown"}`, 0, false, "invalid_scope", "invalid_scope (scope logs:write unknown)"},
		{"invalid_client", 401, "application/json", `{"error":"invalid_client","error_description":"bad\nsecret"}`, 0, false, "invalid_client", "invalid_client (badsecret)"},
		{"503 without body", 503, "text/html", `<html>down</html>`, 0, false, "http_503", "503 Service Unavailable"},
		{"HTML 200", 200, "text/html", `<html></html>`, 0, false, "bad_response", "text/html, not JSON"},
		{"no access_token", 200, "application/json", `{"token_type":"Bearer"}`, 0, false, "bad_response", "no access_token"},
		{"mac token", 200, "application/json", `{"access_token":"abc","token_type":"mac"}`, 0, false, "bad_response", "not Bearer"},
		{"token with a space", 200, "application/json", `{"access_token":"ab c","token_type":"Bearer"}`, 0, false, "bad_response", "cannot carry"},
		{"negative expires_in", 200, "application/json", `{"access_token":"abc","expires_in":-5}`, 0, false, "bad_response", "expires_in"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := ParseTokenResponse(tc.status, tc.ct, []byte(tc.body))
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				if tr.ExpiresIn != tc.exp || tr.JWT != tc.jwt {
					t.Errorf("got %+v", tr)
				}
				return
			}
			var ee *EndpointError
			if !errors.As(err, &ee) {
				t.Fatalf("err = %v, want *EndpointError", err)
			}
			if ee.Reason() != tc.code {
				t.Errorf("reason %q, want %q", ee.Reason(), tc.code)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q lacks %q", err, tc.msg)
			}
		})
	}
}

func TestTokenExpiry(t *testing.T) {
	sent := time.Unix(1_800_000_000, 0)
	jwt := func(exp int64) string { return makeJWT(map[string]any{"exp": exp}) }
	for _, tc := range []struct {
		name string
		body string
		want time.Time
	}{
		{"expires_in only", `{"access_token":"x","expires_in":30}`, sent.Add(30 * time.Second)},
		{"JWT exp only", `{"access_token":"` + jwt(1_800_000_003) + `"}`, time.Unix(1_800_000_003, 0)},
		{"earlier of the two", `{"access_token":"` + jwt(1_800_000_003) + `","expires_in":30}`, time.Unix(1_800_000_003, 0)},
		{"neither", `{"access_token":"x"}`, sent.Add(DefaultLifetime)},
	} {
		tr, err := ParseTokenResponse(200, "application/json", []byte(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		if got := tr.token(sent).Expiry; !got.Equal(tc.want) {
			t.Errorf("%s: expiry %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestRefreshAt(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	for _, tc := range []struct {
		life, want time.Duration
	}{
		{time.Hour, 48 * time.Minute},                      // 80 %
		{10 * time.Second, 8 * time.Second},                // 80 %
		{3 * time.Second, 2 * time.Second},                 // a second before expiry
		{600 * time.Second, 480 * time.Second},             // a Kubernetes minimum
		{2 * time.Second, 2*time.Second - 2*time.Second/3}, // two thirds
		{1200 * time.Millisecond, 800 * time.Millisecond},  // two thirds
	} {
		tok := Token{Issued: t0, Expiry: t0.Add(tc.life)}
		if got := tok.RefreshAt().Sub(t0); got != tc.want {
			t.Errorf("lifetime %v: refresh after %v, want %v", tc.life, got, tc.want)
		}
		if !tok.RefreshAt().Before(tok.usableUntil()) {
			t.Errorf("lifetime %v: refresh at %v is not before the token stops being used (%v)", tc.life, tok.RefreshAt().Sub(t0), tok.usableUntil().Sub(t0))
		}
	}
}

func FuzzParseClaims(f *testing.F) {
	f.Add(makeJWT(map[string]any{"sub": "a", "exp": 1, "iat": 0, "aud": []any{"x", 1}}))
	f.Add("eyJhbGciOiJub25lIn0.eyJleHAiOjF9.")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseClaims(s)
		if err != nil {
			if len(s) > 8 && strings.Contains(err.Error(), s) {
				t.Fatal("error quotes the token")
			}
			return
		}
		if !c.Expiry.IsZero() && c.Expiry.Unix() < 0 {
			t.Fatalf("negative exp %v", c.Expiry)
		}
	})
}

func FuzzParseTokenResponse(f *testing.F) {
	f.Add(200, `{"access_token":"abcdefgh12","token_type":"Bearer","expires_in":60}`)
	f.Add(400, `{"error":"invalid_client","error_description":"x"}`)
	f.Add(200, `{"access_token":"`+makeJWT(map[string]any{"exp": 5})+`"}`)
	f.Add(503, `oops`)
	f.Fuzz(func(t *testing.T, status int, body string) {
		tr, err := ParseTokenResponse(status, "application/json", []byte(body))
		if err == nil {
			if tr.AccessToken == "" || strings.ContainsAny(tr.AccessToken, " \r\n") || tr.ExpiresIn < 0 {
				t.Fatalf("accepted %+v", tr)
			}
			return
		}
		var ee *EndpointError
		if !errors.As(err, &ee) {
			t.Fatalf("error %T", err)
		}
		if strings.ContainsAny(err.Error(), "\r\n") {
			t.Fatal("control characters in the error")
		}
	})
}
