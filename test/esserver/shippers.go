package esserver

import (
	"fmt"
	"net/http"
)

// The privileges of the calls shippers make to set up data streams,
// aliases and rollover (IndexPrivilege's automatons: create_index covers
// indices:admin/data_stream/create, delete_index covers
// indices:admin/data_stream/delete, view_index_metadata covers
// indices:admin/aliases/get and indices:admin/data_stream/get; every
// indices:admin/* action is manage's) and node statistics (monitor).
func init() {
	for op, g := range map[string]struct {
		action string
		grant  []string
	}{
		"create_data_stream": {"indices:admin/data_stream/create", []string{"create_index", "manage", "all"}},
		"delete_data_stream": {"indices:admin/data_stream/delete", []string{"delete_index", "manage", "all"}},
		"get_data_stream":    {"indices:admin/data_stream/get", []string{"view_index_metadata", "manage", "all"}},
		"get_aliases":        {"indices:admin/aliases/get", []string{"view_index_metadata", "manage", "all"}},
		"aliases":            {"indices:admin/aliases", []string{"manage", "all"}},
		"rollover":           {"indices:admin/rollover", []string{"manage", "all"}},
	} {
		indexGrant[op] = g.grant
		indexActionName[op] = g.action
	}
	clusterGrant["cluster:monitor/nodes/stats"] = []string{"monitor", "manage", "all"}
}

// routeShippers serves the data stream, alias, rollover, single-document
// and node statistics APIs. It reports whether it handled the request.
func (s *Server) routeShippers(w http.ResponseWriter, r *http.Request, p *principal, seg []string) bool {
	n := len(seg)
	if n == 0 {
		return false
	}
	m := r.Method
	bad := func(allowed string) {
		s.writeSimpleError(w, r, 405, fmt.Sprintf("Incorrect HTTP method for uri [%s] and method [%s], allowed: [%s]", r.URL.RequestURI(), m, allowed))
	}
	switch {
	case seg[0] == "_data_stream" && n <= 2:
		s.dataStreamAPI(w, r, p, seg)
	case n == 3 && (seg[1] == "_alias" || seg[1] == "_aliases") && seg[0][0] != '_' && (m == "PUT" || m == "POST" || m == "DELETE"):
		s.putAlias(w, r, p, seg[0], seg[2])
	case seg[0] == "_alias" && n <= 2, n >= 2 && n <= 3 && seg[1] == "_alias" && seg[0][0] != '_':
		if m != "GET" && m != "HEAD" {
			bad("GET, HEAD")
			return true
		}
		idx, name := "", ""
		switch {
		case seg[0] == "_alias" && n == 2:
			name = seg[1]
		case seg[0] != "_alias":
			idx = seg[0]
			if n == 3 {
				name = seg[2]
			}
		}
		s.getAliases(w, r, p, idx, name)
	case seg[0] == "_aliases" && n == 1:
		if m != "POST" {
			bad("POST")
			return true
		}
		s.postAliases(w, r, p)
	case n >= 2 && n <= 3 && seg[1] == "_rollover" && seg[0][0] != '_':
		if m != "POST" {
			bad("POST")
			return true
		}
		newName := ""
		if n == 3 {
			newName = s.resolveDateMath(seg[2])
		}
		s.rollover(w, r, p, seg[0], newName)
	case n == 2 && seg[1] == "_doc" && seg[0][0] != '_':
		if m != "POST" {
			bad("POST")
			return true
		}
		s.docAPI(w, r, p, seg[0], "_doc", "")
	case n == 3 && (seg[1] == "_doc" || seg[1] == "_create") && seg[0][0] != '_' && (m == "PUT" || m == "POST"):
		s.docAPI(w, r, p, seg[0], seg[1], seg[2])
	case seg[0] == "_nodes" && isNodeStats(seg):
		if m != "GET" {
			bad("GET")
			return true
		}
		if s.requireCluster(w, r, p, "cluster:monitor/nodes/stats") {
			s.nodeStats(w, r, seg)
		}
	default:
		return false
	}
	return true
}
