package issuer

import (
	"crypto"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// catchHang bounds waits in this package's tests: it only catches a
// hang, and leaves room for a machine starved of CPU.
const catchHang = 3 * time.Minute

func httpClient(t *testing.T, s *Server) *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(s.CA.Cert)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// decode splits a JWT into header and claims and checks its signature.
func decode(t *testing.T, s *Server, tok string) (map[string]any, map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	var h, c map[string]any
	for i, dst := range []*map[string]any{&h, &c} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		json.Unmarshal(b, dst)
	}
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	input := []byte(parts[0] + "." + parts[1])
	switch h["alg"] {
	case "RS256":
		key, kid := s.SigningKey()
		if h["kid"] != kid {
			t.Fatalf("kid %v, want %s", h["kid"], kid)
		}
		sum := sha256.Sum256(input)
		if err := rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, sum[:], sig); err != nil {
			t.Fatal("RS256 signature:", err)
		}
	case "HS256":
		m := hmac.New(sha256.New, []byte(s.HMACKey()))
		m.Write(input)
		if !hmac.Equal(m.Sum(nil), sig) {
			t.Fatal("HS256 signature")
		}
	default:
		t.Fatalf("alg %v", h["alg"])
	}
	return h, c
}

type tokenResp struct {
	status int
	header http.Header
	body   map[string]any
}

func post(t *testing.T, s *Server, form url.Values, basic []string, contentType string) tokenResp {
	t.Helper()
	req, _ := http.NewRequest("POST", s.TokenURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", contentType)
	if basic != nil {
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(basic[0])+":"+url.QueryEscape(basic[1]))))
	}
	res, err := httpClient(t, s).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var m map[string]any
	json.Unmarshal(b, &m)
	return tokenResp{res.StatusCode, res.Header, m}
}

func TestTokenEndpoint(t *testing.T) {
	s, _ := StartT(t, Options{Lifetime: 90 * time.Second})
	s.AddClient("logstash", "s3cret")
	s.AddClient("odd:id", "p@ss word+%/:", "read", "write")
	const form = "application/x-www-form-urlencoded"
	cc := url.Values{"grant_type": {"client_credentials"}}
	with := func(kv ...string) url.Values {
		v := url.Values{"grant_type": {"client_credentials"}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v
	}
	for _, tc := range []struct {
		name      string
		form      url.Values
		basic     []string
		ctype     string
		status    int
		err       string
		challenge bool
		sub, aud  string
		scope     string
	}{
		{name: "basic", form: cc, basic: []string{"logstash", "s3cret"}, status: 200, sub: "logstash", aud: "elasticsearch"},
		{name: "basic, url-encoded id and secret", form: with("scope", "read"), basic: []string{"odd:id", "p@ss word+%/:"}, status: 200, sub: "odd:id", aud: "elasticsearch", scope: "read"},
		{name: "post", form: with("client_id", "logstash", "client_secret", "s3cret"), status: 200, sub: "logstash", aud: "elasticsearch"},
		{name: "audience parameter", form: with("audience", "es01"), basic: []string{"logstash", "s3cret"}, status: 200, sub: "logstash", aud: "es01"},
		{name: "basic, wrong secret", form: cc, basic: []string{"logstash", "nope"}, status: 401, err: "invalid_client", challenge: true},
		{name: "basic, unknown client", form: cc, basic: []string{"who", "s3cret"}, status: 401, err: "invalid_client", challenge: true},
		{name: "post, wrong secret", form: with("client_id", "logstash", "client_secret", "nope"), status: 400, err: "invalid_client"},
		{name: "no client authentication", form: cc, status: 400, err: "invalid_client"},
		{name: "two methods", form: with("client_id", "logstash", "client_secret", "s3cret"), basic: []string{"logstash", "s3cret"}, status: 400, err: "invalid_request"},
		{name: "no grant_type", form: url.Values{}, basic: []string{"logstash", "s3cret"}, status: 400, err: "invalid_request"},
		{name: "password grant", form: url.Values{"grant_type": {"password"}}, basic: []string{"logstash", "s3cret"}, status: 400, err: "unsupported_grant_type"},
		{name: "scope not allowed", form: with("scope", "read admin"), basic: []string{"odd:id", "p@ss word+%/:"}, status: 400, err: "invalid_scope"},
		{name: "JSON body", form: cc, basic: []string{"logstash", "s3cret"}, ctype: "application/json", status: 400, err: "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ct := tc.ctype
			if ct == "" {
				ct = form
			}
			r := post(t, s, tc.form, tc.basic, ct)
			if r.status != tc.status || r.header.Get("Cache-Control") != "no-store" {
				t.Fatalf("status %d (want %d), Cache-Control %q, body %v", r.status, tc.status, r.header.Get("Cache-Control"), r.body)
			}
			if tc.err != "" {
				if r.body["error"] != tc.err || (r.header.Get("WWW-Authenticate") != "") != tc.challenge {
					t.Fatalf("error %v (want %s), WWW-Authenticate %q", r.body, tc.err, r.header.Get("WWW-Authenticate"))
				}
				return
			}
			if r.body["token_type"] != "Bearer" || r.body["expires_in"] != 90.0 || r.body["refresh_token"] != nil {
				t.Fatalf("body %v", r.body)
			}
			if sc, _ := r.body["scope"].(string); sc != tc.scope {
				t.Fatalf("scope %q", sc)
			}
			h, c := decode(t, s, r.body["access_token"].(string))
			if h["typ"] != "JWT" || c["iss"] != s.Issuer() || c["sub"] != tc.sub || c["aud"] != tc.aud || c["jti"] == nil ||
				c["exp"].(float64)-c["iat"].(float64) != 90 || c["nbf"] != c["iat"] {
				t.Fatalf("header %v claims %v", h, c)
			}
		})
	}
	if s.Issued("logstash") != 3 || s.Issued("odd:id") != 1 || s.IssuedTotal() != 4 || s.TokenRequests() != 13 || s.TokenFailures() != 9 {
		t.Fatalf("counters: %d %d %d %d %d", s.Issued("logstash"), s.Issued("odd:id"), s.IssuedTotal(), s.TokenRequests(), s.TokenFailures())
	}
	req, _ := http.NewRequest("GET", s.TokenURL, nil)
	if res, err := httpClient(t, s).Do(req); err != nil || res.StatusCode != 405 {
		t.Fatalf("GET: %v %v", res, err)
	}
}

func TestTokenEndpointDownAndBack(t *testing.T) {
	s, _ := StartT(t, Options{})
	s.AddClient("logstash", "s3cret")
	ok := func() tokenResp {
		return post(t, s, url.Values{"grant_type": {"client_credentials"}}, []string{"logstash", "s3cret"}, "application/x-www-form-urlencoded")
	}
	s.SetState(Unavailable)
	if r := ok(); r.status != 503 || r.body["error"] != "temporarily_unavailable" {
		t.Fatalf("unavailable: %d %v", r.status, r.body)
	}
	s.SetState(Refuse)
	req, _ := http.NewRequest("POST", s.TokenURL, strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if res, err := httpClient(t, s).Do(req); err == nil {
		res.Body.Close()
		t.Fatalf("refuse: got %d", res.StatusCode)
	}
	// The JWKS stays served while the token endpoint is down.
	if res, err := httpClient(t, s).Get(s.JWKSURL); err != nil || res.StatusCode != 200 {
		t.Fatalf("JWKS while down: %v %v", res, err)
	}
	s.SetState(Up)
	s.SetOmitExpiresIn(true)
	s.SetLifetime(5 * time.Second)
	r := ok()
	if r.status != 200 || r.body["expires_in"] != nil {
		t.Fatalf("back up without expires_in: %d %v", r.status, r.body)
	}
	if _, c := decode(t, s, r.body["access_token"].(string)); c["exp"].(float64)-c["iat"].(float64) != 5 {
		t.Fatalf("lifetime: %v", c)
	}
	if s.Issued("logstash") != 1 || s.TokenFailures() != 2 {
		t.Fatalf("issued %d failures %d", s.Issued("logstash"), s.TokenFailures())
	}
}

func TestHS256AndDiscovery(t *testing.T) {
	s, _ := StartT(t, Options{Algorithm: "HS256", HMACKey: "a-32-byte-long-hmac-key-for-test", Issuer: "https://issuer.example"})
	s.AddClient("c", "s")
	r := post(t, s, url.Values{"grant_type": {"client_credentials"}}, []string{"c", "s"}, "application/x-www-form-urlencoded")
	if h, c := decode(t, s, r.body["access_token"].(string)); h["alg"] != "HS256" || c["iss"] != "https://issuer.example" {
		t.Fatalf("%v %v", h, c)
	}
	res, err := httpClient(t, s).Get(s.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	json.NewDecoder(res.Body).Decode(&d)
	res.Body.Close()
	if d["issuer"] != "https://issuer.example" || d["jwks_uri"] != s.JWKSURL || d["token_endpoint"] != s.TokenURL {
		t.Fatalf("discovery %v", d)
	}
	if _, err := Start(Options{Algorithm: "ES256"}); err == nil {
		t.Fatal("ES256 token endpoint accepted")
	}
}

func TestJWKSAndKeyRotation(t *testing.T) {
	s, _ := StartT(t, Options{})
	doc := func() []map[string]any {
		res, err := httpClient(t, s).Get(s.JWKSURL)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var d struct{ Keys []map[string]any }
		json.NewDecoder(res.Body).Decode(&d)
		return d.Keys
	}
	key, kid := s.SigningKey()
	k := doc()
	if len(k) != 1 || k[0]["kid"] != kid || k[0]["kty"] != "RSA" || k[0]["alg"] != "RS256" || k[0]["use"] != "sig" || kid != KeyID(&key.PublicKey) {
		t.Fatalf("jwks %v", k)
	}
	n, _ := base64.RawURLEncoding.DecodeString(k[0]["n"].(string))
	if new(big.Int).SetBytes(n).Cmp(key.N) != 0 {
		t.Fatal("modulus")
	}
	s.RotateKey(true)
	if k := doc(); len(k) != 2 {
		t.Fatalf("rollover keeps the old key: %v", k)
	}
	s.RotateKey(false)
	if k := doc(); len(k) != 1 {
		t.Fatalf("rotation drops old keys: %v", k)
	}
	if s.JWKSRequests() != 3 {
		t.Fatalf("JWKS requests %d", s.JWKSRequests())
	}
}

func TestProjectedTokens(t *testing.T) {
	s, _ := StartT(t, Options{})
	dir := filepath.Join(t.TempDir(), "sa")
	p, err := s.Project(ProjectedOptions{Dir: dir, Namespace: "logs", ServiceAccount: "shipper", Lifetime: 6 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if l, _ := os.Readlink(p.TokenPath()); l != "..data/token" {
		t.Fatalf("token link %q", l)
	}
	first, _ := os.Readlink(filepath.Join(dir, "..data"))
	if !strings.HasPrefix(first, "..") || first == "..data" {
		t.Fatalf("..data -> %q", first)
	}
	tok1, _ := os.ReadFile(p.TokenPath())
	h, c := decode(t, s, string(tok1))
	_, kid := s.SigningKey()
	if _, hasTyp := h["typ"]; hasTyp || h["kid"] != kid || len(h) != 2 {
		t.Fatalf("header %v", h)
	}
	k8s, _ := c["kubernetes.io"].(map[string]any)
	aud, _ := c["aud"].([]any)
	if c["sub"] != "system:serviceaccount:logs:shipper" || len(aud) != 1 || aud[0] != "elasticsearch" || c["iss"] != s.Issuer() ||
		k8s["namespace"] != "logs" || k8s["serviceaccount"].(map[string]any)["name"] != "shipper" || c["exp"].(float64)-c["iat"].(float64) != 6 {
		t.Fatalf("claims %v", c)
	}
	if err := p.Rotate(); err != nil {
		t.Fatal(err)
	}
	second, _ := os.Readlink(filepath.Join(dir, "..data"))
	tok2, _ := os.ReadFile(p.TokenPath())
	if second == first || string(tok2) == string(tok1) {
		t.Fatal("rotation did not swap")
	}
	if _, err := os.Stat(filepath.Join(dir, first)); !os.IsNotExist(err) {
		t.Fatalf("old directory left: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 { // token, ..data, ..<timestamp>
		t.Fatalf("entries %v", entries)
	}
	if p.Rotations() != 2 || s.Issued(p.Subject()) != 2 {
		t.Fatalf("rotations %d", p.Rotations())
	}
}

func TestProjectedSchedule(t *testing.T) {
	s, _ := StartT(t, Options{})
	p, err := s.Project(ProjectedOptions{Dir: t.TempDir(), Every: 20 * time.Millisecond, Lifetime: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(catchHang)
	for p.Rotations() < 4 {
		if time.Now().After(deadline) {
			t.Fatal("no scheduled rotations")
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.Stop()
	n := p.Rotations()
	p.Stop() // idempotent
	if p.Rotations() != n {
		t.Fatal("rotated after Stop")
	}
	if _, err := os.ReadFile(p.TokenPath()); err != nil {
		t.Fatal(err)
	}
}
