package token

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/esgate/esgate/auth"
)

// catchHang bounds waits in this package's tests: it only catches a
// hang, and leaves room for a machine starved of CPU.
const catchHang = 3 * time.Minute

// issuer is an httptest token endpoint whose answers the test sets.
type issuer struct {
	srv         *httptest.Server
	clock       *fakeClock
	mu          sync.Mutex
	status      int    // 0: 200 with a token
	errBody     string // body with status
	life        time.Duration
	noExpiresIn bool
	issued      []string
	forms       []http.Header
	calls       atomic.Int64
}

func newIssuer(t *testing.T, clock *fakeClock) *issuer {
	is := &issuer{clock: clock, life: 10 * time.Second}
	is.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		is.calls.Add(1)
		r.ParseForm()
		is.mu.Lock()
		defer is.mu.Unlock()
		h := map[string][]string(r.PostForm)
		h["authorization"] = []string{r.Header.Get("Authorization")}
		is.forms = append(is.forms, h)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if is.status != 0 {
			w.WriteHeader(is.status)
			fmt.Fprint(w, is.errBody)
			return
		}
		now := clock.Now()
		tok := makeJWT(map[string]any{"sub": "client-1", "iat": now.Unix(), "exp": now.Add(is.life).Unix(), "n": len(is.issued)})
		is.issued = append(is.issued, tok)
		if is.noExpiresIn {
			fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer"}`, tok)
			return
		}
		fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":%d}`, tok, int(is.life.Seconds()))
	}))
	t.Cleanup(is.srv.Close)
	return is
}

func (is *issuer) set(status int, body string) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.status, is.errBody = status, body
}

func (is *issuer) last() string {
	is.mu.Lock()
	defer is.mu.Unlock()
	return is.issued[len(is.issued)-1]
}

const testSecret = "s3cr:et/+"

func oauthCfg(is *issuer) OAuth2Config {
	return OAuth2Config{TokenURL: is.srv.URL + "/token", ClientID: "esgate:logs", ClientSecret: func() (string, error) { return testSecret, nil },
		Scopes: []string{"logs:write", "es"}, Params: map[string]string{"audience": "elasticsearch"}}
}

// refreshes counts OnRefresh outcomes.
type refreshes struct{ ok, failed atomic.Int64 }

func (r *refreshes) on(ok bool, _ time.Time) {
	if ok {
		r.ok.Add(1)
	} else {
		r.failed.Add(1)
	}
}

func TestOAuth2Request(t *testing.T) {
	clock := newFakeClock()
	is := newIssuer(t, clock)
	for _, style := range []AuthStyle{AuthBasic, AuthParams} {
		cfg := oauthCfg(is)
		cfg.AuthStyle = style
		cfg.ClientSecret = nil // from Configured, as a route does
		p := NewOAuth2(cfg, Options{Clock: clock, Configured: NewConfigured(testSecret, "")})
		if err := p.Init(context.Background()); err != nil {
			t.Fatal(err)
		}
		is.mu.Lock()
		f := is.forms[len(is.forms)-1]
		is.mu.Unlock()
		if get(f, "grant_type") != "client_credentials" || get(f, "scope") != "logs:write es" || get(f, "audience") != "elasticsearch" {
			t.Errorf("style %d: form %v", style, f)
		}
		switch style {
		case AuthBasic:
			// RFC 6749 §2.3.1: each of id and secret url-encoded, then Basic.
			want := "Basic " + base64.StdEncoding.EncodeToString([]byte("esgate%3Alogs:s3cr%3Aet%2F%2B"))
			if get(f, "authorization") != want || get(f, "client_secret") != "" {
				t.Errorf("basic: Authorization %q, client_secret in form %v", get(f, "authorization"), get(f, "client_secret") != "")
			}
		case AuthParams:
			if get(f, "authorization") != "" || get(f, "client_id") != "esgate:logs" || get(f, "client_secret") != testSecret {
				t.Errorf("params: form %v", f)
			}
		}
		c, err := p.Credential()
		if err != nil || c.Header() != "Bearer "+is.last() {
			t.Fatalf("credential %v, %v", c, err)
		}
		if info := p.Info(); info.Subject != "client-1" || !info.Expiry.Equal(clock.Now().Add(10*time.Second)) || !info.Valid {
			t.Errorf("info %+v", info)
		}
	}
}

func TestOAuth2InitErrors(t *testing.T) {
	clock := newFakeClock()
	is := newIssuer(t, clock)
	is.set(401, `{"error":"invalid_client","error_description":"client secret s3cr:et/+ is wrong"}`)
	p := NewOAuth2(oauthCfg(is), Options{Clock: clock})
	err := p.Init(context.Background())
	var ee *EndpointError
	if !errors.As(err, &ee) || ee.Code != "invalid_client" {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), testSecret) {
		t.Errorf("error quotes the secret: %v", err)
	}
	if !strings.Contains(err.Error(), is.srv.URL+"/token") {
		t.Errorf("error does not name the endpoint: %v", err)
	}
	if _, err := p.Credential(); !errors.Is(err, auth.ErrNoValidCredential) {
		t.Errorf("credential before any token: %v", err)
	}
	if ok, _ := p.Ready(); ok {
		t.Error("ready without a token")
	}
}

// TestNeverExpired: the token is handed out until min(lifetime/10, 1s)
// before its expiry and not a nanosecond after, whatever the loop does.
func TestNeverExpired(t *testing.T) {
	clock := newFakeClock()
	is := newIssuer(t, clock)
	is.life = 10 * time.Second
	p := NewOAuth2(oauthCfg(is), Options{Clock: clock})
	if err := p.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	clock.Advance(9*time.Second - time.Nanosecond)
	if _, err := p.Credential(); err != nil {
		t.Fatalf("1ns before the margin: %v", err)
	}
	clock.Advance(time.Nanosecond)
	_, err := p.Credential()
	if !errors.Is(err, auth.ErrNoValidCredential) {
		t.Fatalf("at the margin: %v", err)
	}
	if ok, why := p.Ready(); ok || why == "" {
		t.Errorf("ready %v %q", ok, why)
	}
	if p.Header() != "" {
		t.Error("Header gives an expired token")
	}
	h := http.Header{"Authorization": {"Basic from-client"}}
	p.Apply(h)
	if len(h["Authorization"]) != 0 {
		t.Error("Apply leaves an Authorization")
	}
}

// TestRefreshLoop: the loop refreshes at RefreshAt; an outage keeps the
// valid token in use, then yields errors naming the endpoint's failure
// once it expired; the issuer's return heals it.
func TestRefreshLoop(t *testing.T) {
	clock := newFakeClock()
	is := newIssuer(t, clock)
	is.life = 10 * time.Second
	var rs refreshes
	p := NewOAuth2(oauthCfg(is), Options{Clock: clock, OnRefresh: rs.on})
	if err := p.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	clock.waitWaiting(t)
	if d := clock.nextDeadline(); d != 8*time.Second {
		t.Fatalf("first refresh in %v, want 8s", d)
	}
	first := is.last()
	clock.Advance(8 * time.Second)
	waitFor(t, func() bool { return rs.ok.Load() == 2 }) // Init + refresh
	if c, err := p.Credential(); err != nil || c.Header() == "Bearer "+first {
		t.Fatalf("after refresh: %v", err)
	}

	// Outage: the token stays in use while valid.
	is.set(503, "")
	clock.waitWaiting(t)
	clock.Advance(8 * time.Second)
	waitFor(t, func() bool { return rs.failed.Load() >= 1 })
	if _, err := p.Credential(); err != nil {
		t.Fatalf("valid token withheld during the outage: %v", err)
	}
	// Drive the clock past expiry, retrying as the loop asks.
	for i := 0; i < 100 && !errors.Is(credErr(p), auth.ErrNoValidCredential); i++ {
		clock.waitWaiting(t)
		d := clock.nextDeadline()
		if d > 2*time.Second {
			t.Fatalf("retry after %v while the token expires in 2s", d)
		}
		clock.Advance(d)
	}
	err := credErr(p)
	if !errors.Is(err, auth.ErrNoValidCredential) || !strings.Contains(err.Error(), "token endpoint "+is.srv.URL+"/token: 503 Service Unavailable") {
		t.Fatalf("expired: %v", err)
	}
	// Expired: retries come within a second.
	for range 5 {
		clock.waitWaiting(t)
		if d := clock.nextDeadline(); d > time.Second {
			t.Fatalf("retry after %v with no valid token", d)
		}
		n := rs.failed.Load()
		clock.Advance(clock.nextDeadline())
		waitFor(t, func() bool { return rs.failed.Load() > n })
	}
	is.set(0, "")
	clock.waitWaiting(t)
	okBefore := rs.ok.Load()
	clock.Advance(clock.nextDeadline())
	waitFor(t, func() bool { return rs.ok.Load() > okBefore })
	if c, err := p.Credential(); err != nil || c.Header() != "Bearer "+is.last() {
		t.Fatalf("after recovery: %v", err)
	}
}

// TestRejectedSingleFlight: 50 requests refused at once cause one fetch;
// a refusal of a token already replaced causes none.
func TestRejectedSingleFlight(t *testing.T) {
	clock := newFakeClock()
	is := newIssuer(t, clock)
	is.life = time.Hour
	var rs refreshes
	p := NewOAuth2(oauthCfg(is), Options{Clock: clock, OnRefresh: rs.on})
	if err := p.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	clock.waitWaiting(t)

	refused := "Bearer " + is.last()
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() { defer wg.Done(); p.Rejected(refused) }()
	}
	wg.Wait()
	waitFor(t, func() bool { return rs.ok.Load() == 2 })
	clock.waitWaiting(t) // the loop is idle again
	if n := is.calls.Load(); n != 2 {
		t.Errorf("%d fetches, want 2 (init + one refresh)", n)
	}
	if len(p.kick) != 0 {
		t.Error("a second refresh is queued")
	}
	// The old token again (a request that was in flight): nothing.
	clock.Advance(2 * time.Second)
	p.Rejected(refused)
	if len(p.kick) != 0 {
		t.Error("a refusal of a replaced token queued a refresh")
	}
	// The new one refused within a second of the last kick: rate-limited.
	p.lastKick.Store(clock.Now().UnixNano())
	p.Rejected("Bearer " + is.last())
	if len(p.kick) != 0 {
		t.Error("a refusal within a second of the last queued a refresh")
	}
}

func TestSharedSecret(t *testing.T) {
	clock := newFakeClock()
	is := newIssuer(t, clock)
	p := NewOAuth2(oauthCfg(is), Options{Clock: clock, Configured: NewConfigured("", "shared-1")})
	if err := p.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	c, _ := p.Credential()
	if ca, ok := c.(auth.ClientAuthenticator); !ok || ca.ClientAuthentication() != "SharedSecret shared-1" {
		t.Fatalf("no shared secret on %v", c)
	}
	p.SetConfigured(WithSharedSecret(auth.NoHeader("oauth2"), "shared-2"))
	h := http.Header{}
	p.Apply(h)
	if h.Get("ES-Client-Authentication") != "SharedSecret shared-2" || h.Get("Authorization") != "Bearer "+is.last() {
		t.Errorf("Apply: %v", h)
	}
	if s := fmt.Sprint(c, p); strings.Contains(s, "shared-") || strings.Contains(s, is.last()) {
		t.Errorf("formatting shows a secret: %s", s)
	}
	b := WithSharedSecret(auth.Bearer("tok"), "x")
	h = http.Header{}
	b.Apply(h)
	if h.Get("ES-Client-Authentication") != "SharedSecret x" || h.Get("Authorization") != "Bearer tok" {
		t.Errorf("static Apply: %v", h)
	}
}

// TestFileRotation: a projected token file swapped by rename of the
// ..data symlink, as the kubelet does, is re-read at 80 % of the token's
// lifetime and every second after until it holds a newer token.
func TestFileRotation(t *testing.T) {
	clock := newFakeClock()
	dir := t.TempDir()
	path := filepath.Join(dir, "token")
	gen := 0
	write := func(iat time.Time, life time.Duration) string {
		gen++
		tok := makeJWT(map[string]any{"sub": "system:serviceaccount:logs:shipper", "iat": iat.Unix(), "exp": iat.Add(life).Unix()})
		ts := filepath.Join(dir, fmt.Sprintf("..%d", gen))
		os.Mkdir(ts, 0o755)
		os.WriteFile(filepath.Join(ts, "token"), []byte(tok), 0o600)
		os.Symlink(filepath.Base(ts), filepath.Join(dir, "..data_tmp"))
		if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
		return tok
	}
	first := write(clock.Now(), 10*time.Second)
	os.Symlink("..data/token", path)

	var rs refreshes
	p := NewFile(path, Options{Clock: clock, OnRefresh: rs.on})
	if err := p.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	clock.waitWaiting(t)
	if d := clock.nextDeadline(); d != 8*time.Second {
		t.Fatalf("first re-read in %v, want 8s", d)
	}
	clock.Advance(8 * time.Second) // the file still holds the first token
	clock.waitWaiting(t)
	if d := clock.nextDeadline(); d != time.Second {
		t.Fatalf("next re-read in %v, want 1s", d)
	}
	if c, _ := p.Credential(); c.Header() != "Bearer "+first {
		t.Fatal("token changed without a new file")
	}
	second := write(clock.Now(), 10*time.Second)
	clock.Advance(time.Second)
	waitFor(t, func() bool { return rs.ok.Load() == 2 })
	if c, err := p.Credential(); err != nil || c.Header() != "Bearer "+second {
		t.Fatalf("after rotation: %v", err)
	}
	if rs.failed.Load() != 0 {
		t.Errorf("%d failures counted for an unrotated file", rs.failed.Load())
	}
	// Nobody rotates any more: the token expires and is not sent.
	for i := 0; i < 50 && credErr(p) == nil; i++ {
		clock.waitWaiting(t)
		clock.Advance(clock.nextDeadline())
	}
	if err := credErr(p); !errors.Is(err, auth.ErrNoValidCredential) || !strings.Contains(err.Error(), "bearer_token_file "+path) {
		t.Fatalf("expired file token: %v", err)
	}
}

func credErr(p *Provider) error {
	_, err := p.Credential()
	return err
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(catchHang)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", catchHang)
		}
		time.Sleep(time.Millisecond)
	}
}

func get(f map[string][]string, k string) string {
	if v := f[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}
