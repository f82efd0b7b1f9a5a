package esserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// alias is an index alias: the indices it points to, in the order they
// were added, and each one's is_write_index (nil when not given).
type alias struct {
	name    string
	indices []string
	write   map[string]*bool
}

// writeIndex is IndexAbstraction.Alias's write index: the index with
// is_write_index true, else the only index unless it says false, else "".
func (a *alias) writeIndex() string {
	for _, n := range a.indices {
		if w := a.write[n]; w != nil && *w {
			return n
		}
	}
	if len(a.indices) == 1 {
		if w := a.write[a.indices[0]]; w == nil || *w {
			return a.indices[0]
		}
	}
	return ""
}

func (a *alias) remove(index string) {
	for i, n := range a.indices {
		if n == index {
			a.indices = append(a.indices[:i], a.indices[i+1:]...)
			break
		}
	}
	delete(a.write, index)
}

// addAliasLocked points alias name at index; it refuses a second write
// index as MetadataIndexAliasesService does.
func (s *Server) addAliasLocked(name, index string, isWrite *bool) *apiError {
	if _, clash := s.indices[name]; clash {
		return &apiError{400, "invalid_alias_name_exception", "Invalid alias name [" + name + "]: an index or data stream exists with the same name as the alias", []kv{{"index_uuid", "_na_"}, {"index", name}}}
	}
	a := s.aliases[name]
	if a == nil {
		a = &alias{name: name, write: map[string]*bool{}}
		s.aliases[name] = a
	}
	if isWrite != nil && *isWrite {
		if cur := a.writeIndex(); cur != "" && cur != index {
			if w := a.write[cur]; w != nil && *w {
				return &apiError{400, "illegal_state_exception", fmt.Sprintf("alias [%s] has more than one write index [%s,%s]", name, cur, index), nil}
			}
		}
	}
	found := false
	for _, n := range a.indices {
		found = found || n == index
	}
	if !found {
		a.indices = append(a.indices, index)
	}
	a.write[index] = isWrite
	return nil
}

// apiError is an Elasticsearch error answer: status, type, reason, extras.
type apiError struct {
	status      int
	typ, reason string
	extra       []kv
}

func (s *Server) writeAPIError(w http.ResponseWriter, r *http.Request, e *apiError) {
	s.writeError(w, r, e.status, e.typ, e.reason, e.extra...)
}

// writeTargetLocked resolves a write's target: an alias goes to its write
// index (400 when it has none, as IndexNameExpressionResolver answers);
// require_alias refuses a name that is not an alias.
func (s *Server) writeTargetLocked(name string, requireAlias bool) (string, *apiError) {
	if a := s.aliases[name]; a != nil && s.indices[name] == nil {
		if wi := a.writeIndex(); wi != "" {
			return wi, nil
		}
		return "", &apiError{400, "illegal_argument_exception", "no write index is defined for alias [" + name + "]. The write index may be explicitly disabled using is_write_index=false or the alias points to multiple indices without one being designated as a write index", nil}
	}
	if requireAlias {
		typ, _, extra := indexNotFound(name)
		return "", &apiError{404, typ, "no such index [" + name + "] and [require_alias] request flag is [true] and [" + name + "] is not an alias", extra}
	}
	return name, nil
}

// createIndex implements PUT /{index}: date-math names resolved in UTC,
// aliases with is_write_index, and the refusal of a name a data stream
// template claims.
func (s *Server) createIndex(w http.ResponseWriter, r *http.Request, p *principal, raw string) {
	name := s.resolveDateMath(raw)
	if !s.requireIndex(w, r, p, "create_index", name) {
		return
	}
	var body struct {
		Aliases map[string]struct {
			IsWriteIndex *bool `json:"is_write_index"`
		} `json:"aliases"`
	}
	if hasBody(r) {
		if _, ok := s.checkHeaders(w, r, true, false); !ok {
			return
		}
		if !s.decodeJSON(w, r, &body) {
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ix := s.indices[name]; ix != nil {
		s.writeError(w, r, 400, "resource_already_exists_exception", "index ["+name+"/"+ix.uuid+"] already exists",
			kv{"index_uuid", ix.uuid}, kv{"index", name})
		return
	}
	if s.aliases[name] != nil {
		s.writeError(w, r, 400, "invalid_index_name_exception", "Invalid index name ["+name+"], already exists as alias", kv{"index_uuid", "_na_"}, kv{"index", name})
		return
	}
	if tmpl := s.dataStreamTemplateLocked(name); tmpl != "" {
		s.writeError(w, r, 400, "illegal_argument_exception", "cannot create index with name ["+name+"], because it matches with template ["+tmpl+"] that creates data streams only, use create data stream api instead")
		return
	}
	names := make([]string, 0, len(body.Aliases))
	for a := range body.Aliases {
		names = append(names, a)
	}
	sort.Strings(names)
	s.indices[name] = &index{name: name, uuid: randomID(22), docs: map[string]*doc{}, provided: raw}
	for _, a := range names {
		if e := s.addAliasLocked(a, name, body.Aliases[a].IsWriteIndex); e != nil {
			delete(s.indices, name)
			for _, done := range names {
				if al := s.aliases[done]; al != nil {
					al.remove(name)
					if len(al.indices) == 0 {
						delete(s.aliases, done)
					}
				}
			}
			s.writeAPIError(w, r, e)
			return
		}
	}
	s.writeJSON(w, r, 200, obj{{"acknowledged", true}, {"shards_acknowledged", true}, {"index", name}}, true)
}

// getAliases serves GET|HEAD /_alias[/{name}] and /{index}/_alias[/{name}].
// Missing alias names answer 404 in RestGetAliasesAction's own shape,
// {"error":"alias [x] missing","status":404}, beside any found.
func (s *Server) getAliases(w http.ResponseWriter, r *http.Request, p *principal, indexExpr, aliasExpr string) {
	var want []string
	if aliasExpr != "" && aliasExpr != "_all" && aliasExpr != "*" {
		want = strings.Split(aliasExpr, ",")
	}
	if !s.requireIndex(w, r, p, "get_aliases", want...) {
		return
	}
	s.mu.Lock()
	if indexExpr != "" {
		if _, missing := s.resolve(indexExpr); missing != "" {
			s.mu.Unlock()
			typ, reason, extra := indexNotFound(missing)
			s.writeError(w, r, 404, typ, reason, extra...)
			return
		}
	}
	idxNames := make([]string, 0, len(s.indices))
	for n, ix := range s.indices {
		if ix.dataStream {
			continue
		}
		if indexExpr != "" && !matchesAny(strings.Split(indexExpr, ","), n) && !s.aliasPointsLocked(indexExpr, n) {
			continue
		}
		idxNames = append(idxNames, n)
	}
	sort.Strings(idxNames)
	s.mu.Unlock()
	// Like ES's security filter, list only the indices p may see.
	visible := idxNames[:0]
	for _, n := range idxNames {
		if s.indexAllowed(p, "get_aliases", n) {
			visible = append(visible, n)
		}
	}
	idxNames = visible
	s.mu.Lock()
	matched := map[string]bool{}
	out := obj{}
	for _, n := range idxNames {
		as := obj{}
		anames := make([]string, 0)
		for an, a := range s.aliases {
			for _, in := range a.indices {
				if in == n && (want == nil || matchesAny(want, an)) {
					anames = append(anames, an)
				}
			}
		}
		sort.Strings(anames)
		for _, an := range anames {
			matched[an] = true
			meta := obj{}
			if wi := s.aliases[an].write[n]; wi != nil {
				meta = append(meta, kv{"is_write_index", *wi})
			}
			as = append(as, kv{an, meta})
		}
		if len(as) > 0 || want == nil {
			out = append(out, kv{n, obj{{"aliases", as}}})
		}
	}
	s.mu.Unlock()
	var missing []string
	for _, a := range want {
		if !strings.ContainsAny(a, "*?") && !matched[a] {
			missing = append(missing, a)
		}
	}
	if len(missing) > 0 {
		msg := "alias [" + missing[0] + "] missing"
		if len(missing) > 1 {
			msg = "aliases [" + strings.Join(missing, ",") + "] missing"
		}
		s.writeJSON(w, r, 404, append(obj{{"error", msg}, {"status", 404}}, out...), true)
		return
	}
	s.writeJSON(w, r, 200, out, true)
}

func matchesAny(pats []string, name string) bool {
	for _, p := range pats {
		if p == "_all" || globMatch(p, name) {
			return true
		}
	}
	return false
}

func (s *Server) aliasPointsLocked(expr, index string) bool {
	for _, e := range strings.Split(expr, ",") {
		if a := s.aliases[e]; a != nil {
			for _, n := range a.indices {
				if n == index {
					return true
				}
			}
		}
	}
	return false
}

// postAliases is POST /_aliases with add, remove and remove_index actions,
// applied all or none.
func (s *Server) postAliases(w http.ResponseWriter, r *http.Request, p *principal) {
	if _, ok := s.checkHeaders(w, r, true, false); !ok {
		return
	}
	var body struct {
		Actions []map[string]struct {
			Index        string   `json:"index"`
			Indices      []string `json:"indices"`
			Alias        string   `json:"alias"`
			Aliases      []string `json:"aliases"`
			IsWriteIndex *bool    `json:"is_write_index"`
			MustExist    *bool    `json:"must_exist"`
		} `json:"actions"`
	}
	if !s.decodeJSON(w, r, &body) {
		return
	}
	if len(body.Actions) == 0 {
		s.writeError(w, r, 400, "action_request_validation_exception", "Validation Failed: 1: no actions specified;")
		return
	}
	type op struct {
		kind, index, alias string
		write              *bool
	}
	var ops []op
	for _, act := range body.Actions {
		for kind, a := range act {
			idx := append([]string{}, a.Indices...)
			if a.Index != "" {
				idx = append(idx, a.Index)
			}
			als := append([]string{}, a.Aliases...)
			if a.Alias != "" {
				als = append(als, a.Alias)
			}
			if kind == "remove_index" {
				als = []string{""}
			}
			for _, i := range idx {
				for _, al := range als {
					ops = append(ops, op{kind, i, al, a.IsWriteIndex})
				}
			}
		}
	}
	for _, o := range ops {
		names := []string{o.index}
		if o.alias != "" {
			names = append(names, o.alias)
		}
		if !s.requireIndex(w, r, p, "aliases", names...) {
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Apply to copies: a failed action leaves every alias as it was.
	saved := map[string]*alias{}
	for n, a := range s.aliases {
		c := &alias{name: a.name, indices: append([]string{}, a.indices...), write: map[string]*bool{}}
		for k, v := range a.write {
			c.write[k] = v
		}
		saved[n] = c
	}
	fail := func(e *apiError) {
		s.aliases = saved
		s.writeAPIError(w, r, e)
	}
	for _, o := range ops {
		if s.indices[o.index] == nil {
			typ, reason, extra := indexNotFound(o.index)
			fail(&apiError{404, typ, reason, extra})
			return
		}
		switch o.kind {
		case "add":
			if e := s.addAliasLocked(o.alias, o.index, o.write); e != nil {
				fail(e)
				return
			}
		case "remove":
			a := s.aliases[o.alias]
			if a == nil || !s.aliasPointsLocked(o.alias, o.index) {
				fail(&apiError{404, "aliases_not_found_exception", "aliases [" + o.alias + "] missing", []kv{{"resource.type", "aliases"}, {"resource.id", o.alias}}})
				return
			}
			a.remove(o.index)
			if len(a.indices) == 0 {
				delete(s.aliases, o.alias)
			}
		case "remove_index":
			delete(s.indices, o.index)
			for n, a := range s.aliases {
				a.remove(o.index)
				if len(a.indices) == 0 {
					delete(s.aliases, n)
				}
			}
		default:
			fail(&apiError{400, "x_content_parse_exception", "[1:1] [aliases] unknown field [" + o.kind + "]", nil})
			return
		}
	}
	s.writeJSON(w, r, 200, obj{{"acknowledged", true}, {"errors", false}}, true)
}

// rollover is POST /{alias-or-data-stream}/_rollover[/{new_index}].
func (s *Server) rollover(w http.ResponseWriter, r *http.Request, p *principal, target, newName string) {
	if !s.requireIndex(w, r, p, "rollover", target) {
		return
	}
	var body struct {
		Conditions map[string]json.RawMessage `json:"conditions"`
	}
	if hasBody(r) {
		if _, ok := s.checkHeaders(w, r, true, false); !ok {
			return
		}
		if !s.decodeJSON(w, r, &body) {
			return
		}
	}
	dryRun := r.URL.Query().Get("dry_run") == "true" || r.URL.Query().Has("dry_run") && r.URL.Query().Get("dry_run") == ""
	s.mu.Lock()
	defer s.mu.Unlock()
	var oldIndex, newIndex string
	var ds *index
	a := s.aliases[target]
	switch ix := s.indices[target]; {
	case ix != nil && ix.dataStream:
		ds = ix
		oldIndex, newIndex = ix.backing, s.backingIndexName(ix.name, ix.generation+1)
	case ix != nil:
		s.writeError(w, r, 400, "illegal_argument_exception", "rollover target is a [concrete index] but one of [alias,data_stream] was expected")
		return
	case a == nil:
		s.writeError(w, r, 400, "illegal_argument_exception", "rollover target ["+target+"] does not exist")
		return
	default:
		oldIndex = a.writeIndex()
		if oldIndex == "" {
			s.writeError(w, r, 400, "illegal_argument_exception", "rollover target ["+target+"] does not point to a write index")
			return
		}
		newIndex = newName
		if newIndex == "" {
			var err error
			if newIndex, err = s.rolloverName(s.indices[oldIndex]); err != nil {
				s.writeError(w, r, 400, "illegal_argument_exception", err.Error())
				return
			}
		}
		if s.indices[newIndex] != nil {
			s.writeError(w, r, 400, "resource_already_exists_exception", "index ["+newIndex+"/"+s.indices[newIndex].uuid+"] already exists",
				kv{"index_uuid", s.indices[newIndex].uuid}, kv{"index", newIndex})
			return
		}
	}
	conds, met := obj{}, len(body.Conditions) == 0
	names := make([]string, 0, len(body.Conditions))
	for k := range body.Conditions {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v := strings.Trim(string(body.Conditions[k]), `"`)
		ok := false
		if k == "max_docs" {
			n, _ := strconv.Atoi(v)
			cnt := 0
			if ds != nil {
				cnt = len(ds.docs)
			} else if ix := s.indices[oldIndex]; ix != nil {
				cnt = len(ix.docs)
			}
			ok = cnt >= n
		}
		met = met || ok
		conds = append(conds, kv{"[" + k + ": " + v + "]", ok})
	}
	rolled := met && !dryRun
	if rolled {
		if ds != nil {
			ds.generation++
			ds.backing = newIndex
			ds.backings = append(ds.backings, newIndex)
		} else {
			old := s.indices[oldIndex]
			s.indices[newIndex] = &index{name: newIndex, uuid: randomID(22), docs: map[string]*doc{}, provided: rolloverProvided(old)}
			if wi := a.write[oldIndex]; wi != nil && *wi {
				f, t := false, true
				a.write[oldIndex] = &f
				a.indices = append(a.indices, newIndex)
				a.write[newIndex] = &t
			} else {
				a.remove(oldIndex)
				a.indices = append(a.indices, newIndex)
				a.write[newIndex] = nil
			}
		}
	}
	res := obj{{"acknowledged", rolled}, {"shards_acknowledged", rolled}, {"old_index", oldIndex}, {"new_index", newIndex},
		{"rolled_over", rolled}, {"dry_run", dryRun}}
	if !s.versionBefore(8, 13) {
		res = append(res, kv{"lazy", false})
	}
	s.writeJSON(w, r, 200, append(res, kv{"conditions", conds}), true)
}

// rolloverName is MetadataRolloverService.generateRolloverIndexName: the
// provided name's trailing number plus one, six digits, date math kept and
// resolved again.
func (s *Server) rolloverName(old *index) (string, error) {
	provided := rolloverProvided(old)
	if provided == "" {
		return "", fmt.Errorf("index name [%s] does not match pattern '^.*-\\d+$'", old.name)
	}
	return s.resolveDateMath(provided), nil
}

// rolloverProvided is the next provided name after old's, or "".
func rolloverProvided(old *index) string {
	if old == nil {
		return ""
	}
	src := old.provided
	if src == "" {
		src = old.name
	}
	dm := strings.HasPrefix(src, "<") && strings.HasSuffix(src, ">")
	body := src
	if dm {
		body = src[1 : len(src)-1]
	}
	i := strings.LastIndexByte(body, '-')
	if i < 0 {
		return ""
	}
	n, err := strconv.Atoi(body[i+1:])
	if err != nil || n < 0 || !strings.HasSuffix(old.name, body[i:]) && !dm {
		return ""
	}
	next := fmt.Sprintf("%s-%06d", body[:i], n+1)
	if dm {
		return "<" + next + ">"
	}
	return next
}

// docAPI is POST /{target}/_doc, PUT|POST /{target}/_doc/{id} and
// PUT|POST /{target}/_create/{id}: one write, through an alias to its
// write index, answered as IndexResponse.
func (s *Server) docAPI(w http.ResponseWriter, r *http.Request, p *principal, target, kind, id string) {
	compat, ok := s.checkHeaders(w, r, true, false)
	if !ok {
		return
	}
	body, err := readBody(r)
	if err != nil {
		s.writeError(w, r, 400, "illegal_argument_exception", "failed to read request body: "+err.Error())
		return
	}
	op := "index"
	if kind == "_create" || r.URL.Query().Get("op_type") == "create" {
		op = "create"
	}
	it := bulkItem{op: op, index: target, id: id, source: body, requireAlias: r.URL.Query().Get("require_alias") == "true"}
	res, failed := s.execItem(p, it, compat, nil, 0)
	status := 201
	for _, e := range res {
		if e.K == "status" {
			status, _ = e.V.(int)
		}
	}
	if failed {
		for _, e := range res {
			if e.K == "error" {
				c := e.V.(obj)
				s.writeJSON(w, r, status, obj{{"error", append(obj{{"root_cause", []any{c}}}, c...)}, {"status", status}}, true)
				return
			}
		}
	}
	out := obj{}
	for _, e := range res {
		if e.K != "status" {
			out = append(out, e)
		}
	}
	s.writeJSON(w, r, status, out, true)
}

// putAlias is PUT|POST /{index}/_alias/{name} (body optional:
// is_write_index) and DELETE /{index}/_alias/{name}: one action of
// POST /_aliases, with its privilege and answers.
func (s *Server) putAlias(w http.ResponseWriter, r *http.Request, p *principal, index, name string) {
	var body struct {
		IsWriteIndex *bool `json:"is_write_index"`
	}
	if r.Method != "DELETE" && hasBody(r) {
		if _, ok := s.checkHeaders(w, r, true, false); !ok {
			return
		}
		if !s.decodeJSON(w, r, &body) {
			return
		}
	}
	if !s.requireIndex(w, r, p, "aliases", index, name) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.indices[index] == nil {
		typ, reason, extra := indexNotFound(index)
		s.writeError(w, r, 404, typ, reason, extra...)
		return
	}
	if r.Method == "DELETE" {
		a := s.aliases[name]
		if a == nil || !s.aliasPointsLocked(name, index) {
			s.writeError(w, r, 404, "aliases_not_found_exception", "aliases ["+name+"] missing", kv{"resource.type", "aliases"}, kv{"resource.id", name})
			return
		}
		a.remove(index)
		if len(a.indices) == 0 {
			delete(s.aliases, name)
		}
	} else if e := s.addAliasLocked(name, index, body.IsWriteIndex); e != nil {
		s.writeAPIError(w, r, e)
		return
	}
	s.writeJSON(w, r, 200, obj{{"acknowledged", true}, {"errors", false}}, true)
}
