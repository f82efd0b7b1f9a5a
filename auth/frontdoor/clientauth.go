package frontdoor

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Config is what a route's configuration says about its clients.
type Config struct {
	// CertFile and KeyFile are the listener's certificate
	// (listen_ssl_certificate, listen_ssl_key); empty: plain HTTP.
	CertFile, KeyFile string
	// ClientCAs are CA files whose client certificates are accepted
	// (listen_ssl_client_ca).
	ClientCAs []string
	// AllowedNames limit accepted client certificates to these subject
	// CNs, DNS or URI SANs (client_allowed_names); empty: any from ClientCAs.
	AllowedNames []string
	// BasicUsers are "name:bcrypt-hash" entries (client_basic_users),
	// hashes made by esgate hash-password.
	BasicUsers []string
	// BearerTokens are "name:sha256-hex" entries (client_bearer_tokens),
	// made by esgate hash-password --token.
	BearerTokens []string
	// Managed says the listener's certificate is managed (obtained and
	// renewed by certs.Managed, listen_ssl_domains) instead of read from
	// CertFile and KeyFile; see Guard.UseManaged.
	Managed bool
}

// Required reports whether the configuration asks clients to authenticate.
func (c Config) Required() bool {
	return len(c.ClientCAs) > 0 || len(c.BasicUsers) > 0 || len(c.BearerTokens) > 0
}

// TLS reports whether the listener serves TLS.
func (c Config) TLS() bool { return c.CertFile != "" || c.Managed }

// Guard is a route's front door: its TLS server configuration and the
// authentication of each request. It is immutable; a reload builds a new
// one.
type Guard struct {
	cert     *tls.Certificate
	getCert  func(*tls.ClientHelloInfo) (*tls.Certificate, error) // managed
	pool     *x509.CertPool
	names    map[string]bool
	users    map[string][]byte // name -> bcrypt hash
	tokens   map[[32]byte]string
	required bool
	limiter  *Limiter
}

// New loads c's files and parses its entries; errors name the key.
func New(c Config, limiter *Limiter) (*Guard, error) {
	g := &Guard{names: map[string]bool{}, users: map[string][]byte{}, tokens: map[[32]byte]string{}, required: c.Required(), limiter: limiter}
	if c.CertFile != "" || c.KeyFile != "" {
		if c.CertFile == "" || c.KeyFile == "" {
			return nil, errors.New("listen_ssl_certificate and listen_ssl_key go together")
		}
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("listen_ssl_certificate: %w", err)
		}
		g.cert = &cert
	}
	if c.Managed && g.cert != nil {
		return nil, errors.New("listen_ssl_domains (a managed certificate) and listen_ssl_certificate exclude each other: choose one")
	}
	if len(c.ClientCAs) > 0 {
		if g.cert == nil && !c.Managed {
			return nil, errors.New("listen_ssl_client_ca needs TLS on the listener: set listen_ssl_certificate and listen_ssl_key")
		}
		g.pool = x509.NewCertPool()
		for _, f := range c.ClientCAs {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("listen_ssl_client_ca: %w", err)
			}
			if !g.pool.AppendCertsFromPEM(b) {
				return nil, fmt.Errorf("listen_ssl_client_ca: %s holds no PEM certificate", f)
			}
		}
	}
	for _, n := range c.AllowedNames {
		g.names[n] = true
	}
	for _, u := range c.BasicUsers {
		name, hash, ok := strings.Cut(u, ":")
		if !ok || name == "" {
			return nil, errors.New("client_basic_users: want name:bcrypt-hash (from esgate hash-password)")
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return nil, fmt.Errorf("client_basic_users: %s: not a bcrypt hash (make one with esgate hash-password)", name)
		}
		g.users[name] = []byte(hash)
	}
	for _, t := range c.BearerTokens {
		name, h, ok := strings.Cut(t, ":")
		h = strings.TrimPrefix(h, "sha256:")
		b, err := hex.DecodeString(h)
		if !ok || name == "" || err != nil || len(b) != 32 {
			return nil, errors.New("client_bearer_tokens: want name:sha256-hex (from esgate hash-password --token)")
		}
		g.tokens[[32]byte(b)] = name
	}
	return g, nil
}

// UseManaged serves mg's certificate; call it before the Guard is in use.
func (g *Guard) UseManaged(getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) {
	g.getCert = getCert
}

// ServerTLS returns the listener's TLS configuration, nil without TLS.
// current is called for every handshake, so a reloaded Guard's
// certificate and client CAs apply to new connections at once.
func ServerTLS(current func() *Guard) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			g := current()
			if g == nil || (g.cert == nil && g.getCert == nil) {
				return nil, errors.New("no listener certificate")
			}
			c := &tls.Config{MinVersion: tls.VersionTLS12}
			if g.getCert != nil {
				c.GetCertificate = g.getCert
				// TLS-ALPN-01 challenges, when the ACME CA reaches this
				// listener.
				c.NextProtos = []string{"http/1.1", "acme-tls/1"}
			} else {
				c.Certificates = []tls.Certificate{*g.cert}
			}
			if g.pool != nil {
				// Verified if given; whether it is required is decided per
				// request, so that Basic and bearer clients may come too.
				c.ClientCAs, c.ClientAuth = g.pool, tls.VerifyClientCertIfGiven
			}
			return c, nil
		},
	}
}

// Refusal is a failed authentication: Status 401 (or 429 when the
// client's address failed too often), Challenge the WWW-Authenticate
// value.
type Refusal struct {
	Status    int
	Reason    string
	Challenge string
}

// Authenticate returns the client's identity ("" when the route needs
// none), or why it is refused. It never returns or logs a secret.
func (g *Guard) Authenticate(r *http.Request) (string, *Refusal) {
	if !g.required {
		return "", nil
	}
	ip := clientIP(r)
	if g.limiter.Blocked(ip) {
		return "", &Refusal{Status: http.StatusTooManyRequests, Reason: "too many failed logins from " + ip + "; wait a minute"}
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 && g.pool != nil {
		// The handshake verified the chain against the client CAs.
		if name, ok := g.certName(r.TLS.PeerCertificates[0]); ok {
			return "cert:" + name, nil
		}
		g.limiter.Fail(ip)
		return "", &Refusal{Status: http.StatusUnauthorized, Reason: "the client certificate's names are not in client_allowed_names", Challenge: g.challenge()}
	}
	h := r.Header.Get("Authorization")
	switch {
	case len(g.users) > 0 && len(h) > 6 && strings.EqualFold(h[:6], "basic "):
		user, pass, ok := r.BasicAuth()
		if hash, known := g.users[user]; ok && known && bcrypt.CompareHashAndPassword(hash, []byte(pass)) == nil {
			return "user:" + user, nil
		}
	case len(g.tokens) > 0 && len(h) > 7 && strings.EqualFold(h[:7], "bearer "):
		sum := sha256.Sum256([]byte(strings.TrimSpace(h[7:])))
		for k, name := range g.tokens {
			if subtle.ConstantTimeCompare(k[:], sum[:]) == 1 {
				return "token:" + name, nil
			}
		}
	case h == "":
		return "", &Refusal{Status: http.StatusUnauthorized, Reason: "missing authentication credentials for esgate: this listener requires " + g.methods(), Challenge: g.challenge()}
	}
	g.limiter.Fail(ip)
	return "", &Refusal{Status: http.StatusUnauthorized, Reason: "unable to authenticate the client to esgate (" + g.methods() + ")", Challenge: g.challenge()}
}

func (g *Guard) certName(c *x509.Certificate) (string, bool) {
	names := append([]string{c.Subject.CommonName}, c.DNSNames...)
	for _, u := range c.URIs {
		names = append(names, u.String())
	}
	if len(g.names) == 0 {
		return names[0], true
	}
	for _, n := range names {
		if g.names[n] {
			return n, true
		}
	}
	return "", false
}

func (g *Guard) methods() string {
	var m []string
	if g.pool != nil {
		m = append(m, "a client certificate")
	}
	if len(g.users) > 0 {
		m = append(m, "Basic")
	}
	if len(g.tokens) > 0 {
		m = append(m, "a Bearer token")
	}
	return strings.Join(m, " or ")
}

func (g *Guard) challenge() string {
	var c []string
	if len(g.users) > 0 {
		c = append(c, `Basic realm="esgate", charset="UTF-8"`)
	}
	if len(g.tokens) > 0 {
		c = append(c, `Bearer realm="esgate"`)
	}
	return strings.Join(c, ", ")
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Limiter counts failed logins per client address: after Max failures
// within Window, the address is refused (429) until the window passes.
// Its memory is bounded: at most MaxAddrs addresses are tracked.
type Limiter struct {
	Max      int           // default 10
	Window   time.Duration // default 1m
	MaxAddrs int           // default 10000
	mu       sync.Mutex
	fails    map[string][]time.Time
	now      func() time.Time
}

func (l *Limiter) init() {
	if l.fails == nil {
		l.fails = map[string][]time.Time{}
	}
	if l.Max <= 0 {
		l.Max = 10
	}
	if l.Window <= 0 {
		l.Window = time.Minute
	}
	if l.MaxAddrs <= 0 {
		l.MaxAddrs = 10000
	}
	if l.now == nil {
		l.now = time.Now
	}
}

// recent drops failures older than the window; l.mu is held.
func (l *Limiter) recent(ip string) []time.Time {
	cut := l.now().Add(-l.Window)
	f := l.fails[ip]
	i := 0
	for i < len(f) && f[i].Before(cut) {
		i++
	}
	f = f[i:]
	if len(f) == 0 {
		delete(l.fails, ip)
	} else {
		l.fails[ip] = f
	}
	return f
}

// Blocked reports whether ip failed Max times within the window.
func (l *Limiter) Blocked(ip string) bool {
	if l == nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.init()
	return len(l.recent(ip)) >= l.Max
}

// Fail records a failed login from ip.
func (l *Limiter) Fail(ip string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.init()
	f := l.recent(ip)
	if f == nil && len(l.fails) >= l.MaxAddrs {
		for k := range l.fails { // full: forget some address
			delete(l.fails, k)
			break
		}
	}
	l.fails[ip] = append(f, l.now())
}

// HashToken returns the client_bearer_tokens form of a token's hash.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "sha256:" + hex.EncodeToString(sum[:])
}
