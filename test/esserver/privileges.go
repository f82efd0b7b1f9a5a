package esserver

import (
	"net/http"
	"slices"
	"sort"
	"strings"
)

// Privilege implication: a held privilege grants every privilege it implies
// (the usual ES hierarchy for the privileges esgate works with).
var (
	clusterImplies = map[string][]string{
		"all":                       {"*"},
		"manage":                    {"monitor", "manage_index_templates", "manage_ilm", "read_ilm", "manage_ingest_pipelines", "manage_pipeline"},
		"manage_ilm":                {"read_ilm"},
		"manage_security":           {"manage_api_key", "manage_own_api_key", "read_security", "manage_service_account"},
		"manage_api_key":            {"manage_own_api_key"},
		"read_security":             {},
		"manage_logstash_pipelines": {},
	}
	indexImplies = map[string][]string{
		"all":    {"*"},
		"write":  {"index", "create", "create_doc", "delete"},
		"index":  {"create", "create_doc"},
		"create": {"create_doc"},
		"manage": {"create_index", "view_index_metadata", "monitor", "manage_ilm", "manage_data_stream_lifecycle", "auto_configure", "maintenance", "delete_index", "manage_follow_index"},
		"read":   {"read_cross_cluster"},
	}
)

func implies(table map[string][]string, held, want string) bool {
	if held == want {
		return true
	}
	for _, x := range table[held] {
		if x == "*" || x == want {
			return true
		}
	}
	return false
}

// hasCluster reports whether p holds cluster privilege want (or the raw action).
func (s *Server) hasCluster(p *principal, want string) bool {
	for _, set := range s.roleSets(p) {
		ok := false
		for _, r := range set {
			for _, c := range r.Cluster {
				if implies(clusterImplies, c, want) {
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

// hasIndex reports whether p holds index privilege want on name, where name
// may itself be a pattern: it is covered when a role pattern matches it with
// the name's '*' taken literally (so "logstash-*" covers "logstash-*").
func (s *Server) hasIndex(p *principal, want, name string) bool {
	for _, set := range s.roleSets(p) {
		ok := false
		for _, r := range set {
			for _, ip := range r.Indices {
				if !anyMatch(ip.Names, name) {
					continue
				}
				for _, pr := range ip.Privileges {
					if implies(indexImplies, pr, want) {
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

// hasPrivileges implements GET|POST /_security/user/_has_privileges.
func (s *Server) hasPrivileges(w http.ResponseWriter, r *http.Request, p *principal) {
	var req struct {
		Cluster []string `json:"cluster"`
		Index   []struct {
			Names      []string `json:"names"`
			Privileges []string `json:"privileges"`
		} `json:"index"`
	}
	if !s.decodeJSON(w, r, &req) {
		return
	}
	all := true
	cluster := obj{}
	for _, c := range req.Cluster {
		ok := s.hasCluster(p, c)
		all = all && ok
		cluster = append(cluster, kv{c, ok})
	}
	type entry struct {
		name string
		priv obj
	}
	// One object per index name, holding every privilege asked of it in
	// any entry, as ES answers.
	var idx []*entry
	byName := map[string]*entry{}
	for _, ip := range req.Index {
		for _, n := range ip.Names {
			e := byName[n]
			if e == nil {
				e = &entry{name: n}
				byName[n] = e
				idx = append(idx, e)
			}
			for _, pr := range ip.Privileges {
				ok := s.hasIndex(p, pr, n)
				all = all && ok
				dup := false
				for _, have := range e.priv {
					dup = dup || have.K == pr
				}
				if !dup {
					e.priv = append(e.priv, kv{pr, ok})
				}
			}
		}
	}
	sort.SliceStable(idx, func(i, j int) bool { return idx[i].name < idx[j].name })
	index := obj{}
	for _, e := range idx {
		index = append(index, kv{e.name, e.priv})
	}
	s.writeJSON(w, r, 200, obj{{"username", p.user}, {"has_all_requested", all}, {"cluster", cluster}, {"index", index}, {"application", obj{}}}, true)
}

// userJSON renders a user as GET /_security/user does.
func userJSON(u *user) obj {
	var fullName any
	if u.fullName != "" {
		fullName = u.fullName
	}
	md := obj{}
	if u.reserved {
		md = obj{{"_reserved", true}}
	}
	roles := u.roles
	if roles == nil {
		roles = []string{}
	}
	return obj{{"username", u.name}, {"roles", roles}, {"full_name", fullName}, {"email", nil}, {"metadata", md}, {"enabled", u.enabled}}
}

// moreSecurity serves the user, role and password APIs not in security().
// It reports whether it handled the request.
func (s *Server) moreSecurity(w http.ResponseWriter, r *http.Request, p *principal, seg []string) bool {
	switch {
	case len(seg) == 2 && seg[0] == "user" && seg[1] == "_has_privileges" && (r.Method == "GET" || r.Method == "POST"):
		s.hasPrivileges(w, r, p)
	case len(seg) >= 1 && seg[0] == "user" && r.Method == "GET" && len(seg) <= 2:
		if !s.requireCluster(w, r, p, "cluster:admin/xpack/security/user/get") {
			return true
		}
		s.mu.Lock()
		out := obj{}
		names := []string{}
		for n := range s.users {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if len(seg) == 2 && !slices.Contains(strings.Split(seg[1], ","), n) {
				continue
			}
			out = append(out, kv{n, userJSON(s.users[n])})
		}
		s.mu.Unlock()
		if len(seg) == 2 && len(out) == 0 {
			s.writeJSON(w, r, 404, obj{}, true)
			return true
		}
		s.writeJSON(w, r, 200, out, true)
	case len(seg) == 2 && seg[0] == "user" && r.Method == "DELETE":
		if !s.requireCluster(w, r, p, "cluster:admin/xpack/security/user/put") {
			return true
		}
		s.mu.Lock()
		_, found := s.users[seg[1]]
		delete(s.users, seg[1])
		s.purgeAuthCache(seg[1])
		s.mu.Unlock()
		status := 200
		if !found {
			status = 404
		}
		s.writeJSON(w, r, status, obj{{"found", found}}, true)
	case len(seg) == 3 && seg[0] == "user" && (seg[2] == "_enable" || seg[2] == "_disable") && (r.Method == "PUT" || r.Method == "POST"):
		if !s.requireCluster(w, r, p, "cluster:admin/xpack/security/user/put") {
			return true
		}
		if seg[1] == p.user && p.key == nil {
			s.writeError(w, r, 400, "illegal_argument_exception", "users may not update the enabled status of their own account")
			return true
		}
		s.mu.Lock()
		u := s.users[seg[1]]
		if u != nil {
			u.enabled = seg[2] == "_enable"
			s.purgeAuthCache(u.name)
		}
		s.mu.Unlock()
		if u == nil {
			s.writeError(w, r, 404, "resource_not_found_exception", "user ["+seg[1]+"] not found")
			return true
		}
		s.writeJSON(w, r, 200, obj{}, true)
	case len(seg) == 3 && seg[0] == "user" && seg[2] == "_password" && (r.Method == "PUT" || r.Method == "POST"):
		if seg[1] != p.user && !s.requireCluster(w, r, p, "cluster:admin/xpack/security/user/put") {
			return true
		}
		var body struct {
			Password string `json:"password"`
		}
		if !s.decodeJSON(w, r, &body) {
			return true
		}
		if len(body.Password) < 6 {
			s.writeError(w, r, 400, "action_request_validation_exception", "Validation Failed: 1: passwords must be at least [6] characters long;")
			return true
		}
		s.mu.Lock()
		u := s.users[seg[1]]
		s.mu.Unlock()
		if u == nil {
			s.writeError(w, r, 404, "resource_not_found_exception", "user ["+seg[1]+"] not found")
			return true
		}
		s.setPassword(u, body.Password)
		s.writeJSON(w, r, 200, obj{}, true)
	case len(seg) == 2 && seg[0] == "role" && r.Method == "DELETE":
		if !s.requireCluster(w, r, p, "cluster:admin/xpack/security/role/put") {
			return true
		}
		s.mu.Lock()
		_, found := s.roles[seg[1]]
		delete(s.roles, seg[1])
		s.mu.Unlock()
		status := 200
		if !found {
			status = 404
		}
		s.writeJSON(w, r, status, obj{{"found", found}}, true)
	default:
		return false
	}
	return true
}
