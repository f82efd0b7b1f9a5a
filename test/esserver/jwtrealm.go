package esserver

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.yaml.in/yaml/v3"
)

// JWTRealm configures one JWT realm as elasticsearch.yml does:
// Settings holds the keys under xpack.security.authc.realms.jwt.<Name>.
// (order, token_type, allowed_issuer, allowed_audiences, allowed_subjects,
// allowed_subject_patterns, allowed_signature_algorithms,
// claims.principal/groups/mail/name/dn, claim_patterns.*, required_claims.*,
// fallback_claims.sub/aud, allowed_clock_skew, client_authentication.type,
// client_authentication.rotation_grace_period, pkc_jwkset_path,
// ssl.certificate_authorities, populate_user_metadata) and, as if from
// the keystore, the secure settings client_authentication.shared_secret
// and hmac_key. Values are strings, numbers, booleans or lists (a list
// may also be a comma-separated string); time values are ES time strings
// ("60s", "0s") or time.Duration.
type JWTRealm struct {
	Name     string
	Settings map[string]any
}

// JWTStats counts what JWT realms saw. A request counts once, whatever the
// number of realms that tried its token.
type JWTStats struct {
	// Requests carrying a Bearer JWT (one that parses as a signed JWT).
	Requests int64
	// Accepted by a realm.
	Accepted int64
	// Rejected by every realm (answered 401).
	Rejected int64
	// ExpiredOnArrival: the JWT's exp was <= now when the request arrived,
	// ignoring allowed_clock_skew, whether or not a realm accepted it.
	ExpiredOnArrival int64
	// Reasons counts the first realm's failing check per rejected
	// request: "client_authentication", "typ", "iss", "sub", "aud", "alg",
	// "iat", "exp", "nbf", "auth_time", "required_claims", "signature",
	// "principal".
	Reasons map[string]int64
}

const realmPrefix = "xpack.security.authc.realms.jwt."

var jwtAlgorithms = []string{"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}

// jwtRealm is a configured realm.
type jwtRealm struct {
	name             string
	order            int
	tokenType        string
	issuer           string
	audiences        []string
	subjects         []string
	subjectPatterns  []*regexp.Regexp
	algs             []string
	claims           map[string]string // principal, groups, mail, name, dn -> claim name
	claimPatterns    map[string]*regexp.Regexp
	requiredClaims   map[string][]string
	fallback         map[string]string // sub, aud -> claim name (access_token)
	skew             time.Duration
	clientAuth       string // shared_secret or none
	gracePeriod      time.Duration
	jwksPath         string
	jwksClient       *http.Client
	hmacKey          []byte
	populateMetadata bool
	pkc              atomic.Pointer[jwkSet]
	reloadMu         sync.Mutex
	reloading        chan struct{} // closed when the running fetch ends
	secret           atomic.Pointer[rotatableSecret]
	atJWT            bool // typ at+jwt accepted for access_token (9.1+)
}

type jwkSet struct {
	keys []jwk
	sum  [32]byte
}

// rotatableSecret is RotatableSecret: the current secret, and the previous
// one until its grace period ends.
type rotatableSecret struct {
	current, prior string
	priorUntil     time.Time
}

func (rs *rotatableSecret) matches(v string, now time.Time) bool {
	eq := func(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
	if rs.current != "" && eq(rs.current, v) {
		return true
	}
	return rs.prior != "" && now.Before(rs.priorUntil) && eq(rs.prior, v)
}

// jwtState is the server's JWT realms, role mappings and counters.
type jwtState struct {
	realms []*jwtRealm // by order

	mu       sync.Mutex
	mappings map[string]RoleMapping
	keystore map[string]string // pending secure settings (keystore add)
	reasons  map[string]int64

	requests, accepted, rejected, expired atomic.Int64
}

// settingsReader reads one realm's settings, remembering which it used.
type settingsReader struct {
	realm string
	m     map[string]any
	used  map[string]bool
	err   error
}

func (r *settingsReader) key(k string) string { return realmPrefix + r.realm + "." + k }

func (r *settingsReader) fail(format string, a ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, a...)
	}
}

func (r *settingsReader) raw(k string) (any, bool) {
	v, ok := r.m[k]
	if ok {
		r.used[k] = true
	}
	return v, ok && v != nil
}

func (r *settingsReader) str(k, def string) string {
	v, ok := r.raw(k)
	if !ok {
		return def
	}
	switch x := v.(type) {
	case string:
		return x
	case int, int64, float64, bool:
		return fmt.Sprint(x)
	}
	r.fail("failed to parse value for setting [%s]: not a string", r.key(k))
	return def
}

func (r *settingsReader) list(k string) []string {
	v, ok := r.raw(k)
	if !ok {
		return nil
	}
	switch x := v.(type) {
	case string:
		var out []string
		for _, p := range strings.Split(x, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return out
	case []string:
		return x
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
		return out
	}
	r.fail("failed to parse value for setting [%s]: not a list", r.key(k))
	return nil
}

func (r *settingsReader) duration(k string, def time.Duration) time.Duration {
	v, ok := r.raw(k)
	if !ok {
		return def
	}
	switch x := v.(type) {
	case time.Duration:
		return x
	case string:
		d, err := parseTimeValue(x)
		if err != nil {
			r.fail("failed to parse setting [%s] with value [%s] as a time value: unit is missing or unrecognized", r.key(k), x)
			return def
		}
		return d
	}
	r.fail("failed to parse setting [%s] with value [%v] as a time value: unit is missing or unrecognized", r.key(k), v)
	return def
}

func (r *settingsReader) boolean(k string, def bool) bool {
	v, ok := r.raw(k)
	if !ok {
		return def
	}
	switch x := v.(type) {
	case bool:
		return x
	case string:
		if x == "true" || x == "false" {
			return x == "true"
		}
	}
	r.fail("Failed to parse value [%v] as only [true] or [false] are allowed.", v)
	return def
}

// luceneWildcard turns a Lucene wildcard (*, ?, \ escapes) or a /regexp/
// into an anchored Go regexp.
func luceneWildcard(p string) (*regexp.Regexp, error) {
	if len(p) >= 2 && strings.HasPrefix(p, "/") && strings.HasSuffix(p, "/") {
		return regexp.Compile("^(?:" + p[1:len(p)-1] + ")$")
	}
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '*':
			b.WriteString("(?s:.*)")
		case '?':
			b.WriteString("(?s:.)")
		case '\\':
			if i+1 < len(p) {
				i++
				b.WriteString(regexp.QuoteMeta(p[i : i+1]))
			} else {
				b.WriteString(`\\`)
			}
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// newJWTRealm validates settings as the realm's constructor does; errors
// name the full setting key.
func newJWTRealm(cfg JWTRealm) (*jwtRealm, error) {
	if cfg.Name == "" {
		return nil, errors.New("a JWT realm needs a name")
	}
	r := &settingsReader{realm: cfg.Name, m: cfg.Settings, used: map[string]bool{}}
	rl := &jwtRealm{name: cfg.Name, claims: map[string]string{}, claimPatterns: map[string]*regexp.Regexp{},
		requiredClaims: map[string][]string{}, fallback: map[string]string{}}
	if o := r.str("order", ""); o != "" {
		n, err := strconv.Atoi(o)
		if err != nil {
			r.fail("Failed to parse value [%s] for setting [%s]", o, r.key("order"))
		}
		rl.order = n
	} else {
		// ES 8 requires order for every realm.
		r.fail("Missing realm setting [%s]", r.key("order"))
	}
	rl.tokenType = r.str("token_type", "id_token")
	if rl.tokenType != "id_token" && rl.tokenType != "access_token" {
		r.fail("Invalid value [%s] for [%s], allowed values are [id_token, access_token]", rl.tokenType, r.key("token_type"))
	}
	rl.issuer = r.str("allowed_issuer", "")
	if rl.issuer == "" {
		r.fail("Invalid empty value for [%s].", r.key("allowed_issuer"))
	}
	rl.audiences = r.list("allowed_audiences")
	if len(rl.audiences) == 0 {
		r.fail("Invalid empty list for [%s].", r.key("allowed_audiences"))
	}
	rl.subjects = r.list("allowed_subjects")
	for _, p := range r.list("allowed_subject_patterns") {
		re, err := luceneWildcard(p)
		if err != nil {
			r.fail("Invalid pattern [%s] for [%s]: %v", p, r.key("allowed_subject_patterns"), err)
			continue
		}
		rl.subjectPatterns = append(rl.subjectPatterns, re)
	}
	if rl.tokenType == "access_token" && len(rl.subjects) == 0 && len(rl.subjectPatterns) == 0 {
		r.fail("One of either [%s] or [%s] must be specified and not be empty.", r.key("allowed_subjects"), r.key("allowed_subject_patterns"))
	}
	for _, k := range []string{"sub", "aud"} {
		if v := r.str("fallback_claims."+k, ""); v != "" {
			if rl.tokenType != "access_token" {
				r.fail("fallback claim setting [%s] is only allowed when [%s] is [access_token]", r.key("fallback_claims."+k), r.key("token_type"))
			}
			rl.fallback[k] = v
		}
	}
	rl.algs = r.list("allowed_signature_algorithms")
	if rl.algs == nil {
		rl.algs = []string{"RS256"}
	}
	for _, a := range rl.algs {
		if !slices.Contains(jwtAlgorithms, a) {
			r.fail("Invalid value [%s] for [%s]. Allowed values are %v.", a, r.key("allowed_signature_algorithms"), "["+strings.Join(jwtAlgorithms, ", ")+"]")
		}
	}
	for _, c := range []string{"principal", "groups", "mail", "name", "dn"} {
		if v := r.str("claims."+c, ""); v != "" {
			rl.claims[c] = v
		}
		if v := r.str("claim_patterns."+c, ""); v != "" {
			re, err := regexp.Compile(v)
			if err != nil {
				r.fail("Invalid pattern [%s] for [%s]: %v", v, r.key("claim_patterns."+c), err)
			}
			rl.claimPatterns[c] = re
		}
	}
	if rl.claims["principal"] == "" {
		r.fail("Setting [%s] is required", r.key("claims.principal"))
	}
	for k := range cfg.Settings {
		if name, ok := strings.CutPrefix(k, "required_claims."); ok {
			if slices.Contains([]string{"iss", "sub", "aud", "exp", "nbf", "iat"}, name) {
				r.fail("Invalid name [%s] for [%s]: the claim is validated by other settings", name, r.key(k))
			}
			rl.requiredClaims[name] = r.list(k)
		}
	}
	rl.skew = r.duration("allowed_clock_skew", 60*time.Second)
	rl.clientAuth = r.str("client_authentication.type", "shared_secret")
	secret, hasSecret := r.raw("client_authentication.shared_secret")
	switch rl.clientAuth {
	case "shared_secret":
		if !hasSecret || fmt.Sprint(secret) == "" {
			r.fail("Missing setting for [%s]. It is required when setting [%s] is [shared_secret]", r.key("client_authentication.shared_secret"), r.key("client_authentication.type"))
		}
	case "none":
		if hasSecret {
			r.fail("Setting [%s] is not supported, because setting [%s] is [none]", r.key("client_authentication.shared_secret"), r.key("client_authentication.type"))
		}
	default:
		r.fail("Invalid value [%s] for [%s], allowed values are [shared_secret, none]", rl.clientAuth, r.key("client_authentication.type"))
	}
	if hasSecret {
		rl.secret.Store(&rotatableSecret{current: fmt.Sprint(secret)})
	} else {
		rl.secret.Store(&rotatableSecret{})
	}
	rl.gracePeriod = r.duration("client_authentication.rotation_grace_period", time.Minute)
	rl.jwksPath = r.str("pkc_jwkset_path", "")
	if h := r.str("hmac_key", ""); h != "" {
		rl.hmacKey = []byte(h)
	}
	rl.populateMetadata = r.boolean("populate_user_metadata", true)
	cas := r.list("ssl.certificate_authorities")
	var hasPKC, hasHMAC bool
	for _, a := range rl.algs {
		hasHMAC = hasHMAC || strings.HasPrefix(a, "HS")
		hasPKC = hasPKC || !strings.HasPrefix(a, "HS")
	}
	if hasPKC && rl.jwksPath == "" {
		r.fail("Missing setting [%s]: allowed_signature_algorithms has public key algorithms", r.key("pkc_jwkset_path"))
	}
	if hasHMAC && rl.hmacKey == nil {
		r.fail("Missing setting [%s]: allowed_signature_algorithms has HMAC algorithms", r.key("hmac_key"))
	}
	if strings.HasPrefix(rl.jwksPath, "http://") {
		r.fail("Invalid value [%s] for [%s]: Only HTTPS is supported for URLs", rl.jwksPath, r.key("pkc_jwkset_path"))
	}
	if strings.HasPrefix(rl.jwksPath, "https") {
		pool := x509.NewCertPool()
		for _, p := range cas {
			b, err := os.ReadFile(p)
			if err != nil || !pool.AppendCertsFromPEM(b) {
				r.fail("failed to load SSL configuration [%s] - cannot read [%s]", r.key("ssl"), p)
			}
		}
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if len(cas) > 0 {
			tc.RootCAs = pool
		}
		rl.jwksClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
	}
	for k := range cfg.Settings {
		if !r.used[k] {
			r.fail("unknown setting [%s] please check that any required plugins are installed, or check the breaking changes documentation for removed settings", r.key(k))
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	if rl.jwksPath != "" {
		set, err := rl.fetchJWKS()
		if err != nil {
			// A JWKS that cannot be loaded at startup stops the node.
			return nil, fmt.Errorf("failed to load PKC JWKs for realm [%s] from [%s]: %w", rl.name, rl.jwksPath, err)
		}
		rl.pkc.Store(set)
	} else {
		rl.pkc.Store(&jwkSet{})
	}
	return rl, nil
}

func (rl *jwtRealm) fetchJWKS() (*jwkSet, error) {
	var b []byte
	var err error
	if rl.jwksClient != nil {
		var resp *http.Response
		resp, err = rl.jwksClient.Get(rl.jwksPath)
		if err == nil {
			b, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			if err == nil && resp.StatusCode != 200 {
				err = fmt.Errorf("HTTP %d", resp.StatusCode)
			}
		}
	} else {
		b, err = os.ReadFile(rl.jwksPath)
	}
	if err != nil {
		return nil, err
	}
	keys, err := parseJWKS(b)
	if err != nil {
		return nil, err
	}
	return &jwkSet{keys: keys, sum: sha256.Sum256(b)}, nil
}

// reloadJWKS re-reads the JWKS after a PKC signature failure with the
// set used. Concurrent callers share one fetch, and a caller whose set was
// already replaced retries without fetching. It reports whether the
// content changed.
func (rl *jwtRealm) reloadJWKS(used *jwkSet) bool {
	rl.reloadMu.Lock()
	if rl.pkc.Load() != used {
		rl.reloadMu.Unlock()
		return true
	}
	if ch := rl.reloading; ch != nil {
		rl.reloadMu.Unlock()
		<-ch
		return rl.pkc.Load() != used
	}
	ch := make(chan struct{})
	rl.reloading = ch
	rl.reloadMu.Unlock()
	changed := false
	if set, err := rl.fetchJWKS(); err == nil && set.sum != rl.pkc.Load().sum {
		rl.pkc.Store(set)
		changed = true
	}
	rl.reloadMu.Lock()
	rl.reloading = nil
	rl.reloadMu.Unlock()
	close(ch)
	return changed
}

// ParseJWTRealms reads JWT realms from elasticsearch.yml-style YAML:
// keys xpack.security.authc.realms.jwt.<name>.<setting>, flat or nested
// (a: {b: c} is a.b: c). The secure settings
// client_authentication.shared_secret and hmac_key may be given in the
// same file, standing in for the keystore. Other keys are errors.
func ParseJWTRealms(data []byte) ([]JWTRealm, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("JWT realm settings: %w", err)
	}
	flat := map[string]any{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if m, ok := v.(map[string]any); ok {
			for k, x := range m {
				key := k
				if prefix != "" {
					key = prefix + "." + k
				}
				walk(key, x)
			}
			return
		}
		flat[prefix] = v
	}
	walk("", doc)
	byName := map[string]map[string]any{}
	var names []string
	for k, v := range flat {
		rest, ok := strings.CutPrefix(k, realmPrefix)
		name, setting, ok2 := strings.Cut(rest, ".")
		if !ok || !ok2 || name == "" {
			return nil, fmt.Errorf("JWT realm settings: unknown setting [%s]: keys start %s<name>", k, realmPrefix)
		}
		if byName[name] == nil {
			byName[name] = map[string]any{}
			names = append(names, name)
		}
		byName[name][setting] = v
	}
	sort.Strings(names)
	var out []JWTRealm
	for _, n := range names {
		out = append(out, JWTRealm{Name: n, Settings: byName[n]})
	}
	return out, nil
}

// ParseJWTRealmsFile reads ParseJWTRealms' YAML from path; relative
// pkc_jwkset_path files and ssl.certificate_authorities resolve against
// the file's directory, as ES resolves them against its config directory.
func ParseJWTRealmsFile(path string) ([]JWTRealm, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	realms, err := ParseJWTRealms(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	dir := filepath.Dir(path)
	abs := func(p string) string {
		if filepath.IsAbs(p) || strings.HasPrefix(p, "https:") || strings.HasPrefix(p, "http:") {
			return p
		}
		return filepath.Join(dir, p)
	}
	for _, r := range realms {
		if p, ok := r.Settings["pkc_jwkset_path"].(string); ok {
			r.Settings["pkc_jwkset_path"] = abs(p)
		}
		switch cas := r.Settings["ssl.certificate_authorities"].(type) {
		case string:
			parts := strings.Split(cas, ",")
			for i, c := range parts {
				parts[i] = abs(strings.TrimSpace(c))
			}
			r.Settings["ssl.certificate_authorities"] = strings.Join(parts, ",")
		case []any:
			for i, c := range cas {
				if s, ok := c.(string); ok {
					cas[i] = abs(s)
				}
			}
		}
	}
	return realms, nil
}

// startJWT builds the realms from opts; a bad setting or a JWKS that does
// not load fails Start, as it stops an ES node.
func (s *Server) startJWT() error {
	s.jwt.mappings = map[string]RoleMapping{}
	s.jwt.keystore = map[string]string{}
	s.jwt.reasons = map[string]int64{}
	for _, cfg := range s.opts.JWTRealms {
		rl, err := newJWTRealm(cfg)
		if err != nil {
			return err
		}
		rl.atJWT = !s.versionBefore(9, 1)
		s.jwt.realms = append(s.jwt.realms, rl)
	}
	sort.SliceStable(s.jwt.realms, func(i, j int) bool { return s.jwt.realms[i].order < s.jwt.realms[j].order })
	return nil
}

// JWTStats returns the JWT counters.
func (s *Server) JWTStats() JWTStats {
	s.jwt.mu.Lock()
	reasons := make(map[string]int64, len(s.jwt.reasons))
	for k, v := range s.jwt.reasons {
		reasons[k] = v
	}
	s.jwt.mu.Unlock()
	return JWTStats{Requests: s.jwt.requests.Load(), Accepted: s.jwt.accepted.Load(), Rejected: s.jwt.rejected.Load(),
		ExpiredOnArrival: s.jwt.expired.Load(), Reasons: reasons}
}

// SetSecureSetting stands in for elasticsearch-keystore add: the value
// (e.g. of xpack.security.authc.realms.jwt.jwt1.client_authentication.shared_secret)
// takes effect at the next ReloadSecureSettings, as in ES.
func (s *Server) SetSecureSetting(key, value string) {
	s.jwt.mu.Lock()
	defer s.jwt.mu.Unlock()
	s.jwt.keystore[key] = value
}

// ReloadSecureSettings applies pending keystore values, as POST
// /_nodes/reload_secure_settings does: a realm's new shared secret becomes
// current and the old one stays accepted for rotation_grace_period. The
// hmac_key is not reloadable (ES ignores it until restart).
func (s *Server) ReloadSecureSettings() {
	s.jwt.mu.Lock()
	defer s.jwt.mu.Unlock()
	now := s.now()
	for _, rl := range s.jwt.realms {
		v, ok := s.jwt.keystore[realmPrefix+rl.name+".client_authentication.shared_secret"]
		if !ok {
			continue
		}
		old := rl.secret.Load()
		if v == old.current {
			continue
		}
		rl.secret.Store(&rotatableSecret{current: v, prior: old.current, priorUntil: now.Add(rl.gracePeriod)})
	}
}

// reloadSecureSettingsAPI is POST /_nodes[/<ids>]/reload_secure_settings.
func (s *Server) reloadSecureSettingsAPI(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		s.writeSimpleError(w, r, 405, fmt.Sprintf("Incorrect HTTP method for uri [%s] and method [%s], allowed: [POST]", r.URL.RequestURI(), r.Method))
		return
	}
	io.Copy(io.Discard, r.Body)
	s.ReloadSecureSettings()
	s.writeJSON(w, r, 200, obj{
		{"_nodes", obj{{"total", 1}, {"successful", 1}, {"failed", 0}}},
		{"cluster_name", s.opts.ClusterName},
		{"nodes", obj{{"n0d3Id0000000000000000", obj{{"name", s.opts.NodeName}}}}},
	}, true)
}

// jwtFailure is why one realm rejected a token: check names the step,
// msg is ES's log text.
type jwtFailure struct{ check, msg string }

func (f *jwtFailure) Error() string { return f.msg }

func fail(check, format string, a ...any) *jwtFailure {
	return &jwtFailure{check: check, msg: fmt.Sprintf(format, a...)}
}

// bearer handles an Authorization Bearer credential in AuthenticatorChain
// order: service-account tokens, then ES's own tokens (none are issued
// here, so every other string is "oauth2 token: invalid token"), then the
// realms; a string that parses as a signed JWT goes to the JWT realms in
// order, and the first success wins.
func (s *Server) bearer(r *http.Request, scheme, cred string) (*principal, *authFailure) {
	if isServiceToken(cred) || len(s.jwt.realms) == 0 || scheme != "Bearer" {
		return s.checkBearer(cred)
	}
	tok, err := parseJWT(cred)
	if err != nil {
		// Not a JWT: no realm takes it (8.12+: it falls through).
		return s.checkBearer(cred)
	}
	if vs := r.Header.Values("Authorization"); len(vs) > 1 {
		return nil, &authFailure{status: 400, reason: "multiple values for single-valued header [Authorization]."}
	}
	s.jwt.requests.Add(1)
	now := s.now()
	if exp, ok, err := tok.dateClaim("exp"); ok && err == nil && exp <= float64(now.UnixMilli())/1000 {
		s.jwt.expired.Add(1)
	}
	var clientSecret *string
	if h := r.Header.Get("ES-Client-Authentication"); h != "" {
		scheme, v, _ := strings.Cut(strings.TrimSpace(h), " ")
		if strings.EqualFold(scheme, "SharedSecret") {
			v = strings.TrimSpace(v)
			if v == "" && strings.Contains(strings.TrimRight(h, " "), " ") {
				return nil, &authFailure{reason: "error attempting to authenticate request"}
			}
			if v != "" {
				clientSecret = &v
			}
		}
	}
	var first *jwtFailure
	for _, rl := range s.jwt.realms {
		p, f := rl.authenticate(s, tok, clientSecret, now)
		if f == nil {
			s.jwt.accepted.Add(1)
			return p, nil
		}
		if first == nil {
			first = f
		}
	}
	s.jwt.rejected.Add(1)
	s.jwt.mu.Lock()
	s.jwt.reasons[first.check]++
	s.jwt.mu.Unlock()
	return nil, &authFailure{
		reason:     "unable to authenticate user [" + tok.tokenPrincipal() + "] for REST request [" + r.URL.RequestURI() + "]",
		additional: "oauth2 token: invalid token",
	}
}

// isServiceToken reports whether a Bearer string is a service-account
// token: base64 of 00 01 00 01 + "ns/service/token:secret".
func isServiceToken(cred string) bool {
	return strings.HasPrefix(cred, "AAEAAW")
}

// authenticate runs one realm: client authentication first, then the
// checks in JwtAuthenticator's order, the signature last.
func (rl *jwtRealm) authenticate(s *Server, tok *jwtToken, clientSecret *string, now time.Time) (*principal, *jwtFailure) {
	if rl.clientAuth == "shared_secret" {
		if clientSecret == nil {
			return nil, fail("client_authentication", "Rejected client. Authentication type is [SHARED_SECRET] and secret is missing.")
		}
		if !rl.secret.Load().matches(*clientSecret, now) {
			return nil, fail("client_authentication", "Rejected client. Authentication type is [SHARED_SECRET] and secret did not match.")
		}
	}
	if f := rl.validate(tok, now); f != nil {
		return nil, f
	}
	if f := rl.verifySignature(tok); f != nil {
		return nil, f
	}
	return rl.user(s, tok)
}

// claimOrFallback returns a claim, or for an access_token realm its
// fallback claim when the claim is absent.
func (rl *jwtRealm) claimOrFallback(tok *jwtToken, name string) (any, string) {
	if v, ok := tok.claims[name]; ok {
		return v, name
	}
	if fb := rl.fallback[name]; fb != "" && rl.tokenType == "access_token" {
		return tok.claims[fb], fb
	}
	return nil, name
}

func (rl *jwtRealm) validate(tok *jwtToken, now time.Time) *jwtFailure {
	// 1. typ
	if v, ok := tok.header["typ"]; ok {
		t, _ := v.(string)
		okTyp := strings.EqualFold(t, "JWT") || (rl.atJWT && rl.tokenType == "access_token" && strings.EqualFold(t, "at+jwt"))
		if !okTyp {
			return fail("typ", "invalid jwt typ header")
		}
	}
	// 2. iss
	iss, ok := tok.stringClaim("iss")
	if !ok {
		return fail("iss", "missing required string claim [iss]")
	}
	if iss != rl.issuer {
		return fail("iss", "string claim [iss] has value [%s] which does not match allowed claim values [%s]", iss, rl.issuer)
	}
	// 3. sub
	subV, subName := rl.claimOrFallback(tok, "sub")
	sub, ok := subV.(string)
	if !ok {
		return fail("sub", "missing required string claim [%s]", subName)
	}
	if len(rl.subjects) > 0 || len(rl.subjectPatterns) > 0 {
		match := slices.Contains(rl.subjects, sub)
		for _, re := range rl.subjectPatterns {
			match = match || re.MatchString(sub)
		}
		if !match {
			return fail("sub", "string claim [%s] has value [%s] which does not match allowed claim values %v or patterns", subName, sub, rl.subjects)
		}
	}
	// 4. aud
	audV, audName := rl.claimOrFallback(tok, "aud")
	auds, ok := stringsClaim(audV)
	if !ok || len(auds) == 0 {
		return fail("aud", "missing required string claim [%s]", audName)
	}
	if !slices.ContainsFunc(auds, func(a string) bool { return slices.Contains(rl.audiences, a) }) {
		return fail("aud", "string claim [%s] has value [%s] which does not match allowed claim values [%s]", audName, strings.Join(auds, ","), strings.Join(rl.audiences, ","))
	}
	// 5. alg
	if !slices.Contains(rl.algs, tok.alg()) {
		return fail("alg", "invalid JWT algorithm [%s], allowed algorithms are [%s]", tok.alg(), strings.Join(rl.algs, ","))
	}
	// 6.-8. dates, in seconds, with the allowed clock skew
	nowMs := now.UnixMilli()
	skewMs := rl.skew.Milliseconds()
	date := func(name string, required, before bool) *jwtFailure {
		v, present, err := tok.dateClaim(name)
		if err != nil {
			return fail(name, "%v", err)
		}
		if !present {
			if required {
				return fail(name, "missing required date claim [%s]", name)
			}
			return nil
		}
		ms := int64(v * 1000)
		if before && ms > nowMs+skewMs {
			return fail(name, "date claim [%s] value [%d] must be before now [%d]", name, ms, nowMs)
		}
		if !before && ms <= nowMs-skewMs {
			return fail(name, "date claim [%s] value [%d] must be after now [%d]", name, ms, nowMs)
		}
		return nil
	}
	if f := date("iat", true, true); f != nil {
		return f
	}
	if f := date("exp", true, false); f != nil {
		return f
	}
	if rl.tokenType == "id_token" {
		if f := date("nbf", false, true); f != nil {
			return f
		}
		if f := date("auth_time", false, true); f != nil {
			return f
		}
	}
	// 9. required claims
	names := make([]string, 0, len(rl.requiredClaims))
	for n := range rl.requiredClaims {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		vs, ok := stringsClaim(tok.claims[n])
		if !ok || !slices.ContainsFunc(vs, func(v string) bool { return slices.Contains(rl.requiredClaims[n], v) }) {
			return fail("required_claims", "string claim [%s] has value [%s] which does not match allowed claim values [%s]", n, strings.Join(vs, ","), strings.Join(rl.requiredClaims[n], ","))
		}
	}
	return nil
}

// candidates filters keys as JwkValidateUtil does: a JWT kid keeps JWKs
// with that kid and JWKs without one; type, size, alg and use must fit.
func candidates(keys []jwk, tok *jwtToken) []jwk {
	kid, hasKid := tok.header["kid"].(string)
	var out []jwk
	for _, k := range keys {
		if hasKid && k.kid != "" && k.kid != kid {
			continue
		}
		if k.compatible(tok.alg()) {
			out = append(out, k)
		}
	}
	return out
}

func (rl *jwtRealm) verifySignature(tok *jwtToken) *jwtFailure {
	alg := tok.alg()
	try := func(keys []jwk) *jwtFailure {
		c := candidates(keys, tok)
		if len(c) == 0 {
			return fail("signature", "Signature verification was not attempted since there are not any JWKs available after filtering for incompatible keys.")
		}
		for _, k := range c {
			if k.verify(tok) {
				return nil
			}
		}
		return fail("signature", "Signature verification failed for alg [%s] with %d JWKs", alg, len(c))
	}
	if strings.HasPrefix(alg, "HS") {
		if rl.hmacKey == nil {
			return try(nil)
		}
		return try([]jwk{{secret: rl.hmacKey}})
	}
	used := rl.pkc.Load()
	f := try(used.keys)
	if f == nil || rl.jwksPath == "" {
		return f
	}
	// A PKC failure re-reads the JWKS; unchanged content keeps the failure.
	if !rl.reloadJWKS(used) {
		return f
	}
	return try(rl.pkc.Load().keys)
}

// claimValue applies claims.<c> and claim_patterns.<c>: a string or a
// list of strings; a pattern's group 1 becomes the value, a value that
// does not match is dropped.
func (rl *jwtRealm) claimValue(tok *jwtToken, c string) []string {
	name := rl.claims[c]
	if name == "" {
		return nil
	}
	v, _ := rl.claimOrFallback(tok, name)
	vs, ok := stringsClaim(v)
	if !ok {
		return nil
	}
	re := rl.claimPatterns[c]
	if re == nil {
		return vs
	}
	var out []string
	for _, x := range vs {
		if m := re.FindStringSubmatch(x); len(m) > 1 {
			out = append(out, m[1])
		}
	}
	return out
}

// user builds the authenticated user: principal, groups, mail, name, dn,
// metadata (jwt_token_type, and with populate_user_metadata every
// string/boolean/number claim or flat array of them as jwt_claim_<name>,
// except the date claims), and roles from the role mappings.
func (rl *jwtRealm) user(s *Server, tok *jwtToken) (*principal, *jwtFailure) {
	ps := rl.claimValue(tok, "principal")
	if len(ps) == 0 || ps[0] == "" {
		return nil, fail("principal", "Failed to get principal claim [%s] from the JWT", rl.claims["principal"])
	}
	md := map[string]any{"jwt_token_type": rl.tokenType}
	if rl.populateMetadata {
		for k, v := range tok.claims {
			if k == "exp" || k == "iat" || k == "nbf" {
				continue
			}
			if x, ok := flatClaim(v); ok {
				md["jwt_claim_"+k] = x
			}
		}
	}
	p := &principal{user: ps[0], realm: rl.name, realmType: "jwt", authType: "realm", metadata: md}
	if v := rl.claimValue(tok, "mail"); len(v) > 0 {
		p.email = v[0]
	}
	if v := rl.claimValue(tok, "name"); len(v) > 0 {
		p.fullName = v[0]
	}
	groups := rl.claimValue(tok, "groups")
	dn := ""
	if v := rl.claimValue(tok, "dn"); len(v) > 0 {
		dn = v[0]
	}
	p.roles = s.mappedRoles(mappingUser{username: p.user, dn: dn, groups: groups, realm: rl.name, metadata: md})
	return p, nil
}

// flatClaim keeps strings, booleans, numbers and flat arrays of them.
func flatClaim(v any) (any, bool) {
	switch x := v.(type) {
	case string, bool:
		return x, true
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, true
		}
		f, err := x.Float64()
		return f, err == nil
	case []any:
		out := make([]any, 0, len(x))
		for _, e := range x {
			y, ok := flatClaim(e)
			if !ok {
				return nil, false
			}
			if _, nested := e.([]any); nested {
				return nil, false
			}
			out = append(out, y)
		}
		return out, true
	}
	return nil, false
}
