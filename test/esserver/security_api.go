package esserver

import (
	"encoding/base64"
	"net/http"
	"sort"
	"strings"
	"time"
)

// security serves the /_security APIs the server implements so far.
func (s *Server) security(w http.ResponseWriter, r *http.Request, p *principal, seg []string) {
	if s.moreSecurity(w, r, p, seg) {
		return
	}
	switch {
	case len(seg) == 1 && seg[0] == "_authenticate" && (r.Method == "GET" || r.Method == "HEAD"):
		s.authenticateResponse(w, r, p)
	case len(seg) == 1 && seg[0] == "api_key":
		switch r.Method {
		case "POST", "PUT":
			s.createAPIKey(w, r, p)
		case "GET":
			s.getAPIKeys(w, r, p)
		case "DELETE":
			s.invalidateAPIKeys(w, r, p)
		default:
			s.writeSimpleError(w, r, 405, "Incorrect HTTP method for uri ["+r.URL.RequestURI()+"] and method ["+r.Method+"], allowed: [GET, DELETE, POST, PUT]")
		}
	case len(seg) == 2 && seg[0] == "role" && (r.Method == "PUT" || r.Method == "POST"):
		if !s.requireCluster(w, r, p, "cluster:admin/xpack/security/role/put") {
			return
		}
		if _, ok := s.checkHeaders(w, r, true, false); !ok {
			return
		}
		var role Role
		if !s.decodeJSON(w, r, &role) {
			return
		}
		s.mu.Lock()
		_, existed := s.roles[seg[1]]
		s.roles[seg[1]] = role
		s.mu.Unlock()
		s.writeJSON(w, r, 200, obj{{"role", obj{{"created", !existed}}}}, true)
	case len(seg) == 2 && seg[0] == "role" && r.Method == "GET":
		if !s.requireCluster(w, r, p, "cluster:admin/xpack/security/role/get") {
			return
		}
		s.mu.Lock()
		role, ok := s.roles[seg[1]]
		s.mu.Unlock()
		if !ok {
			s.writeJSON(w, r, 404, obj{}, true)
			return
		}
		s.writeJSON(w, r, 200, obj{{seg[1], role}}, true)
	case len(seg) == 2 && seg[0] == "user" && (r.Method == "PUT" || r.Method == "POST"):
		if !s.requireCluster(w, r, p, "cluster:admin/xpack/security/user/put") {
			return
		}
		if _, ok := s.checkHeaders(w, r, true, false); !ok {
			return
		}
		var body struct {
			Password string   `json:"password"`
			Roles    []string `json:"roles"`
			FullName string   `json:"full_name"`
			Enabled  *bool    `json:"enabled"`
		}
		if !s.decodeJSON(w, r, &body) {
			return
		}
		s.mu.Lock()
		_, existed := s.users[seg[1]]
		s.mu.Unlock()
		if body.Password == "" && !existed {
			s.writeError(w, r, 400, "action_request_validation_exception", "Validation Failed: 1: password must be specified unless you are updating an existing user;")
			return
		}
		if len(body.Password) > 0 && len(body.Password) < 6 {
			s.writeError(w, r, 400, "action_request_validation_exception", "Validation Failed: 1: passwords must be at least [6] characters long;")
			return
		}
		s.mu.Lock()
		u := s.users[seg[1]]
		if u != nil && u.reserved {
			s.mu.Unlock()
			s.writeError(w, r, 400, "illegal_argument_exception", "user ["+seg[1]+"] is reserved and only the password can be changed")
			return
		}
		if u == nil {
			u = &user{name: seg[1], enabled: true}
			s.users[seg[1]] = u
		}
		s.mu.Unlock()
		if body.Password != "" {
			s.setPassword(u, body.Password)
		}
		s.mu.Lock()
		u.roles, u.fullName = body.Roles, body.FullName
		if body.Enabled != nil {
			u.enabled = *body.Enabled
		}
		s.mu.Unlock()
		s.writeJSON(w, r, 200, obj{{"created", !existed}}, true)
	default:
		s.writeSimpleError(w, r, 400, "no handler found for uri ["+r.URL.RequestURI()+"] and method ["+r.Method+"]")
	}
}

func (s *Server) authenticateResponse(w http.ResponseWriter, r *http.Request, p *principal) {
	roles := p.roles
	if p.key != nil || p.service != nil || roles == nil {
		roles = []string{}
	}
	realm := obj{{"name", p.realm}, {"type", p.realmType}}
	var fullName any
	if p.fullName != "" {
		fullName = p.fullName
	}
	var email any
	if p.email != "" {
		email = p.email
	}
	md := any(obj{})
	if p.metadata != nil {
		md = p.metadata
	}
	resp := obj{{"username", p.user}, {"roles", roles}, {"full_name", fullName}, {"email", email},
		{"metadata", md}, {"enabled", true}, {"authentication_realm", realm}, {"lookup_realm", realm},
		{"authentication_type", p.authType}}
	if p.key != nil {
		resp = append(resp, kv{"api_key", obj{{"id", p.key.id}, {"name", p.key.name}}})
		resp[6] = kv{"authentication_realm", obj{{"name", "_es_api_key"}, {"type", "_es_api_key"}}}
		resp[7] = kv{"lookup_realm", obj{{"name", p.key.realm}, {"type", "native"}}}
	}
	if p.service != nil {
		resp = append(resp, kv{"token", obj{{"name", p.service.name}, {"type", "_service_account_index"}}})
	}
	s.writeJSON(w, r, 200, resp, true)
}

func (s *Server) createAPIKey(w http.ResponseWriter, r *http.Request, p *principal) {
	if !s.requireCluster(w, r, p, "cluster:admin/xpack/security/api_key/create") {
		return
	}
	if _, ok := s.checkHeaders(w, r, true, false); !ok {
		return
	}
	var body struct {
		Name            string          `json:"name"`
		Expiration      string          `json:"expiration"`
		RoleDescriptors map[string]Role `json:"role_descriptors"`
		Metadata        map[string]any  `json:"metadata"`
	}
	if !s.decodeJSON(w, r, &body) {
		return
	}
	if body.Name == "" {
		s.writeError(w, r, 400, "action_request_validation_exception", "Validation Failed: 1: api key name is required;")
		return
	}
	if p.key != nil && len(body.RoleDescriptors) > 0 {
		s.writeError(w, r, 400, "illegal_argument_exception", "creating derived api keys requires an explicit role descriptor that is empty (has no privileges)")
		return
	}
	var exp time.Duration
	if body.Expiration != "" {
		d, err := parseTimeValue(body.Expiration)
		if err != nil {
			s.writeError(w, r, 400, "illegal_argument_exception", "failed to parse setting [expiration] with value ["+body.Expiration+"] as a time value: unit is missing or unrecognized")
			return
		}
		exp = d
	}
	s.mu.Lock()
	k := s.newAPIKeyLocked(p.user, p.realm, body.Name, exp, body.RoleDescriptors, body.Metadata)
	s.mu.Unlock()
	resp := obj{{"id", k.id}, {"name", k.name}}
	if !k.expires.IsZero() {
		resp = append(resp, kv{"expiration", k.expires.UnixMilli()})
	}
	resp = append(resp, kv{"api_key", k.secret}, kv{"encoded", base64.StdEncoding.EncodeToString([]byte(k.id + ":" + k.secret))})
	s.writeJSON(w, r, 200, resp, true)
}

// parseTimeValue parses ES time values: 1d, 12h, 30m, 10s, 500ms.
func parseTimeValue(v string) (time.Duration, error) {
	units := []struct {
		suf string
		d   time.Duration
	}{{"nanos", time.Nanosecond}, {"micros", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}, {"d", 24 * time.Hour}}
	for _, u := range units {
		if n, ok := strings.CutSuffix(v, u.suf); ok {
			var x int64
			for _, c := range n {
				if c < '0' || c > '9' {
					return 0, errBadTimeValue
				}
				x = x*10 + int64(c-'0')
			}
			if n == "" {
				return 0, errBadTimeValue
			}
			return time.Duration(x) * u.d, nil
		}
	}
	return 0, errBadTimeValue
}

func (s *Server) getAPIKeys(w http.ResponseWriter, r *http.Request, p *principal) {
	if !s.requireCluster(w, r, p, "cluster:admin/xpack/security/api_key/get") {
		return
	}
	q := r.URL.Query()
	owner := q.Get("owner") == "true" || !s.clusterAllowed(p, "cluster:admin/xpack/security/role/put")
	s.mu.Lock()
	var keys []*apiKey
	for _, k := range s.apiKeys {
		if id := q.Get("id"); id != "" && k.id != id {
			continue
		}
		if n := q.Get("name"); n != "" && !globMatch(n, k.name) {
			continue
		}
		if u := q.Get("username"); u != "" && k.owner != u {
			continue
		}
		if owner && k.owner != p.user {
			continue
		}
		if q.Get("active_only") == "true" && (!k.invalid.IsZero() || (!k.expires.IsZero() && !s.now().Before(k.expires))) {
			continue
		}
		keys = append(keys, k)
	}
	s.mu.Unlock()
	sort.Slice(keys, func(i, j int) bool { return keys[i].created.Before(keys[j].created) })
	out := []any{}
	for _, k := range keys {
		o := obj{{"id", k.id}, {"name", k.name}, {"type", "rest"}, {"creation", k.created.UnixMilli()}}
		if !k.expires.IsZero() {
			o = append(o, kv{"expiration", k.expires.UnixMilli()})
		}
		o = append(o, kv{"invalidated", !k.invalid.IsZero()})
		if !k.invalid.IsZero() {
			o = append(o, kv{"invalidation", k.invalid.UnixMilli()})
		}
		md := any(obj{})
		if k.metadata != nil {
			md = k.metadata
		}
		rd := any(obj{})
		if k.roles != nil {
			rd = k.roles
		}
		o = append(o, kv{"username", k.owner}, kv{"realm", k.realm}, kv{"realm_type", "native"}, kv{"metadata", md}, kv{"role_descriptors", rd})
		out = append(out, o)
	}
	if len(keys) == 0 && (q.Get("id") != "" || q.Get("name") != "") {
		s.writeError(w, r, 404, "resource_not_found_exception", "unable to find apikey with id ["+q.Get("id")+"] or name ["+q.Get("name")+"]")
		return
	}
	s.writeJSON(w, r, 200, obj{{"api_keys", out}}, true)
}

func (s *Server) invalidateAPIKeys(w http.ResponseWriter, r *http.Request, p *principal) {
	if !s.requireCluster(w, r, p, "cluster:admin/xpack/security/api_key/invalidate") {
		return
	}
	var body struct {
		IDs   []string `json:"ids"`
		ID    string   `json:"id"`
		Name  string   `json:"name"`
		Owner bool     `json:"owner"`
	}
	if !s.decodeJSON(w, r, &body) {
		return
	}
	if body.ID != "" {
		body.IDs = append(body.IDs, body.ID)
	}
	inv, prev := []string{}, []string{}
	s.mu.Lock()
	for _, k := range s.apiKeys {
		match := false
		for _, id := range body.IDs {
			match = match || id == k.id
		}
		if body.Name != "" && globMatch(body.Name, k.name) {
			match = true
		}
		if body.Owner && len(body.IDs) == 0 && body.Name == "" && k.owner == p.user {
			match = true
		}
		if !match || (body.Owner && k.owner != p.user) {
			continue
		}
		if k.invalid.IsZero() {
			k.invalid = s.now()
			inv = append(inv, k.id)
		} else {
			prev = append(prev, k.id)
		}
	}
	s.mu.Unlock()
	s.writeJSON(w, r, 200, obj{{"invalidated_api_keys", inv}, {"previously_invalidated_api_keys", prev}, {"error_count", 0}}, true)
}
