package policy

import (
	"net"
	"net/http"
	"net/url"
	"strings"
)

// Policy is a route's request policy. The zero value is the safe default:
// loopback Host names only, no browser requests, no identity headers, no
// credential self-service, no TRACE, CONNECT or upgrades. It is immutable
// once built (New); a reload builds a new one.
type Policy struct {
	hosts    map[string]bool // extra Host names (lower case)
	origins  map[string]bool // Origin values accepted; "*" any
	headers  map[string]bool // identity headers forwarded (canonical)
	selfServ bool            // credential self-service allowed
	strip    map[string]bool // identity headers stripped (canonical)
	profile  string          // one of Profiles
	rules    []Rule          // policy_rules, before the profile
}

// Config is what a route's configuration says about its policy.
type Config struct {
	// AllowedHosts are Host names accepted besides loopback ones and the
	// listener's own address (allowed_hosts).
	AllowedHosts []string
	// AllowedOrigins are browser Origins accepted ("*": any) (allowed_origins).
	AllowedOrigins []string
	// ForwardHeaders are the identity headers passed to Elasticsearch
	// (forward_headers): es-security-runas-user, es-secondary-authorization.
	ForwardHeaders []string
	// AllowCredentialAPIs lends the credential for changing passwords and
	// minting, granting, updating or invalidating credentials
	// (allow_credential_apis).
	AllowCredentialAPIs bool
	// Profile says what the route is for (policy): full (default),
	// ingest, read, monitoring or management; see Profiles.
	Profile string
	// Rules are allow/deny rules applied before the profile, first match
	// wins (policy_rules); see ParseRule.
	Rules []Rule
}

// IdentityHeaders are the headers with which a request runs as someone
// other than esgate's credential; they are stripped unless forwarded by
// name.
var IdentityHeaders = []string{"Es-Security-Runas-User", "Es-Secondary-Authorization"}

// New builds a Policy from c; the header names are checked by configs.
func New(c Config) *Policy {
	p := &Policy{hosts: map[string]bool{}, origins: map[string]bool{}, headers: map[string]bool{}, strip: map[string]bool{},
		selfServ: c.AllowCredentialAPIs, profile: c.Profile, rules: c.Rules}
	if p.profile == "" {
		p.profile = "full"
	}
	for _, h := range c.AllowedHosts {
		p.hosts[strings.ToLower(h)] = true
	}
	for _, o := range c.AllowedOrigins {
		p.origins[strings.ToLower(strings.TrimSuffix(o, "/"))] = true
	}
	for _, h := range c.ForwardHeaders {
		p.headers[http.CanonicalHeaderKey(h)] = true
	}
	for _, h := range IdentityHeaders {
		if !p.headers[h] {
			p.strip[h] = true
		}
	}
	return p
}

// Strip names the client headers not to forward (canonical form).
func (p *Policy) Strip() map[string]bool { return p.strip }

// Refusal says why a request was refused: Rule is a bounded label (for
// metrics), Reason the sentence for the client, naming the key that would
// allow it when one would.
type Refusal struct {
	Rule   string
	Reason string
}

// Check returns nil when r may be forwarded with the route's credential,
// else why not. unix says the client came over a unix socket (no browser
// reaches one, so the Host and browser checks do not apply).
func (p *Policy) Check(r *http.Request, unix bool) *Refusal {
	switch r.Method {
	case http.MethodTrace, http.MethodConnect:
		return &Refusal{"method", "esgate refuses " + r.Method + " requests: they are never needed by Elasticsearch clients"}
	}
	if _, ok := r.Header["Upgrade"]; ok {
		return &Refusal{"upgrade", "esgate refuses protocol upgrades (Upgrade header): Elasticsearch clients never ask for one"}
	}
	if !unix {
		if !p.hostAllowed(r) {
			return &Refusal{"host", "esgate refuses Host " + quote(r.Host) + ": only loopback names, the listener's address and allowed_hosts are accepted, so that a web page cannot reach esgate by DNS rebinding (add the name to allowed_hosts)"}
		}
		if o := r.Header.Get("Origin"); o != "" && !p.origins["*"] && !p.origins[strings.ToLower(strings.TrimSuffix(o, "/"))] {
			return &Refusal{"browser", "esgate refuses requests from web pages (Origin " + quote(o) + "): Elasticsearch clients send no Origin (add the origin to allowed_origins)"}
		}
		if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "none" && s != "same-origin" && !p.origins["*"] {
			return &Refusal{"browser", "esgate refuses requests from web pages (Sec-Fetch-Site " + quote(s) + "): Elasticsearch clients send none (set allowed_origins)"}
		}
	}
	if !p.selfServ && SelfService(r.Method, r.URL) {
		return &Refusal{"credential_api", "esgate does not lend its credential to change passwords or create, grant, update or invalidate credentials (" + r.Method + " " + r.URL.Path + "); set allow_credential_apis: true if this route is for that"}
	}
	if ok, by := p.decide(r.Method, r.URL); !ok {
		rule := "profile"
		if strings.HasPrefix(by, "policy_rules") {
			rule = "deny_rule"
		}
		return &Refusal{rule, "esgate's " + by + " does not allow " + r.Method + " " + r.URL.Path + " (add an allow rule to policy_rules, or choose another policy)"}
	}
	return nil
}

func quote(s string) string {
	if len(s) > 100 {
		s = s[:100] + "…"
	}
	return `"` + strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '"' {
			return '?'
		}
		return r
	}, s) + `"`
}

// hostAllowed: an empty Host (HTTP/1.0), loopback names and addresses,
// the address the client connected to, and allowed_hosts.
func (p *Policy) hostAllowed(r *http.Request) bool {
	h := r.Host
	if h == "" {
		return true
	}
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	h = strings.ToLower(strings.TrimSuffix(strings.Trim(h, "[]"), "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") || p.hosts[h] {
		return true
	}
	ip := net.ParseIP(h)
	if ip == nil {
		return false
	}
	if ip.IsLoopback() {
		return true
	}
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr); ok && la.IP.Equal(ip) {
		return true
	}
	return false
}

// SelfService reports whether method and path are one of Elasticsearch's
// credential self-service APIs: changing a password, creating, granting,
// updating or invalidating API keys (also cross-cluster ones), OAuth2,
// service and enrolment tokens, delegate_pki, SAML/OIDC token exchanges,
// profile activation, and writes to users, roles, role mappings and
// application privileges. Reads (GET/HEAD, and the POST queries
// _has_privileges and _query) are not.
//
// The path is matched as Elasticsearch routes it: decoded, with empty
// segments dropped, under /_security/ or the 7.x compatible
// /_xpack/security/.
func SelfService(method string, u *url.URL) bool {
	if !mayBeSecurity(u.EscapedPath()) {
		return false // the path of nearly every request: no split, no allocation
	}
	segs := routeSegments(u)
	if len(segs) >= 2 && segs[0] == "_xpack" && segs[1] == "security" {
		segs = segs[1:]
		segs[0] = "_security"
	}
	if len(segs) < 2 || segs[0] != "_security" {
		return false
	}
	api := segs[1]
	if method == http.MethodGet || method == http.MethodHead {
		// Enrolment hands out credentials on a GET.
		return api == "enroll"
	}
	last := segs[len(segs)-1]
	switch {
	case last == "_has_privileges" || last == "_query" || api == "_query":
		return false // reads sent as POST
	case api == "profile" && last == "_suggest":
		return false
	}
	return true // every other write under /_security
}

// mayBeSecurity reports whether an escaped path could name a security API:
// it holds "security" in any case, or an escape that could spell it.
func mayBeSecurity(p string) bool {
	if strings.IndexByte(p, '%') >= 0 {
		return true
	}
	for i := 0; i+8 <= len(p); i++ {
		if (p[i] == 's' || p[i] == 'S') && strings.EqualFold(p[i:i+8], "security") {
			return true
		}
	}
	return false
}

// routeSegments splits the path as Elasticsearch's router does: on the
// escaped path's slashes, then each segment decoded (so an escaped %2F
// stays inside its segment, as in Logstash's date-math index names),
// empty segments dropped, lower case.
func routeSegments(u *url.URL) []string {
	var out []string
	for _, s := range strings.Split(u.EscapedPath(), "/") {
		if s == "" {
			continue
		}
		if d, err := url.PathUnescape(s); err == nil {
			s = d
		}
		out = append(out, strings.ToLower(s))
	}
	return out
}

// segments splits a rule's pattern.
func segments(path string) []string {
	var out []string
	for _, s := range strings.Split(path, "/") {
		if s != "" {
			out = append(out, strings.ToLower(s))
		}
	}
	return out
}
