package token

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/esgate/esgate/auth"
)

// Token is one short-lived bearer token and its validity.
type Token struct {
	Value   string
	Issued  time.Time // start of its lifetime (iat, or when it was asked for)
	Expiry  time.Time // when it stops being valid
	Subject string    // the JWT's sub, if any
}

// Lifetime is the token's whole validity.
func (t Token) Lifetime() time.Duration { return t.Expiry.Sub(t.Issued) }

// RefreshAt is when a new token is due: at 80 % of the lifetime, but at
// least min(lifetime/3, 1s) before expiry, so that a short-lived token
// (seconds) still leaves room for a round trip on a busy machine and a
// retry before it stops being used.
func (t Token) RefreshAt() time.Time {
	life := t.Lifetime()
	at := t.Issued.Add(life * 8 / 10)
	if e := t.Expiry.Add(-min(life/3, time.Second)); e.Before(at) {
		at = e
	}
	return at
}

// usableUntil is the last moment the token is handed out: its expiry
// less min(lifetime/10, 1s), the time a request may take to reach
// Elasticsearch.
func (t Token) usableUntil() time.Time {
	return t.Expiry.Add(-min(t.Lifetime()/10, time.Second))
}

// Clock is the time source (real time by default; tests inject one).
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Options are a provider's hooks; the zero value is silent real time.
type Options struct {
	// Clock defaults to real time.
	Clock Clock
	// Log gets refresh failures at warn (default: discarded).
	Log *slog.Logger
	// OnRefresh is called after each refresh attempt with its outcome and
	// the expiry of the token in force (metrics).
	OnRefresh func(ok bool, expiry time.Time)
	// Configured is the credential read from the configuration: its
	// ES-Client-Authentication (a JWT realm's shared secret) goes beside
	// the token, and a *Configured also holds the OAuth2 client secret
	// (default none); a reload replaces it with SetConfigured.
	Configured auth.Credential
	// FetchTimeout bounds one request to the token endpoint (default 10s).
	FetchTimeout time.Duration
}

// Provider keeps a short-lived token fresh; see the package doc.
type Provider struct {
	kind         string // "oauth2" or "bearer_jwt_file"
	src          source
	file         bool // re-read until newer, every second, rather than back off
	clock        Clock
	log          *slog.Logger
	on           func(bool, time.Time)
	fetchTimeout time.Duration

	cur        atomic.Pointer[state]
	clientAuth atomic.Pointer[string]
	secret     atomic.Pointer[string] // OAuth2 client secret from Configured
	kick       chan struct{}
	lastKick   atomic.Int64 // unix nanos of the last Rejected that kicked
	refreshes  atomic.Int64 // successful refreshes after the first token
}

// state is published whole after each fetch attempt.
type state struct {
	tok  Token
	cred auth.Credential // nil before the first token
	err  error           // the last attempt's failure, nil after a success
}

type source interface {
	fetch(ctx context.Context) (Token, error)
	describe() string
}

// NewOAuth2 returns a provider of client-credentials tokens. It has no
// token until Init.
func NewOAuth2(cfg OAuth2Config, o Options) *Provider {
	p := newProvider("oauth2", o)
	if cfg.ClientSecret == nil {
		cfg.ClientSecret = func() (string, error) {
			if s := *p.secret.Load(); s != "" {
				return s, nil
			}
			return "", errors.New("no OAuth2 client secret configured")
		}
	}
	p.src = &oauth2Source{cfg: cfg, now: p.clock.Now}
	return p
}

// NewFile returns a provider that follows the JWT in path. It has no
// token until Init.
func NewFile(path string, o Options) *Provider {
	p := newProvider("bearer_jwt_file", o)
	p.src = &fileSource{path: path, now: p.clock.Now}
	p.file = true
	return p
}

func newProvider(kind string, o Options) *Provider {
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.FetchTimeout <= 0 {
		o.FetchTimeout = 10 * time.Second
	}
	p := &Provider{kind: kind, clock: o.Clock, log: o.Log, on: o.OnRefresh, fetchTimeout: o.FetchTimeout, kick: make(chan struct{}, 1)}
	p.cur.Store(&state{err: errors.New("no token yet")})
	p.SetConfigured(o.Configured)
	return p
}

// Init gets the first token. Its error is the source's: for OAuth2 an
// *EndpointError (invalid_client and the like).
func (p *Provider) Init(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.fetchTimeout)
	defer cancel()
	t, err := p.src.fetch(ctx)
	if err != nil {
		return err
	}
	p.store(t)
	p.report(true)
	return nil
}

// SetConfigured puts the configured credential in force (see
// Options.Configured); a reload calls it. The next request carries its
// shared secret, the next token request its client secret.
func (p *Provider) SetConfigured(c auth.Credential) {
	v, sec := "", ""
	if ca, ok := c.(auth.ClientAuthenticator); ok {
		v = ca.ClientAuthentication()
	}
	if cc, ok := c.(*Configured); ok {
		sec = cc.clientSecret
	}
	p.clientAuth.Store(&v)
	p.secret.Store(&sec)
}

// Configured is the configured part of an OAuth2 credential: the client
// secret and the JWT realm's shared secret. It sends no Authorization of
// its own (Apply removes it); the Provider sends the token.
type Configured struct {
	clientSecret string
	clientAuth   string
}

// NewConfigured holds an OAuth2 client secret and a shared secret ("" for none).
func NewConfigured(clientSecret, sharedSecret string) *Configured {
	c := &Configured{clientSecret: clientSecret}
	if sharedSecret != "" {
		c.clientAuth = "SharedSecret " + sharedSecret
	}
	return c
}

func (c *Configured) Apply(h http.Header) { delete(h, "Authorization") }
func (c *Configured) Kind() string        { return "oauth2" }
func (c *Configured) Header() string      { return "" }
func (c *Configured) String() string      { return "oauth2 client credentials (redacted)" }

// ClientAuthentication is the shared secret's header value, or "".
func (c *Configured) ClientAuthentication() string { return c.clientAuth }

func (p *Provider) store(t Token) {
	p.cur.Store(&state{tok: t, cred: auth.Bearer(t.Value)})
}

func (p *Provider) report(ok bool) {
	if p.on != nil {
		p.on(ok, p.cur.Load().tok.Expiry)
	}
}

// Credential returns the token in force with the shared secret, if any,
// or an error wrapping auth.ErrNoValidCredential once the token is
// expired (or about to be) and no new one came.
func (p *Provider) Credential() (auth.Credential, error) {
	s := p.cur.Load()
	if s.cred == nil || !p.clock.Now().Before(s.tok.usableUntil()) {
		return nil, p.unavailable(s)
	}
	if ca := *p.clientAuth.Load(); ca != "" {
		return &withSecret{Credential: s.cred, value: ca}, nil
	}
	return s.cred, nil
}

func (p *Provider) unavailable(s *state) error {
	why := s.err
	if why == nil {
		why = errors.New(p.src.describe() + ": no newer token yet")
	}
	if s.cred == nil {
		return fmt.Errorf("%v: %w", why, auth.ErrNoValidCredential)
	}
	return fmt.Errorf("%v (the token expired at %s): %w", why, s.tok.Expiry.UTC().Format(time.RFC3339), auth.ErrNoValidCredential)
}

// Ready is false, with why, while Credential would fail.
func (p *Provider) Ready() (bool, string) {
	if _, err := p.Credential(); err != nil {
		return false, err.Error()
	}
	return true, ""
}

// Rejected asks for a new token at once when Elasticsearch refused the
// one in force (sent): at most one a second, and only one fetch however
// many requests were refused.
func (p *Provider) Rejected(sent string) {
	s := p.cur.Load()
	if s.cred == nil || s.cred.Header() != sent {
		return // already replaced
	}
	now := p.clock.Now().UnixNano()
	last := p.lastKick.Load()
	if now-last < int64(time.Second) || !p.lastKick.CompareAndSwap(last, now) {
		return
	}
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// Kind is "oauth2" or "bearer_jwt_file".
func (p *Provider) Kind() string { return p.kind }

// Header is the Authorization value in force ("" with none valid).
func (p *Provider) Header() string {
	c, err := p.Credential()
	if err != nil {
		return ""
	}
	return c.Header()
}

// Apply sets Authorization (and ES-Client-Authentication) to the token
// in force, or removes them when there is none valid: with Kind and
// Header, a Provider is an auth.Credential for esgate's own calls.
func (p *Provider) Apply(h http.Header) {
	c, err := p.Credential()
	if err != nil {
		delete(h, "Authorization")
		delete(h, "Es-Client-Authentication")
		return
	}
	delete(h, "Es-Client-Authentication")
	c.Apply(h)
}

// String never shows the token.
func (p *Provider) String() string { return p.kind + " credential (redacted)" }

// Info is what may be shown of the token in force: whose it is and when
// it expires, never the token.
type Info struct {
	Kind    string
	Source  string // "token endpoint <url>" or "bearer_token_file <path>"
	Subject string
	Expiry  time.Time
	Valid   bool
}

// Info describes the token in force.
func (p *Provider) Info() Info {
	s := p.cur.Load()
	_, err := p.Credential()
	return Info{Kind: p.kind, Source: p.src.describe(), Subject: s.tok.Subject, Expiry: s.tok.Expiry, Valid: err == nil}
}

// Refreshes counts the tokens obtained after the first.
func (p *Provider) Refreshes() int64 { return p.refreshes.Load() }

// Run refreshes the token until ctx ends: at RefreshAt, at once after a
// Rejected, and after failures with jittered backoff (file tokens: every
// second). Only Run fetches, so there is one refresh at a time.
func (p *Provider) Run(ctx context.Context) {
	failures := 0
	for {
		s := p.cur.Load()
		var wait time.Duration
		switch {
		case s.cred == nil || failures > 0:
			wait = p.retryDelay(failures, s)
		default:
			wait = s.tok.RefreshAt().Sub(p.clock.Now())
		}
		if wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-p.kick:
			case <-p.clock.After(wait):
			}
		} else if ctx.Err() != nil {
			return
		}
		fctx, cancel := context.WithTimeout(ctx, p.fetchTimeout)
		t, err := p.src.fetch(fctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err == nil && p.file && s.cred != nil && !t.Expiry.After(s.tok.Expiry) {
			// The file still holds the same token: look again in a second.
			failures = max(failures, 1)
			continue
		}
		if err != nil {
			failures++
			p.cur.Store(&state{tok: s.tok, cred: s.cred, err: err})
			p.report(false)
			reason := "error"
			var ee *EndpointError
			if errors.As(err, &ee) {
				reason = ee.Reason()
			}
			p.log.Warn("token refresh failed", "credential", p.kind, "error_code", reason, "err", err,
				"token_valid", p.clock.Now().Before(s.tok.usableUntil()), "attempt", failures)
			continue
		}
		failures = 0
		p.store(t)
		p.refreshes.Add(1)
		p.report(true)
	}
}

// retryDelay is the wait before attempt n+1 after n failures: a second
// for files; else jittered exponential backoff from 100ms, capped at 1s
// once no valid token is left and at min(30s, a quarter of the time left)
// while one is.
func (p *Provider) retryDelay(n int, s *state) time.Duration {
	if p.file {
		return time.Second
	}
	capd := time.Second
	if s.cred != nil {
		if left := s.tok.usableUntil().Sub(p.clock.Now()); left > 4*time.Second {
			capd = min(30*time.Second, left/4)
		}
	}
	d := 100 * time.Millisecond << min(n, 10)
	d = min(d, capd)
	return d/2 + rand.N(d/2+1)
}

// withSecret is a credential with a JWT realm's client shared secret.
type withSecret struct {
	auth.Credential
	value string // "SharedSecret …"
}

func (w *withSecret) ClientAuthentication() string { return w.value }

// Apply sets Authorization (if any) and ES-Client-Authentication.
func (w *withSecret) Apply(h http.Header) {
	w.Credential.Apply(h)
	h.Set("ES-Client-Authentication", w.value)
}
func (w *withSecret) String() string { return w.Kind() + " credential with shared secret (redacted)" }

// WithSharedSecret adds ES-Client-Authentication: SharedSecret secret to
// c (c may be auth.NoHeader for a credential that is only the secret).
func WithSharedSecret(c auth.Credential, secret string) auth.Credential {
	if secret == "" {
		return c
	}
	return &withSecret{Credential: c, value: "SharedSecret " + secret}
}

var (
	_ auth.Provider       = (*Provider)(nil)
	_ auth.Runner         = (*Provider)(nil)
	_ auth.RejectNotifier = (*Provider)(nil)
	_ auth.ReadyReporter  = (*Provider)(nil)
	_ auth.Credential     = (*Provider)(nil)
)

// ClientSecret is the OAuth2 client secret held.
func (c *Configured) ClientSecret() string { return c.clientSecret }
