package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/esgate/esgate/test/esserver"
	"github.com/esgate/esgate/test/issuer"
)

// identity is a test server with a JWT realm trusting a token issuer, and
// what esgate needs to use it.
type identity struct {
	es           *esserver.Server
	esCA         string
	iss          *issuer.Server
	issCA        string
	dir          string
	clientSecret string
	sharedSecret string

	mu         sync.Mutex
	tokens     map[string]bool // every Bearer value that reached the test server
	clientAuth string          // the last ES-Client-Authentication that reached it
}

const identityClient = "logstash"

// startIdentity starts the issuer (alg RS256: the realm fetches its JWKS
// over https; HS256: the realm holds the key) with tokens of life, and
// the test server with a JWT realm with allowed_clock_skew 0 and, when
// shared is set, client_authentication shared_secret. The client's
// principal is mapped to superuser.
func startIdentity(t *testing.T, alg string, life time.Duration, shared bool) *identity {
	t.Helper()
	id := &identity{dir: t.TempDir(), clientSecret: "cl1ent-S3CRET-" + fmt.Sprint(time.Now().UnixNano()), tokens: map[string]bool{}}
	id.iss, id.issCA = issuer.StartT(t, issuer.Options{Algorithm: alg, Lifetime: life})
	id.iss.AddClient(identityClient, id.clientSecret)
	realm := id.iss.RealmSettings(id.issCA)
	realm["allowed_clock_skew"] = "0s"
	if shared {
		id.sharedSecret = "sh4red-S3CRET-" + fmt.Sprint(time.Now().UnixNano())
		realm["client_authentication.type"] = "shared_secret"
		realm["client_authentication.shared_secret"] = id.sharedSecret
	}
	id.es, id.esCA = esserver.StartT(t, esserver.Options{JWTRealms: []esserver.JWTRealm{{Name: "jwt1", Settings: realm}}})
	id.es.PutRoleMapping("shippers", esserver.RoleMapping{Roles: []string{"superuser"}, Enabled: true,
		Rules: map[string]any{"field": map[string]any{"realm.name": "jwt1"}}})
	id.es.OnRequest(func(r *http.Request) {
		id.mu.Lock()
		defer id.mu.Unlock()
		if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			id.tokens[v] = true
		}
		id.clientAuth = r.Header.Get("ES-Client-Authentication")
	})
	return id
}

// oauth2Config writes esgate's config for an OAuth2 route (the client
// secret in a file, the shared secret in another) and returns its path.
func (id *identity) oauth2Config(t *testing.T, extra string) string {
	t.Helper()
	secretFile := filepath.Join(id.dir, "client-secret")
	os.WriteFile(secretFile, []byte(id.clientSecret+"\n"), 0o600)
	cfg := fmt.Sprintf(`hosts: [%s]
ssl_certificate_authorities: [%s]
oauth2_token_url: %s
oauth2_client_id: %s
oauth2_client_secret_file: %s
oauth2_ssl_certificate_authorities: [%s]
`, id.es.URL, id.esCA, id.iss.TokenURL, identityClient, secretFile, id.issCA)
	if id.sharedSecret != "" {
		f := filepath.Join(id.dir, "shared-secret")
		os.WriteFile(f, []byte(id.sharedSecret), 0o600)
		cfg += "jwt_shared_secret_file: " + f + "\n"
	}
	path := filepath.Join(id.dir, "esgate.yml")
	os.WriteFile(path, []byte(cfg+extra), 0o600)
	return path
}

// secrets are the client secret, the shared secret and every token that
// reached the test server.
func (id *identity) secrets() []string {
	id.mu.Lock()
	defer id.mu.Unlock()
	out := []string{id.clientSecret}
	if id.sharedSecret != "" {
		out = append(out, id.sharedSecret)
	}
	for tok := range id.tokens {
		out = append(out, tok)
	}
	return out
}

// assertNoSecret fails if any secret is in text (what names where).
func assertNoSecret(t *testing.T, what, text string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("a secret or token appears in %s", what)
			return
		}
	}
}

// bulkTraffic sends small bulk requests from workers clients until stop
// closes, counting answers by status; non-2xx bodies are kept.
type bulkTraffic struct {
	ok, bad atomic.Int64
	mu      sync.Mutex
	bodies  []string
	wg      sync.WaitGroup
}

func startBulk(url string, workers int, stop <-chan struct{}) *bulkTraffic {
	bt := &bulkTraffic{}
	body := `{"create":{"_index":"logs-identity-default"}}` + "\n" + `{"@timestamp":"2026-12-05T00:00:00Z","message":"hello"}` + "\n"
	for range workers {
		bt.wg.Add(1)
		go func() {
			defer bt.wg.Done()
			c := &http.Client{Timeout: 60 * time.Second}
			for {
				select {
				case <-stop:
					return
				default:
				}
				res, err := c.Post(url+"/_bulk", "application/x-ndjson", strings.NewReader(body))
				if err != nil {
					bt.bad.Add(1)
					bt.keep(err.Error())
					continue
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode/100 == 2 {
					bt.ok.Add(1)
				} else {
					bt.bad.Add(1)
					bt.keep(fmt.Sprintf("%d %s", res.StatusCode, b))
				}
			}
		}()
	}
	return bt
}

func (bt *bulkTraffic) keep(s string) {
	bt.mu.Lock()
	defer bt.mu.Unlock()
	if len(bt.bodies) < 5 {
		bt.bodies = append(bt.bodies, s)
	}
}

// runTokenTraffic runs bulk traffic for d through esgate on an OAuth2
// route with tokens of life and checks: no client-visible non-2xx, at
// least 5 refreshes and not more than two per token lifetime, and no
// expired token reaching the test server.
func runTokenTraffic(t *testing.T, alg string, d, life time.Duration) {
	id := startIdentity(t, alg, life, true)
	p := startEsgate(t, []string{id.clientSecret, id.sharedSecret}, "--config", id.oauth2Config(t, ""))
	stop := make(chan struct{})
	bt := startBulk(p.URL, 4, stop)
	time.Sleep(d) // the traffic's duration, not a wait for an outcome
	close(stop)
	bt.wg.Wait()
	if bt.bad.Load() != 0 || bt.ok.Load() == 0 {
		t.Errorf("%d answers 2xx, %d not: %q", bt.ok.Load(), bt.bad.Load(), bt.bodies)
	}
	refreshes := p.metricSum(t, "esgate_token_refreshes_total", `result="ok"`)
	lifetimes := float64(d) / float64(life)
	if refreshes < 5 || refreshes > 2*lifetimes+2 {
		t.Errorf("%v tokens in %v of %v tokens (%v lifetimes)", refreshes, d, life, lifetimes)
	}
	st := id.es.JWTStats()
	t.Logf("%d bulk requests 2xx, %d not; %v tokens in %v; test server: %d JWT requests accepted, %d rejected, %d expired on arrival",
		bt.ok.Load(), bt.bad.Load(), refreshes, d, st.Accepted, st.Rejected, st.ExpiredOnArrival)
	if st.ExpiredOnArrival != 0 || st.Rejected != 0 || st.Accepted == 0 {
		t.Errorf("test server's JWT counters: %+v", st)
	}
	if n := id.iss.Issued(identityClient); float64(n) != refreshes {
		t.Errorf("issuer issued %d tokens, esgate counted %v", n, refreshes)
	}
	secrets := id.secrets()
	assertNoSecret(t, "esgate's log", p.out.String(), secrets)
	res, err := http.Get(p.statusURL(t) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	assertNoSecret(t, "/metrics", string(b), secrets)
}

// TestOAuth2ShortTokens: 20 s of bulk traffic with 3-second HS256 tokens
// and allowed_clock_skew 0, a shared secret beside them.
func TestOAuth2ShortTokens(t *testing.T) {
	runTokenTraffic(t, "HS256", 20*time.Second, 3*time.Second)
}

// TestOAuth2ShortTokensJWKS: the same with RS256 tokens that the realm
// verifies through the issuer's JWKS URL.
func TestOAuth2ShortTokensJWKS(t *testing.T) {
	runTokenTraffic(t, "RS256", 20*time.Second, 3*time.Second)
}

// esError is Elasticsearch's error shape.
type esError struct {
	Error struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	} `json:"error"`
	Status int `json:"status"`
}

// TestOAuth2IssuerDown: with the issuer down past the token's expiry,
// clients get 503 in Elasticsearch's shape naming the token endpoint's
// error and /readyz fails; no expired token is sent; with the issuer
// back, traffic recovers by itself. esgate check shows the credential
// and the principal, and secrets appear nowhere.
func TestOAuth2IssuerDown(t *testing.T) {
	id := startIdentity(t, "RS256", 3*time.Second, true)
	cfgPath := id.oauth2Config(t, "")
	p := startEsgate(t, []string{id.clientSecret, id.sharedSecret}, "--config", cfgPath)
	ready := p.statusURL(t) + "/readyz"
	get := func(url string) (int, string) {
		res, err := http.Get(url)
		if err != nil {
			return 0, err.Error()
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	poll := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 60s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if code, body := get(p.URL + "/"); code != 200 {
		t.Fatalf("before the outage: %d %s", code, body)
	}
	poll("ready", func() bool { c, _ := get(ready); return c == 200 })

	id.iss.SetState(issuer.Unavailable)
	var code int
	var body string
	poll("503 once the token expired", func() bool { code, body = get(p.URL + "/"); return code == 503 })
	var e esError
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Status != 503 || e.Error.Type != "esgate_credential_unavailable_exception" ||
		!strings.Contains(e.Error.Reason, "token endpoint "+id.iss.TokenURL) {
		t.Errorf("503 body: %s", body)
	}
	if c, b := get(ready); c == 200 {
		t.Errorf("/readyz %d %s while no token is valid", c, b)
	}
	errBody := body
	id.iss.SetState(issuer.Up)
	poll("traffic recovers", func() bool { code, body = get(p.URL + "/"); return code == 200 })
	poll("ready again", func() bool { c, _ := get(ready); return c == 200 })
	if st := id.es.JWTStats(); st.ExpiredOnArrival != 0 {
		t.Errorf("%d expired tokens reached the test server", st.ExpiredOnArrival)
	}
	if n := p.metricSum(t, "esgate_token_refreshes_total", `result="error"`); n < 1 {
		t.Errorf("refresh errors counted: %v", n)
	}
	if exp := p.metricSum(t, "esgate_token_expiry_timestamp_seconds"); exp < float64(time.Now().Unix()-5) {
		t.Errorf("token expiry metric %v", exp)
	}

	out, err := exec.Command(esgateBin, "check", "--config", cfgPath).CombinedOutput()
	if err != nil {
		t.Fatalf("check: %v\n%s", err, out)
	}
	for _, want := range []string{`auth oauth2`, `credential:     oauth2 from token endpoint ` + id.iss.TokenURL + `, subject "` + identityClient + `", expires `,
		`authenticated:  user "` + identityClient + `", realm jwt1 (jwt)`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
	res, err := http.Get(p.statusURL(t) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(res.Body)
	res.Body.Close()
	secrets := id.secrets()
	for what, text := range map[string]string{"esgate's log": p.out.String(), "/metrics": string(m), "check's output": string(out), "the 503 body": errBody} {
		assertNoSecret(t, what, text, secrets)
	}
}

// TestOAuth2InvalidClient: a wrong client secret stops esgate at start
// with an error naming the keys, not the secret.
func TestOAuth2InvalidClient(t *testing.T) {
	id := startIdentity(t, "RS256", time.Minute, false)
	id.clientSecret = "wr0ng-S3CRET"
	out, err := exec.Command(esgateBin, "serve", "--config", id.oauth2Config(t, ""), "--listen", freePort(t), "--status-listen", "off").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() == 0 {
		t.Fatalf("exit %v: %s", err, out)
	}
	if !strings.Contains(string(out), "oauth2_client_id / oauth2_client_secret: the token endpoint refused the client: token endpoint "+id.iss.TokenURL+": invalid_client") {
		t.Errorf("output: %s", out)
	}
	assertNoSecret(t, "the startup error", string(out), []string{id.clientSecret})
}

// TestProjectedTokenFile: a Kubernetes-style projected token, rotated
// every 2 s with 6-second tokens, read through bearer_token_file with
// reload_interval 60s: traffic never fails and no expired token reaches
// the test server.
func TestProjectedTokenFile(t *testing.T) {
	id := startIdentity(t, "RS256", time.Hour, false)
	pr, err := id.iss.Project(issuer.ProjectedOptions{Dir: filepath.Join(id.dir, "token-volume"), Lifetime: 6 * time.Second, Every: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Stop()
	p := startEsgate(t, nil, "--hosts", id.es.URL, "--ssl-certificate-authorities", id.esCA, "--bearer-token-file", pr.TokenPath(), "--reload-interval", "60s")
	stop := make(chan struct{})
	bt := startBulk(p.URL, 4, stop)
	time.Sleep(16 * time.Second) // the traffic's duration: over two token lifetimes
	close(stop)
	bt.wg.Wait()
	if bt.bad.Load() != 0 || bt.ok.Load() == 0 {
		t.Errorf("%d answers 2xx, %d not: %q", bt.ok.Load(), bt.bad.Load(), bt.bodies)
	}
	n := p.metricSum(t, "esgate_token_refreshes_total", `result="ok"`)
	if n < 3 {
		t.Errorf("%v tokens read in 16s of 6-second tokens", n)
	}
	t.Logf("%d bulk requests 2xx, %d not; %v tokens read, %v failed reads; %d rotations", bt.ok.Load(), bt.bad.Load(), n,
		p.metricSum(t, "esgate_token_refreshes_total", `result="error"`), pr.Rotations())
	if st := id.es.JWTStats(); st.ExpiredOnArrival != 0 || st.Rejected != 0 || st.Accepted == 0 {
		t.Errorf("test server's JWT counters: %+v", st)
	}
	assertNoSecret(t, "esgate's log", p.out.String(), id.secrets())
}

// TestREADMEOAuth2Route: the README's OAuth2 route, with the test
// issuer's and test server's addresses and files, forwards a bulk request
// with a token the JWT realm accepts, beside the shared secret.
func TestREADMEOAuth2Route(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "```yaml\n# esgate.yml: an OAuth2 route")
	if i < 0 {
		t.Fatal("README has no OAuth2 route example")
	}
	block := s[i+len("```yaml\n"):]
	block = block[:strings.Index(block, "```")]
	id := startIdentity(t, "RS256", time.Minute, true)
	secretFile, sharedFile := filepath.Join(id.dir, "client-secret"), filepath.Join(id.dir, "shared-secret")
	os.WriteFile(secretFile, []byte(id.clientSecret+"\n"), 0o600)
	os.WriteFile(sharedFile, []byte(id.sharedSecret+"\n"), 0o600)
	cfg := strings.NewReplacer("https://es01:9200", id.es.URL, "/etc/esgate/es-ca.pem", id.esCA,
		"https://issuer.example/oauth2/token", id.iss.TokenURL, "/etc/esgate/client-secret", secretFile,
		"/etc/esgate/jwt-shared-secret", sharedFile).Replace(block)
	// The issuer's CA is the test's own; a real issuer's is usually in the system roots.
	cfg += "oauth2_ssl_certificate_authorities: [" + id.issCA + "]\n"
	path := filepath.Join(id.dir, "readme.yml")
	os.WriteFile(path, []byte(cfg), 0o600)
	p := startEsgate(t, []string{id.clientSecret, id.sharedSecret}, "--config", path)
	res, err := http.Post(p.URL+"/_bulk", "application/x-ndjson", strings.NewReader(`{"create":{"_index":"logs-readme-default"}}`+"\n"+`{"message":"hi"}`+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("bulk through the README's route: %d %s", res.StatusCode, body)
	}
	if st := id.es.JWTStats(); st.Accepted != 1 || st.Rejected != 0 {
		t.Errorf("JWT realm: %+v", st)
	}
}

// TestSharedSecretRotation: the JWT realm's shared secret rotated as
// Elasticsearch does it (keystore, reload_secure_settings, the old one
// accepted for the grace period), then in esgate's file and SIGHUP:
// traffic never fails and the new secret is what esgate sends.
func TestSharedSecretRotation(t *testing.T) {
	id := startIdentity(t, "HS256", time.Minute, true)
	p := startEsgate(t, []string{id.clientSecret, id.sharedSecret, "r0tated-S3CRET"}, "--config", id.oauth2Config(t, ""), "--reload-interval", "0s")
	stop := make(chan struct{})
	bt := startBulk(p.URL, 2, stop)
	waitBulk := func(n int64) {
		deadline := time.Now().Add(60 * time.Second)
		for bt.ok.Load()+bt.bad.Load() < n {
			if time.Now().After(deadline) {
				t.Fatal("no traffic within 60s")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitBulk(50)
	id.es.SetSecureSetting("xpack.security.authc.realms.jwt.jwt1.client_authentication.shared_secret", "r0tated-S3CRET")
	id.es.ReloadSecureSettings()
	waitBulk(bt.ok.Load() + bt.bad.Load() + 50) // the old secret, within the grace period
	os.WriteFile(filepath.Join(id.dir, "shared-secret"), []byte("r0tated-S3CRET\n"), 0o600)
	p.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(60 * time.Second)
	for {
		id.mu.Lock()
		ca := id.clientAuth
		id.mu.Unlock()
		if ca == "SharedSecret r0tated-S3CRET" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("esgate still sends the old shared secret 60s after SIGHUP")
		}
		time.Sleep(10 * time.Millisecond)
	}
	waitBulk(bt.ok.Load() + bt.bad.Load() + 50)
	close(stop)
	bt.wg.Wait()
	if bt.bad.Load() != 0 {
		t.Errorf("%d answers 2xx, %d not: %q", bt.ok.Load(), bt.bad.Load(), bt.bodies)
	}
}
