package esserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
)

// RoleMapping is a role mapping as PUT /_security/role_mapping/<name>
// takes it: roles (or role_templates) given to users its rules match.
type RoleMapping struct {
	Roles         []string         `json:"roles,omitempty"`
	RoleTemplates []map[string]any `json:"role_templates,omitempty"`
	Enabled       bool             `json:"enabled"`
	// Rules: {"field":{"<f>":value or [values]}}, {"any":[rules]},
	// {"all":[rules]}, {"except":rule}; fields username, dn, groups,
	// realm.name, metadata.<key>. A string value is a Lucene wildcard or a
	// /regexp/.
	Rules    map[string]any `json:"rules"`
	Metadata map[string]any `json:"metadata"`
}

func init() {
	clusterGrant["cluster:admin/xpack/security/role_mapping/put"] = []string{"manage_security", "all"}
	clusterGrant["cluster:admin/xpack/security/role_mapping/get"] = []string{"read_security", "manage_security", "all"}
	clusterGrant["cluster:admin/xpack/security/role_mapping/delete"] = []string{"manage_security", "all"}
	clusterGrant["cluster:admin/nodes/reload_secure_settings"] = []string{"manage", "all"}
}

// PutRoleMapping creates or replaces a role mapping.
func (s *Server) PutRoleMapping(name string, m RoleMapping) {
	s.jwt.mu.Lock()
	defer s.jwt.mu.Unlock()
	s.jwt.mappings[name] = m
}

// RoleMappings returns a copy of the stored role mappings.
func (s *Server) RoleMappings() map[string]RoleMapping {
	s.jwt.mu.Lock()
	defer s.jwt.mu.Unlock()
	out := make(map[string]RoleMapping, len(s.jwt.mappings))
	for k, v := range s.jwt.mappings {
		out[k] = v
	}
	return out
}

// mappingUser is what role-mapping rules see (ExpressionModel).
type mappingUser struct {
	username, dn string
	groups       []string
	realm        string
	metadata     map[string]any
}

func (u mappingUser) field(name string) []any {
	switch {
	case name == "username":
		return []any{u.username}
	case name == "dn":
		if u.dn == "" {
			return []any{nil}
		}
		return []any{u.dn}
	case name == "groups":
		out := []any{}
		for _, g := range u.groups {
			out = append(out, g)
		}
		return out
	case name == "realm.name":
		return []any{u.realm}
	case strings.HasPrefix(name, "metadata."):
		v, ok := u.metadata[strings.TrimPrefix(name, "metadata.")]
		if !ok {
			return []any{nil}
		}
		if arr, ok := v.([]any); ok {
			return arr
		}
		return []any{v}
	}
	return []any{nil}
}

// valueMatches is FieldExpression's value match: strings are Lucene
// wildcards or /regexp/; numbers and booleans compare equal; null matches
// an absent value.
func valueMatches(want, have any) bool {
	switch w := want.(type) {
	case nil:
		return have == nil
	case string:
		h, ok := have.(string)
		if !ok {
			return false
		}
		re, err := luceneWildcard(w)
		return err == nil && re.MatchString(h)
	case bool:
		h, ok := have.(bool)
		return ok && h == w
	case float64:
		switch h := have.(type) {
		case int64:
			return float64(h) == w
		case float64:
			return h == w
		}
	}
	return false
}

// ruleMatches evaluates a rule; a malformed rule matches nothing.
func ruleMatches(rule map[string]any, u mappingUser) bool {
	if len(rule) != 1 {
		return false
	}
	for k, v := range rule {
		switch k {
		case "any", "all":
			list, ok := v.([]any)
			if !ok {
				return false
			}
			for _, e := range list {
				m, _ := e.(map[string]any)
				hit := ruleMatches(m, u)
				if k == "any" && hit {
					return true
				}
				if k == "all" && !hit {
					return false
				}
			}
			return k == "all"
		case "except":
			m, _ := v.(map[string]any)
			return !ruleMatches(m, u)
		case "field":
			m, ok := v.(map[string]any)
			if !ok || len(m) != 1 {
				return false
			}
			for f, want := range m {
				wants, isList := want.([]any)
				if !isList {
					wants = []any{want}
				}
				for _, have := range u.field(f) {
					for _, w := range wants {
						if valueMatches(w, have) {
							return true
						}
					}
				}
			}
			return false
		}
	}
	return false
}

// normalize turns Go values (from PutRoleMapping) into JSON ones.
func normalize(v any) map[string]any {
	b, _ := json.Marshal(v)
	var m map[string]any
	json.Unmarshal(b, &m)
	return m
}

// mappedRoles is the union of the roles of every enabled mapping whose
// rules match u, sorted.
func (s *Server) mappedRoles(u mappingUser) []string {
	s.jwt.mu.Lock()
	defer s.jwt.mu.Unlock()
	set := map[string]bool{}
	for _, m := range s.jwt.mappings {
		if !m.Enabled || !ruleMatches(normalize(m.Rules), u) {
			continue
		}
		for _, r := range m.Roles {
			set[r] = true
		}
		for _, t := range m.RoleTemplates {
			src := ""
			if tm, ok := t["template"].(map[string]any); ok {
				src, _ = tm["source"].(string)
			}
			src = strings.NewReplacer("{{username}}", u.username, "{{realm.name}}", u.realm, "{{dn}}", u.dn).Replace(src)
			if src != "" && !strings.Contains(src, "{{") {
				set[src] = true
			}
		}
	}
	out := []string{}
	for r := range set {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// routeJWT serves the role-mapping API and reload_secure_settings; it
// reports whether it handled the request.
func (s *Server) routeJWT(w http.ResponseWriter, r *http.Request, p *principal, seg []string) bool {
	switch {
	case len(seg) >= 2 && seg[0] == "_nodes" && seg[len(seg)-1] == "reload_secure_settings" && len(seg) <= 3:
		if s.requireCluster(w, r, p, "cluster:admin/nodes/reload_secure_settings") {
			s.reloadSecureSettingsAPI(w, r)
		}
	case len(seg) >= 2 && len(seg) <= 3 && seg[0] == "_security" && seg[1] == "role_mapping":
		name := ""
		if len(seg) == 3 {
			name = seg[2]
		}
		s.roleMappingAPI(w, r, p, name)
	default:
		return false
	}
	return true
}

func (s *Server) roleMappingAPI(w http.ResponseWriter, r *http.Request, p *principal, name string) {
	switch {
	case (r.Method == "PUT" || r.Method == "POST") && name != "":
		if !s.requireCluster(w, r, p, "cluster:admin/xpack/security/role_mapping/put") {
			return
		}
		if _, ok := s.checkHeaders(w, r, true, false); !ok {
			return
		}
		var raw map[string]json.RawMessage
		if !s.decodeJSON(w, r, &raw) {
			return
		}
		var m RoleMapping
		b, _ := json.Marshal(raw)
		if err := json.Unmarshal(b, &m); err != nil {
			s.writeError(w, r, 400, "parse_exception", fmt.Sprintf("failed to parse role-mapping [%s]. %v", name, err))
			return
		}
		if _, ok := raw["enabled"]; !ok {
			s.writeError(w, r, 400, "parse_exception", fmt.Sprintf("failed to parse role-mapping [%s]. missing field [enabled]", name))
			return
		}
		var errs []string
		switch {
		case len(m.Roles) == 0 && len(m.RoleTemplates) == 0:
			errs = append(errs, "role-mapping roles or role-templates are missing")
		case len(m.Roles) > 0 && len(m.RoleTemplates) > 0:
			errs = append(errs, "role-mapping cannot have both roles and role-templates")
		}
		if len(m.Rules) == 0 {
			errs = append(errs, "role-mapping rules are missing")
		}
		if len(errs) > 0 {
			msg := "Validation Failed: "
			for i, e := range errs {
				msg += fmt.Sprintf("%d: %s;", i+1, e)
			}
			s.writeError(w, r, 400, "action_request_validation_exception", msg)
			return
		}
		if m.Metadata == nil {
			m.Metadata = map[string]any{}
		}
		s.jwt.mu.Lock()
		_, existed := s.jwt.mappings[name]
		s.jwt.mappings[name] = m
		s.jwt.mu.Unlock()
		s.writeJSON(w, r, 200, obj{{"role_mapping", obj{{"created", !existed}}}}, true)
	case r.Method == "GET":
		if !s.requireCluster(w, r, p, "cluster:admin/xpack/security/role_mapping/get") {
			return
		}
		all := s.RoleMappings()
		names := make([]string, 0, len(all))
		for n := range all {
			if name == "" || slices.Contains(strings.Split(name, ","), n) {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		out := obj{}
		for _, n := range names {
			m := all[n]
			o := obj{{"enabled", m.Enabled}}
			if len(m.RoleTemplates) > 0 {
				o = append(o, kv{"role_templates", m.RoleTemplates})
			} else {
				o = append(o, kv{"roles", m.Roles})
			}
			md := any(m.Metadata)
			if m.Metadata == nil {
				md = obj{}
			}
			o = append(o, kv{"rules", m.Rules}, kv{"metadata", md})
			out = append(out, kv{n, o})
		}
		if name != "" && len(out) == 0 {
			s.writeJSON(w, r, 404, obj{}, true)
			return
		}
		s.writeJSON(w, r, 200, out, true)
	case r.Method == "DELETE" && name != "":
		if !s.requireCluster(w, r, p, "cluster:admin/xpack/security/role_mapping/delete") {
			return
		}
		s.jwt.mu.Lock()
		_, found := s.jwt.mappings[name]
		delete(s.jwt.mappings, name)
		s.jwt.mu.Unlock()
		status := 200
		if !found {
			status = 404
		}
		s.writeJSON(w, r, status, obj{{"found", found}}, true)
	default:
		s.writeSimpleError(w, r, 405, fmt.Sprintf("Incorrect HTTP method for uri [%s] and method [%s], allowed: [GET, DELETE, PUT, POST]", r.URL.RequestURI(), r.Method))
	}
}
