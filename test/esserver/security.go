package esserver

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Role is an Elasticsearch role descriptor (the subset the server enforces).
type Role struct {
	Cluster  []string          `json:"cluster"`
	Indices  []IndexPrivileges `json:"indices"`
	RunAs    []string          `json:"run_as,omitempty"`
	Metadata map[string]any    `json:"metadata,omitempty"`
}

// UnmarshalJSON accepts "index" as well as "indices", as ES does (the
// Logstash guide's API key examples use "index").
func (r *Role) UnmarshalJSON(b []byte) error {
	type plain Role
	var v struct {
		plain
		Index []IndexPrivileges `json:"index"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*r = Role(v.plain)
	r.Indices = append(r.Indices, v.Index...)
	return nil
}

// IndexPrivileges grants privileges on index name patterns.
type IndexPrivileges struct {
	Names                  []string `json:"names"`
	Privileges             []string `json:"privileges"`
	AllowRestrictedIndices bool     `json:"allow_restricted_indices"`
}

type user struct {
	name     string
	hash     []byte // bcrypt; nil: cannot log in with a password
	roles    []string
	enabled  bool
	fullName string
	reserved bool
}

type apiKey struct {
	id, name   string
	secretHash [32]byte
	owner      string
	realm      string
	created    time.Time
	expires    time.Time // zero: never
	invalid    time.Time // zero: valid
	roles      map[string]Role
	limitedBy  []string // owner's roles at creation
	metadata   map[string]any
}

type serviceToken struct {
	account, name string
	secretHash    [32]byte
	role          Role
}

// principal is an authenticated caller.
type principal struct {
	user      string
	roles     []string
	realm     string // realm name
	realmType string
	authType  string // realm, api_key, token
	key       *apiKey
	service   *serviceToken
	fullName  string
	email     string         // JWT realm: claims.mail
	metadata  map[string]any // JWT realm: jwt_token_type, jwt_claim_*
}

// builtinRoles are the reserved roles the server knows.
var builtinRoles = map[string]Role{
	"superuser":       {Cluster: []string{"all"}, Indices: []IndexPrivileges{{Names: []string{"*"}, Privileges: []string{"all"}, AllowRestrictedIndices: true}}},
	"logstash_system": {Cluster: []string{"monitor", "cluster:admin/xpack/monitoring/bulk"}},
	"logstash_admin":  {Cluster: []string{"manage_logstash_pipelines"}, Indices: []IndexPrivileges{{Names: []string{".logstash*"}, Privileges: []string{"create", "delete", "index", "manage", "read"}, AllowRestrictedIndices: true}}},
	"viewer":          {Cluster: []string{"monitor"}, Indices: []IndexPrivileges{{Names: []string{"*"}, Privileges: []string{"read", "view_index_metadata"}}}},
}

// AddUser creates or replaces a native user.
func (s *Server) AddUser(name, password string, roles ...string) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), s.bcryptCost)
	if err != nil {
		panic(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[name] = &user{name: name, hash: h, roles: roles, enabled: true}
	s.purgeAuthCache(name)
}

// setPassword hashes and sets a user's password and drops cached logins.
func (s *Server) setPassword(u *user, password string) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), s.bcryptCost)
	if err != nil {
		panic(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u.hash = h
	s.purgeAuthCache(u.name)
}

// SetUserEnabled enables or disables a user.
func (s *Server) SetUserEnabled(name string, enabled bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.users[name]; u != nil {
		u.enabled = enabled
	}
	s.purgeAuthCache(name)
}

// PutRole creates or replaces a role.
func (s *Server) PutRole(name string, r Role) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.roles[name] = r
}

// MapPKIUser gives the PKI user with this certificate CN the roles.
func (s *Server) MapPKIUser(cn string, roles ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pkiRoles[cn] = roles
}

// CreateAPIKey mints a key owned by owner (a native user). descriptors may be
// nil (the key has the owner's rights). It returns the create API key
// response fields.
func (s *Server) CreateAPIKey(owner, name string, expiration time.Duration, descriptors map[string]Role) (id, key, encoded string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.newAPIKeyLocked(owner, "default_native", name, expiration, descriptors, nil)
	return k.id, k.secret, base64.StdEncoding.EncodeToString([]byte(k.id + ":" + k.secret))
}

type mintedKey struct {
	*apiKey
	secret string
}

func (s *Server) newAPIKeyLocked(owner, realm, name string, expiration time.Duration, descriptors map[string]Role, metadata map[string]any) mintedKey {
	id := randomID(20)
	secret := randomID(22)
	k := &apiKey{id: id, name: name, owner: owner, realm: realm, created: s.now(), roles: descriptors, metadata: metadata,
		secretHash: sha256.Sum256([]byte(secret))}
	if expiration > 0 {
		k.expires = s.now().Add(expiration)
	}
	if u := s.users[owner]; u != nil {
		k.limitedBy = append([]string{}, u.roles...)
	} else if r, ok := s.pkiRoles[owner]; ok {
		k.limitedBy = append([]string{}, r...)
	}
	s.apiKeys[id] = k
	return mintedKey{k, secret}
}

// InvalidateAPIKey invalidates a key by id.
func (s *Server) InvalidateAPIKey(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k := s.apiKeys[id]; k != nil && k.invalid.IsZero() {
		k.invalid = s.now()
	}
}

// ExpireAPIKey makes a key expire now.
func (s *Server) ExpireAPIKey(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k := s.apiKeys[id]; k != nil {
		k.expires = s.now().Add(-time.Second)
	}
}

// CreateServiceToken creates a service-account token ("namespace/service")
// with the given rights and returns the Bearer value.
func (s *Server) CreateServiceToken(account, name string, role Role) string {
	secret := randomID(22)
	raw := account + "/" + name + ":" + secret
	// ES prefixes the token with a 4-byte magic/version header.
	tok := base64.RawStdEncoding.EncodeToString(append([]byte{0, 1, 0, 1}, raw...))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[account+"/"+name] = &serviceToken{account: account, name: name, secretHash: sha256.Sum256([]byte(secret)), role: role}
	return tok
}

func randomID(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}

// authFailure describes a 401.
type authFailure struct {
	reason     string
	additional string
	status     int // 0: 401; 400: a bad request, not a challenge
}

// authenticate resolves the request's principal, as ES's realm chain does:
// the Authorization header first, then a PKI client certificate.
func (s *Server) authenticate(r *http.Request) (*principal, *authFailure) {
	uri := r.URL.RequestURI()
	h := r.Header.Get("Authorization")
	scheme, cred, _ := strings.Cut(h, " ")
	cred = strings.TrimSpace(cred)
	switch strings.ToLower(scheme) {
	case "basic":
		raw, err := base64.StdEncoding.DecodeString(cred)
		name, pw, ok := strings.Cut(string(raw), ":")
		if err != nil || !ok {
			return nil, &authFailure{reason: "missing authentication credentials for REST request [" + uri + "]"}
		}
		if p := s.checkPassword(name, pw); p != nil {
			return p, nil
		}
		return nil, &authFailure{reason: "unable to authenticate user [" + name + "] for REST request [" + uri + "]"}
	case "apikey":
		return s.checkAPIKey(cred)
	case "bearer":
		return s.bearer(r, scheme, cred) // jwtrealm.go
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		cn := pkiUsername(r.TLS.PeerCertificates[0].Subject.String())
		if cn != "" {
			s.mu.Lock()
			roles := s.pkiRoles[cn]
			s.mu.Unlock()
			return &principal{user: cn, roles: roles, realm: "pki1", realmType: "pki", authType: "realm"}, nil
		}
	}
	return nil, &authFailure{reason: "missing authentication credentials for REST request [" + uri + "]"}
}

var pkiPattern = regexp.MustCompile(`(?i)CN=(.*?)(?:,|$)`)

// pkiUsername applies ES's default PKI username_pattern to the subject DN.
func pkiUsername(dn string) string {
	m := pkiPattern.FindStringSubmatch(dn)
	if m == nil {
		return ""
	}
	return m[1]
}

func (s *Server) checkPassword(name, pw string) *principal {
	s.mu.Lock()
	u := s.users[name]
	if u == nil || !u.enabled || u.hash == nil {
		s.mu.Unlock()
		return nil
	}
	// ES caches successful authentications (cache.hash_algo ssha256) so
	// bcrypt runs once per credential, not once per request.
	ck := sha256.Sum256([]byte(name + "\x00" + pw))
	cached := s.authCache[ck] == name
	hash := u.hash
	p := &principal{user: u.name, roles: append([]string{}, u.roles...), realm: "default_native", realmType: "native", authType: "realm", fullName: u.fullName}
	if u.reserved {
		p.realm, p.realmType = "reserved", "reserved"
	}
	s.mu.Unlock()
	if cached {
		return p
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(pw)) != nil {
		return nil
	}
	s.mu.Lock()
	s.authCache[ck] = name
	s.mu.Unlock()
	return p
}

func (s *Server) purgeAuthCache(name string) {
	for k, v := range s.authCache {
		if v == name {
			delete(s.authCache, k)
		}
	}
}

const unableReason = "unable to authenticate with provided credentials and anonymous access is not allowed for this request"

func (s *Server) checkAPIKey(cred string) (*principal, *authFailure) {
	raw, err := base64.StdEncoding.DecodeString(cred)
	id, secret, ok := strings.Cut(string(raw), ":")
	if err != nil || !ok {
		return nil, &authFailure{reason: unableReason, additional: "API key: invalid API key credentials"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.apiKeys[id]
	if k == nil {
		return nil, &authFailure{reason: unableReason, additional: "API key: unable to find apikey with id " + id}
	}
	sum := sha256.Sum256([]byte(secret))
	switch {
	case subtle.ConstantTimeCompare(sum[:], k.secretHash[:]) != 1:
		return nil, &authFailure{reason: unableReason, additional: "API key: invalid credentials for API key [" + id + "]"}
	case !k.invalid.IsZero():
		return nil, &authFailure{reason: unableReason, additional: "API key: api key [" + id + "] has been invalidated"}
	case !k.expires.IsZero() && !s.now().Before(k.expires):
		return nil, &authFailure{reason: unableReason, additional: "API key: api key is expired"}
	}
	return &principal{user: k.owner, realm: "_es_api_key", realmType: "_es_api_key", authType: "api_key", key: k}, nil
}

func (s *Server) checkBearer(cred string) (*principal, *authFailure) {
	raw, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(cred, "="))
	if err != nil || len(raw) < 5 {
		return nil, &authFailure{reason: unableReason}
	}
	full, secret, ok := strings.Cut(string(raw[4:]), ":")
	if !ok {
		return nil, &authFailure{reason: unableReason}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tokens[full]
	sum := sha256.Sum256([]byte(secret))
	if t == nil || subtle.ConstantTimeCompare(sum[:], t.secretHash[:]) != 1 {
		return nil, &authFailure{reason: unableReason}
	}
	return &principal{user: t.account, realm: "_service_account", realmType: "_service_account", authType: "token", service: t}, nil
}

// wwwAuthenticate returns the three challenge headers ES 8 sends; 8.15
// added a comma to the Basic one (elastic/elasticsearch#110906).
func (s *Server) wwwAuthenticate() []string {
	basic := `Basic realm="security" charset="UTF-8"`
	if !s.versionBefore(8, 15) {
		basic = `Basic realm="security", charset="UTF-8"`
	}
	return []string{basic, `Bearer realm="security"`, "ApiKey"}
}

func (s *Server) write401(w http.ResponseWriter, r *http.Request, f *authFailure) {
	if f.status == http.StatusBadRequest {
		s.writeError(w, r, 400, "illegal_argument_exception", f.reason)
		return
	}
	hdr := s.wwwAuthenticate()
	extra := []kv{}
	if f.additional != "" {
		extra = append(extra, kv{"additional_unsuccessful_credentials", f.additional})
	}
	extra = append(extra, kv{"header", obj{{"WWW-Authenticate", hdr}}})
	w.Header()["WWW-Authenticate"] = hdr
	s.stats.unauthorized.Add(1)
	s.writeJSON(w, r, http.StatusUnauthorized, errorBody(401, "security_exception", f.reason, extra...), s.opts.ProductHeaderOn401)
}

// Cluster and index privileges: which privileges grant an action, in the
// order ES lists them in 403 messages.
var (
	clusterGrant = map[string][]string{
		"cluster:monitor/main":                            {"monitor", "manage", "all"},
		"cluster:monitor/xpack/info":                      {"monitor", "manage", "all"},
		"cluster:admin/xpack/monitoring/bulk":             {"cluster:admin/xpack/monitoring/bulk", "all"},
		"cluster:admin/logstash/pipeline/get":             {"manage_logstash_pipelines", "all"},
		"cluster:monitor/xpack/license/get":               {"monitor", "manage", "all"},
		"cluster:monitor/health":                          {"monitor", "manage", "all"},
		"cluster:monitor/nodes/info":                      {"monitor", "manage", "all"},
		"indices:admin/index_template/get":                {"monitor", "manage_index_templates", "manage", "all"},
		"indices:admin/template/get":                      {"monitor", "manage_index_templates", "manage", "all"},
		"indices:admin/template/put":                      {"manage_index_templates", "manage", "all"},
		"indices:admin/index_template/put":                {"manage_index_templates", "manage", "all"},
		"cluster:admin/ilm/get":                           {"read_ilm", "manage_ilm", "manage", "all"},
		"cluster:admin/ilm/put":                           {"manage_ilm", "manage", "all"},
		"cluster:admin/xpack/security/api_key/create":     {"manage_own_api_key", "manage_api_key", "manage_security", "all"},
		"cluster:admin/xpack/security/api_key/get":        {"manage_own_api_key", "manage_api_key", "manage_security", "all"},
		"cluster:admin/xpack/security/api_key/invalidate": {"manage_own_api_key", "manage_api_key", "manage_security", "all"},
		"cluster:admin/xpack/security/role/put":           {"manage_security", "all"},
		"cluster:admin/xpack/security/role/get":           {"read_security", "manage_security", "all"},
		"cluster:admin/xpack/security/user/put":           {"manage_security", "all"},
		"cluster:admin/xpack/security/user/get":           {"read_security", "manage_security", "all"},
	}
	indexGrant = map[string][]string{
		"create":       {"create_doc", "create", "index", "write", "all"},
		"index":        {"create", "index", "write", "all"},
		"update":       {"index", "write", "all"},
		"delete":       {"delete", "write", "all"},
		"auto_create":  {"auto_configure", "create_index", "manage", "all"},
		"search":       {"read", "all"},
		"get_index":    {"view_index_metadata", "manage", "all"},
		"refresh":      {"maintenance", "manage", "all"},
		"create_index": {"create_index", "manage", "all"},
	}
	indexActionName = map[string]string{
		"create": "indices:data/write/bulk[s]", "index": "indices:data/write/bulk[s]",
		"update": "indices:data/write/bulk[s]", "delete": "indices:data/write/bulk[s]",
		"auto_create": "indices:admin/auto_create", "search": "indices:data/read/search",
		"get_index": "indices:admin/get", "refresh": "indices:admin/refresh",
		"create_index": "indices:admin/create",
	}
)

// roleSets returns the role descriptor sets that must all allow an action:
// the user's roles, or for an API key its own descriptors and its owner's.
func (s *Server) roleSets(p *principal) [][]Role {
	s.mu.Lock()
	defer s.mu.Unlock()
	resolve := func(names []string) []Role {
		var out []Role
		for _, n := range names {
			if r, ok := s.roles[n]; ok {
				out = append(out, r)
			} else if r, ok := builtinRoles[n]; ok {
				out = append(out, r)
			}
		}
		return out
	}
	switch {
	case p.service != nil:
		return [][]Role{{p.service.role}}
	case p.key != nil:
		sets := [][]Role{resolve(p.key.limitedBy)}
		if len(p.key.roles) > 0 {
			var own []Role
			for _, r := range p.key.roles {
				own = append(own, r)
			}
			sets = append(sets, own)
		}
		return sets
	}
	return [][]Role{resolve(p.roles)}
}

func (s *Server) clusterAllowed(p *principal, action string) bool {
	grant := clusterGrant[action]
	for _, set := range s.roleSets(p) {
		ok := false
		for _, r := range set {
			for _, c := range r.Cluster {
				if c == action || slices.Contains(grant, c) {
					ok = true
				}
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func (s *Server) indexAllowed(p *principal, op, index string) bool {
	grant := indexGrant[op]
	for _, set := range s.roleSets(p) {
		ok := false
		for _, r := range set {
			for _, ip := range r.Indices {
				if !anyMatch(ip.Names, index) {
					continue
				}
				if strings.HasPrefix(index, ".") && !ip.AllowRestrictedIndices && !strings.HasPrefix(index, ".ds-") && !strings.HasPrefix(index, ".monitoring") {
					continue
				}
				for _, pr := range ip.Privileges {
					if slices.Contains(grant, pr) {
						ok = true
					}
				}
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func anyMatch(patterns []string, name string) bool {
	for _, p := range patterns {
		if globMatch(p, name) {
			return true
		}
	}
	return false
}

// denial builds the 403 reason, following AuthorizationDenialMessages.
func (s *Server) denial(p *principal, action string, indices []string, grantKind string, grant []string) string {
	var who string
	switch {
	case p.key != nil:
		who = fmt.Sprintf("API key id [%s] of user [%s]", p.key.id, p.user)
	case p.service != nil:
		who = fmt.Sprintf("user [%s]", p.user)
	default:
		roles := append([]string{}, p.roles...)
		sort.Strings(roles)
		who = fmt.Sprintf("user [%s] with effective roles [%s]", p.user, strings.Join(roles, ","))
		var missing []string
		s.mu.Lock()
		for _, r := range roles {
			if _, ok := s.roles[r]; !ok {
				if _, ok := builtinRoles[r]; !ok {
					missing = append(missing, r)
				}
			}
		}
		s.mu.Unlock()
		if len(missing) > 0 {
			who += fmt.Sprintf(" (assigned roles [%s] were not found)", strings.Join(missing, ","))
		}
	}
	msg := fmt.Sprintf("action [%s] is unauthorized for %s", action, who)
	if len(indices) > 0 {
		msg += fmt.Sprintf(" on indices [%s]", strings.Join(indices, ","))
	}
	return msg + fmt.Sprintf(", this action is granted by the %s privileges [%s]", grantKind, strings.Join(grant, ","))
}

// requireCluster writes a 403 and returns false if p lacks the action.
func (s *Server) requireCluster(w http.ResponseWriter, r *http.Request, p *principal, action string) bool {
	if s.clusterAllowed(p, action) {
		return true
	}
	s.write403(w, r, s.denial(p, action, nil, "cluster", clusterGrant[action]))
	return false
}

func (s *Server) write403(w http.ResponseWriter, r *http.Request, reason string) {
	s.stats.forbidden.Add(1)
	s.writeJSON(w, r, http.StatusForbidden, errorBody(403, "security_exception", reason), true)
}

// InvalidateAPIKeysNamed invalidates every key with this name and returns
// how many it invalidated.
func (s *Server) InvalidateAPIKeysNamed(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, k := range s.apiKeys {
		if k.name == name && k.invalid.IsZero() {
			k.invalid = s.now()
			n++
		}
	}
	return n
}

// ActiveAPIKeys counts the valid, unexpired keys with this name.
func (s *Server) ActiveAPIKeys(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, k := range s.apiKeys {
		if k.name == name && k.invalid.IsZero() && (k.expires.IsZero() || s.now().Before(k.expires)) {
			n++
		}
	}
	return n
}

// APIKeysNamed counts the API keys ever created with name, valid or not.
func (s *Server) APIKeysNamed(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, k := range s.apiKeys {
		if k.name == name {
			n++
		}
	}
	return n
}
