package issuer

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/esgate/esgate/test/pki"
)

// Options configure a Server. Zero values take the documented defaults.
type Options struct {
	// Addr to listen on (default 127.0.0.1:0).
	Addr string
	// CA signs the HTTPS certificate (for localhost, 127.0.0.1 and ::1);
	// generated when nil.
	CA *pki.CA
	// Issuer is the iss claim (default the server's URL, as an OIDC
	// provider's issuer is).
	Issuer string
	// Algorithm signs the token endpoint's JWTs: "RS256" (default) or
	// "HS256" (with HMACKey).
	Algorithm string
	// HMACKey is the HS256 key, the realm's hmac_key (default 32 random
	// bytes, base64url text so that it is a valid UTF-8 string).
	HMACKey string
	// Lifetime of issued tokens (default 1h); SetLifetime changes it.
	Lifetime time.Duration
	// Audience is the aud claim when the request has no audience
	// parameter (default "elasticsearch").
	Audience string
	// OmitExpiresIn leaves expires_in out of token responses, so that a
	// client must read the JWT's exp (default false).
	OmitExpiresIn bool
	// Now is the clock for iat/nbf/exp (default time.Now).
	Now func() time.Time
}

// EndpointState is what the token endpoint does with requests.
type EndpointState int32

const (
	// Up issues tokens.
	Up EndpointState = iota
	// Unavailable answers 503 {"error":"temporarily_unavailable"} (the
	// RFC 6749 §4.1.2.1 code, which §5.2 does not list: chosen).
	Unavailable
	// Refuse closes the connection without an answer (as a crashed or
	// restarting issuer behind a load balancer does).
	Refuse
)

type client struct {
	secret string
	scopes []string // allowed; nil allows any
}

// Server is an OAuth2/OIDC-shaped token issuer over HTTPS: a client
// credentials token endpoint (POST /oauth2/token), a JWKS (GET /jwks.json,
// and /openid/v1/jwks as the Kubernetes API server serves it) and an OIDC
// discovery document (GET /.well-known/openid-configuration).
type Server struct {
	// URL is https://127.0.0.1:port.
	URL string
	// TokenURL is URL + "/oauth2/token".
	TokenURL string
	// JWKSURL is URL + "/jwks.json".
	JWKSURL string
	// CA signed the HTTPS certificate.
	CA *pki.CA

	opts  Options
	ln    net.Listener
	srv   *http.Server
	state atomic.Int32

	mu       sync.Mutex
	key      *rsa.PrivateKey
	kid      string
	oldKeys  []*rsa.PrivateKey // still in the JWKS after RotateKey(true)
	clients  map[string]client
	issued   map[string]int64
	lifetime time.Duration
	omitExp  bool
	requests atomic.Int64
	failures atomic.Int64
	jwksHits atomic.Int64
}

// Start generates the keys (and the CA unless given) and serves HTTPS.
func Start(opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.Algorithm == "" {
		opts.Algorithm = "RS256"
	}
	if opts.Algorithm != "RS256" && opts.Algorithm != "HS256" {
		return nil, fmt.Errorf("issuer: Algorithm %q: use RS256 or HS256", opts.Algorithm)
	}
	if opts.HMACKey == "" {
		b := make([]byte, 32)
		rand.Read(b)
		opts.HMACKey = base64.RawURLEncoding.EncodeToString(b)
	}
	if opts.Lifetime <= 0 {
		opts.Lifetime = time.Hour
	}
	if opts.Audience == "" {
		opts.Audience = "elasticsearch"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts, CA: opts.CA, clients: map[string]client{}, issued: map[string]int64{},
		lifetime: opts.Lifetime, omitExp: opts.OmitExpiresIn}
	if s.CA == nil {
		ca, err := pki.NewCA("esgate test issuer CA")
		if err != nil {
			return nil, err
		}
		s.CA = ca
	}
	leaf, err := s.CA.Issue("issuer", "ec")
	if err != nil {
		return nil, err
	}
	if err := s.RotateKey(false); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, err
	}
	s.ln = ln
	s.URL = "https://" + ln.Addr().String()
	s.TokenURL = s.URL + "/oauth2/token"
	s.JWKSURL = s.URL + "/jwks.json"
	if s.opts.Issuer == "" {
		s.opts.Issuer = s.URL
	}
	tc := leaf.TLSCertificate()
	s.srv = &http.Server{
		Handler:           s,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{tc}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          nil,
	}
	go s.srv.ServeTLS(ln, "", "")
	return s, nil
}

// StartT starts a server for a test, closes it when tb ends, and writes
// its CA certificate to a temporary file whose path it returns.
func StartT(tb testing.TB, opts Options) (*Server, string) {
	tb.Helper()
	s, err := Start(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	ca := filepath.Join(tb.TempDir(), "issuer_ca.crt")
	if err := s.WriteCA(ca); err != nil {
		tb.Fatal(err)
	}
	return s, ca
}

// Close stops the server at once.
func (s *Server) Close() { s.srv.Close() }

// WriteCA writes the CA certificate PEM to path.
func (s *Server) WriteCA(path string) error { return os.WriteFile(path, s.CA.CertPEM(), 0o644) }

// Issuer is the iss claim of the tokens issued.
func (s *Server) Issuer() string { return s.opts.Issuer }

// Algorithm is the token endpoint's signing algorithm.
func (s *Server) Algorithm() string { return s.opts.Algorithm }

// HMACKey is the HS256 key (the realm's hmac_key).
func (s *Server) HMACKey() string { return s.opts.HMACKey }

// AddClient registers (or replaces) a client. scopes are the scopes it may
// ask for; none means any.
func (s *Server) AddClient(id, secret string, scopes ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients[id] = client{secret: secret, scopes: scopes}
}

// RemoveClient deletes a client: its next token request gets invalid_client.
func (s *Server) RemoveClient(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.clients, id)
}

// SetState takes the token endpoint down (Unavailable, Refuse) or back Up.
// The JWKS and discovery documents stay served.
func (s *Server) SetState(st EndpointState) { s.state.Store(int32(st)) }

// SetLifetime changes the lifetime of tokens issued from now on.
func (s *Server) SetLifetime(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lifetime = d
}

// SetOmitExpiresIn leaves expires_in out of responses from now on (or puts
// it back).
func (s *Server) SetOmitExpiresIn(omit bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.omitExp = omit
}

// Issued counts the tokens issued to a client.
func (s *Server) Issued(clientID string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issued[clientID]
}

// IssuedTotal counts every token issued (token endpoint and Mint).
func (s *Server) IssuedTotal() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, v := range s.issued {
		n += v
	}
	return n
}

// TokenRequests counts requests to the token endpoint, answered or not;
// TokenFailures those that did not get a token.
func (s *Server) TokenRequests() int64 { return s.requests.Load() }

// TokenFailures counts token requests that did not get a token.
func (s *Server) TokenFailures() int64 { return s.failures.Load() }

// JWKSRequests counts requests for the JWKS.
func (s *Server) JWKSRequests() int64 { return s.jwksHits.Load() }

// RotateKey replaces the RSA signing key (2048 bits) with a new one whose
// kid is its Kubernetes-style key id. keepOld keeps the old public key in
// the JWKS, as an issuer does during a rollover; without it, tokens signed
// by the old key no longer verify after the realm reloads the JWKS.
func (s *Server) RotateKey(keepOld bool) error {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.key != nil && keepOld {
		s.oldKeys = append(s.oldKeys, s.key)
	} else {
		s.oldKeys = nil
	}
	s.key, s.kid = k, KeyID(&k.PublicKey)
	return nil
}

// SigningKey is the current RSA key and its kid.
func (s *Server) SigningKey() (*rsa.PrivateKey, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.key, s.kid
}

// JWKSDocument is the JWKS served: the current RSA key (and kept old ones)
// with use "sig", alg "RS256" and their kids.
func (s *Server) JWKSDocument() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := []map[string]any{JWK(&s.key.PublicKey, s.kid, "RS256")}
	for _, k := range s.oldKeys {
		keys = append(keys, JWK(&k.PublicKey, KeyID(&k.PublicKey), "RS256"))
	}
	return JWKS(keys...)
}

// WriteJWKS writes the JWKS to path (for a realm's pkc_jwkset_path file).
func (s *Server) WriteJWKS(path string) error { return os.WriteFile(path, s.JWKSDocument(), 0o644) }

// Mint issues a token as the token endpoint would for clientID (sub), with
// the given audience ("" for the default) and lifetime (0 for the
// server's), and counts it.
func (s *Server) Mint(clientID, audience string, lifetime time.Duration) (string, error) {
	s.mu.Lock()
	if lifetime <= 0 {
		lifetime = s.lifetime
	}
	s.mu.Unlock()
	var aud any = s.opts.Audience
	if audience != "" {
		aud = audience
	}
	tok, _, err := s.mint(clientID, aud, nil, lifetime)
	return tok, err
}

func (s *Server) mint(sub string, aud any, scopes []string, lifetime time.Duration) (string, time.Time, error) {
	now := s.opts.Now()
	exp := now.Add(lifetime)
	claims := map[string]any{
		"iss": s.opts.Issuer, "sub": sub, "aud": aud,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": exp.Unix(), "jti": randomHex(16),
	}
	if len(scopes) > 0 {
		claims["scope"] = strings.Join(scopes, " ")
	}
	s.mu.Lock()
	key, kid := s.key, s.kid
	s.mu.Unlock()
	var tok string
	var err error
	if s.opts.Algorithm == "HS256" {
		tok, err = Sign(map[string]any{"alg": "HS256", "typ": "JWT"}, claims, []byte(s.opts.HMACKey))
	} else {
		tok, err = Sign(map[string]any{"alg": "RS256", "typ": "JWT", "kid": kid}, claims, key)
	}
	if err == nil {
		s.mu.Lock()
		s.issued[sub]++
		s.mu.Unlock()
	}
	return tok, exp, err
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return fmt.Sprintf("%x", b)
}

// ServeHTTP routes the issuer's endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/oauth2/token":
		s.token(w, r)
	case "/jwks.json", "/openid/v1/jwks":
		s.jwksHits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write(s.JWKSDocument())
	case "/.well-known/openid-configuration":
		algs := []string{s.opts.Algorithm}
		doc, _ := json.Marshal(map[string]any{
			"issuer": s.opts.Issuer, "token_endpoint": s.TokenURL, "jwks_uri": s.JWKSURL,
			"grant_types_supported":                 []string{"client_credentials"},
			"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
			"id_token_signing_alg_values_supported": algs,
			"response_types_supported":              []string{"id_token"},
			"subject_types_supported":               []string{"public"},
		})
		w.Header().Set("Content-Type", "application/json")
		w.Write(doc)
	default:
		http.NotFound(w, r)
	}
}

// oauthError writes an RFC 6749 §5.2 error.
func oauthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"error": code, "error_description": desc})
	w.Write(b)
}

var (
	errNoAuth = errors.New("no client authentication")
	errMulti  = errors.New("more than one client authentication method")
)

// clientAuth returns the client id and secret and whether the
// Authorization header carried them (client_secret_basic, RFC 6749
// §2.3.1: each part form-url-encoded before base64).
func clientAuth(r *http.Request, form url.Values) (id, secret string, basic bool, err error) {
	h := r.Header.Get("Authorization")
	postID, postSecret := form.Get("client_id"), form.Get("client_secret")
	if h != "" {
		scheme, cred, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "basic") {
			return "", "", true, errors.New("unsupported authorization scheme")
		}
		raw, derr := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
		rid, rsecret, ok := strings.Cut(string(raw), ":")
		if derr != nil || !ok {
			return "", "", true, errors.New("malformed Basic credentials")
		}
		if id, err = url.QueryUnescape(rid); err == nil {
			secret, err = url.QueryUnescape(rsecret)
		}
		if err != nil {
			return "", "", true, errors.New("malformed Basic credentials")
		}
		if postSecret != "" {
			return "", "", true, errMulti
		}
		return id, secret, true, nil
	}
	if postID == "" {
		return "", "", false, errNoAuth
	}
	return postID, postSecret, false, nil
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	ok := false
	defer func() {
		if !ok {
			s.failures.Add(1)
		}
	}()
	switch EndpointState(s.state.Load()) {
	case Unavailable:
		oauthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the token endpoint is down")
		return
	case Refuse:
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "the token endpoint takes POST")
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "the body must be application/x-www-form-urlencoded")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<16)
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "unreadable form body")
		return
	}
	form := r.PostForm
	id, secret, basic, err := clientAuth(r, form)
	if errors.Is(err, errMulti) {
		oauthError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	s.mu.Lock()
	c, known := s.clients[id]
	s.mu.Unlock()
	if err != nil || !known || c.secret != secret {
		// §5.2: 401 with a challenge when the client used the
		// Authorization header; 400 otherwise (chosen: the RFC allows 401).
		if basic {
			w.Header().Set("WWW-Authenticate", `Basic realm="esgate-test-issuer"`)
			oauthError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		} else {
			oauthError(w, http.StatusBadRequest, "invalid_client", "client authentication failed")
		}
		return
	}
	switch gt := form.Get("grant_type"); gt {
	case "client_credentials":
	case "":
		oauthError(w, http.StatusBadRequest, "invalid_request", "missing grant_type")
		return
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type "+strconv.Quote(gt)+" is not supported")
		return
	}
	scopes := strings.Fields(form.Get("scope"))
	for _, sc := range scopes {
		if c.scopes != nil && !slices.Contains(c.scopes, sc) {
			oauthError(w, http.StatusBadRequest, "invalid_scope", "scope "+strconv.Quote(sc)+" is not allowed for this client")
			return
		}
	}
	var aud any = s.opts.Audience
	if a := form["audience"]; len(a) == 1 {
		aud = a[0]
	} else if len(a) > 1 {
		aud = a
	}
	s.mu.Lock()
	lifetime, omit := s.lifetime, s.omitExp
	s.mu.Unlock()
	tok, _, err := s.mint(id, aud, scopes, lifetime)
	if err != nil {
		oauthError(w, http.StatusInternalServerError, "server_error", "signing failed")
		return
	}
	resp := map[string]any{"access_token": tok, "token_type": "Bearer"}
	if !omit {
		resp["expires_in"] = int64(lifetime.Round(time.Second) / time.Second)
	}
	if len(scopes) > 0 {
		resp["scope"] = strings.Join(scopes, " ")
	}
	b, _ := json.Marshal(resp)
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	ok = true
	w.Write(b)
}
