package auth

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
)

// Credential sets the Authorization header of an outbound request.
type Credential interface {
	// Apply replaces any Authorization header in h with this credential.
	Apply(h http.Header)
	// Kind names the method ("basic", "api_key", "bearer", "pki", "none")
	// for logs and metrics. It never contains the secret.
	Kind() string
	// Header returns the Authorization value ("" for none).
	Header() string
}

// header is a credential rendered once into its header value.
type header struct {
	kind  string
	value []string // shared, never mutated
}

func (c *header) Apply(h http.Header) { h["Authorization"] = c.value }
func (c *header) Kind() string        { return c.kind }
func (c *header) Header() string      { return c.value[0] }

// String hides the secret if a credential is ever formatted.
func (c *header) String() string { return c.kind + " credential (redacted)" }

// Basic returns HTTP Basic credentials for user and password.
func Basic(user, password string) Credential {
	v := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
	return &header{kind: "basic", value: []string{v}}
}

// APIKey returns an "ApiKey" credential from an already-encoded key (see ParseAPIKey).
func APIKey(encoded string) Credential {
	return &header{kind: "api_key", value: []string{"ApiKey " + encoded}}
}

// Bearer returns a "Bearer" credential (service-account or OAuth token).
func Bearer(token string) Credential {
	return &header{kind: "bearer", value: []string{"Bearer " + token}}
}

// Raw returns a credential that sets Authorization to value as given
// ("ApiKey …", "Basic …"); kind is what Kind reports.
func Raw(kind, value string) Credential {
	return &header{kind: kind, value: []string{value}}
}

// None is used with PKI, where the credential is the client certificate:
// it removes any client-sent Authorization and adds nothing.
type None struct{ kind string }

// NoHeader returns a credential that only strips Authorization; kind is
// reported by Kind ("pki" or "none").
func NoHeader(kind string) Credential { return None{kind: kind} }

func (None) Apply(h http.Header) { delete(h, "Authorization") }
func (n None) Kind() string      { return n.kind }
func (None) Header() string      { return "" }

// Errors returned by the parsers. They never include the value parsed.
var (
	ErrAPIKeyFormat    = errors.New("must be id:api_key, the base64 \"encoded\" value of the create API key response, or an essu_ Cloud key")
	ErrCloudAuthFormat = errors.New("must be user:password")
	ErrEmpty           = errors.New("is empty")
)

// ParseAPIKey accepts the three forms Logstash accepts and returns the value
// that follows "ApiKey " in the header:
//   - "id:api_key" is base64-encoded;
//   - an Elastic Cloud key starting with "essu_" is used as is;
//   - a base64 value whose decoding is "id:api_key" is used as is.
func ParseAPIKey(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", ErrEmpty
	case strings.HasPrefix(s, "essu_"):
		for _, c := range s {
			if c <= ' ' || c >= 0x7f || c == ':' {
				return "", ErrAPIKeyFormat
			}
		}
		return s, nil
	case strings.Contains(s, ":"):
		id, key, _ := strings.Cut(s, ":")
		if id == "" || key == "" || strings.Contains(key, ":") {
			return "", ErrAPIKeyFormat
		}
		for _, c := range s {
			if c <= ' ' || c == 0x7f {
				return "", ErrAPIKeyFormat
			}
		}
		return base64.StdEncoding.EncodeToString([]byte(s)), nil
	}
	for _, c := range s {
		// The decoder skips \r and \n; a header value must not contain them.
		if !(c == '+' || c == '/' || c == '=' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
			return "", ErrAPIKeyFormat
		}
	}
	dec, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		if dec, err = base64.RawStdEncoding.DecodeString(s); err != nil {
			return "", ErrAPIKeyFormat
		}
		s = base64.StdEncoding.EncodeToString(dec)
	}
	id, key, ok := strings.Cut(string(dec), ":")
	if !ok || id == "" || key == "" || strings.ContainsAny(string(dec), " \t\r\n") {
		return "", ErrAPIKeyFormat
	}
	return s, nil
}

// ParseCloudAuth splits Logstash's cloud_auth "user:password".
func ParseCloudAuth(s string) (user, password string, err error) {
	u, p, ok := strings.Cut(s, ":")
	if !ok || u == "" || p == "" {
		return "", "", ErrCloudAuthFormat
	}
	return u, p, nil
}

// ReadSecretFile reads a one-line secret, trimming surrounding white space
// (a trailing newline is what editors and `kubectl create secret` leave).
func ReadSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s %w", path, ErrEmpty)
	}
	return s, nil
}

// Source holds the credential in force and lets a reload swap it.
type Source struct {
	mu   sync.Mutex // serialises reloads
	load func() (Credential, error)
	cur  atomic.Pointer[Credential]
}

// NewSource calls load once and serves its result; Reload calls it again.
func NewSource(load func() (Credential, error)) (*Source, error) {
	c, err := load()
	if err != nil {
		return nil, err
	}
	s := &Source{load: load}
	s.cur.Store(&c)
	return s, nil
}

// Current returns the credential in force.
func (s *Source) Current() Credential { return *s.cur.Load() }

// Kind reports the current credential's kind; with Apply, a Source is
// itself a Credential that follows reloads.
func (s *Source) Kind() string { return (*s.cur.Load()).Kind() }

// Apply applies the current credential.
func (s *Source) Apply(h http.Header) { (*s.cur.Load()).Apply(h) }

// Header returns the current credential's Authorization value.
func (s *Source) Header() string { return (*s.cur.Load()).Header() }

// Store replaces the credential in force (for credentials esgate mints).
func (s *Source) Store(c Credential) { s.cur.Store(&c) }

// Reload re-reads the credential; on error the old one stays in force.
func (s *Source) Reload() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reloadLocked(s.load)
}

func (s *Source) reloadLocked(load func() (Credential, error)) error {
	c, err := load()
	if err != nil {
		return err
	}
	s.load = load
	s.cur.Store(&c)
	return nil
}

// Transport returns a RoundTripper that sets cred on every request (on a
// clone; the caller's request is not modified) before calling base.
func Transport(base http.RoundTripper, cred Credential) http.RoundTripper {
	return &transport{base: base, cred: cred}
}

type transport struct {
	base http.RoundTripper
	cred Credential
}

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	r2 := r.Clone(r.Context())
	t.cred.Apply(r2.Header)
	return t.base.RoundTrip(r2)
}
