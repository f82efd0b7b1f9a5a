package esserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

type doc struct {
	source  json.RawMessage
	version int
	seqNo   int
}

type index struct {
	name       string
	uuid       string
	dataStream bool
	backing    string // .ds-… write backing index of a data stream
	// backings are a data stream's backing indices, oldest first;
	// generation counts them and template made the stream.
	backings   []string
	generation int
	template   string
	// provided is the name as the creator wrote it (date math kept), which
	// rollover increments (index.provided_name).
	provided string
	docs     map[string]*doc
	order    []string
	seqNo    int
}

// resolve lists the indices a target names ("_all", "*", comma lists, patterns).
func (s *Server) resolve(target string) ([]*index, string) {
	var out []*index
	for _, t := range strings.Split(target, ",") {
		if t == "_all" || t == "" {
			t = "*"
		}
		if strings.ContainsAny(t, "*?") {
			for n, ix := range s.indices {
				if globMatch(t, n) && !strings.HasPrefix(n, ".") {
					out = append(out, ix)
				}
			}
			continue
		}
		if a := s.aliases[t]; a != nil && s.indices[t] == nil {
			for _, n := range a.indices {
				if ix := s.indices[n]; ix != nil {
					out = append(out, ix)
				}
			}
			continue
		}
		ix := s.indices[t]
		if ix == nil {
			return nil, t
		}
		out = append(out, ix)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, ""
}

// Count returns the number of documents in target (an index, data stream,
// pattern or "_all").
func (s *Server) Count(target string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	ixs, _ := s.resolve(target)
	n := 0
	for _, ix := range ixs {
		n += len(ix.docs)
	}
	return n
}

// Source returns a stored document's _source, or nil.
func (s *Server) Source(indexName, id string) json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ix := s.indices[indexName]; ix != nil {
		if d := ix.docs[id]; d != nil {
			return d.source
		}
	}
	return nil
}

func indexNotFound(name string) (string, string, []kv) {
	return "index_not_found_exception", "no such index [" + name + "]",
		[]kv{{"resource.type", "index_or_alias"}, {"resource.id", name}, {"index_uuid", "_na_"}, {"index", name}}
}

func (s *Server) search(w http.ResponseWriter, r *http.Request, p *principal, target string, count bool) {
	if hasBody(r) {
		if _, ok := s.checkHeaders(w, r, true, false); !ok {
			return
		}
	}
	var q struct {
		Size  *int `json:"size"`
		Query *struct {
			Term  map[string]any `json:"term"`
			Match map[string]any `json:"match"`
		} `json:"query"`
	}
	if hasBody(r) {
		body, err := readBody(r)
		if err == nil && len(bytes.TrimSpace(body)) > 0 {
			err = json.Unmarshal(body, &q)
		}
		if err != nil {
			s.writeError(w, r, 400, "parsing_exception", "request body is malformed: "+err.Error())
			return
		}
	}
	s.mu.Lock()
	ixs, missing := s.resolve(target)
	s.mu.Unlock()
	if missing != "" {
		typ, reason, extra := indexNotFound(missing)
		s.writeError(w, r, 404, typ, reason, extra...)
		return
	}
	for _, ix := range ixs {
		if !s.indexAllowed(p, "search", ix.name) {
			s.write403(w, r, s.denial(p, indexActionName["search"], []string{ix.name}, "index", indexGrant["search"]))
			return
		}
	}
	field, want := "", any(nil)
	if qs := r.URL.Query().Get("q"); qs != "" {
		f, v, _ := strings.Cut(qs, ":")
		field, want = f, v
	}
	if q.Query != nil {
		for _, m := range []map[string]any{q.Query.Term, q.Query.Match} {
			for k, v := range m {
				field, want = k, v
				if mv, ok := v.(map[string]any); ok {
					want = mv["value"]
					if want == nil {
						want = mv["query"]
					}
				}
			}
		}
	}
	size := 10
	if q.Size != nil {
		size = *q.Size
	}
	if v := r.URL.Query().Get("size"); v != "" {
		size, _ = strconv.Atoi(v)
	}
	var hits []any
	total := 0
	s.mu.Lock()
	for _, ix := range ixs {
		name := ix.name
		if ix.dataStream {
			name = ix.backing
		}
		for _, id := range ix.order {
			d := ix.docs[id]
			if d == nil {
				continue
			}
			if field != "" {
				var src map[string]any
				json.Unmarshal(d.source, &src)
				if fmt.Sprint(src[field]) != fmt.Sprint(want) {
					continue
				}
			}
			total++
			if len(hits) < size {
				hits = append(hits, obj{{"_index", name}, {"_id", id}, {"_score", 1.0}, {"_source", d.source}})
			}
		}
	}
	s.mu.Unlock()
	shards := obj{{"total", len(ixs)}, {"successful", len(ixs)}, {"skipped", 0}, {"failed", 0}}
	if count {
		s.writeJSON(w, r, 200, obj{{"count", total}, {"_shards", shards}}, true)
		return
	}
	if hits == nil {
		hits = []any{}
	}
	var maxScore any
	if total > 0 {
		maxScore = 1.0
	}
	s.writeJSON(w, r, 200, obj{{"took", 1}, {"timed_out", false}, {"_shards", shards},
		{"hits", obj{{"total", obj{{"value", total}, {"relation", "eq"}}}, {"max_score", maxScore}, {"hits", hits}}}}, true)
}

func (s *Server) indexExists(w http.ResponseWriter, r *http.Request, p *principal, name string) {
	if !s.indexAllowed(p, "get_index", name) {
		s.write403(w, r, s.denial(p, indexActionName["get_index"], []string{name}, "index", indexGrant["get_index"]))
		return
	}
	s.mu.Lock()
	ix := s.indices[name]
	if a := s.aliases[name]; ix == nil && a != nil && len(a.indices) > 0 {
		ix = s.indices[a.indices[0]]
	}
	s.mu.Unlock()
	if ix == nil {
		typ, reason, extra := indexNotFound(name)
		s.writeError(w, r, 404, typ, reason, extra...)
		return
	}
	s.writeJSON(w, r, 200, obj{{name, obj{{"aliases", obj{}}, {"mappings", obj{}}, {"settings", obj{}}}}}, true)
}

// templateAPI is what differs between /_index_template (composable) and
// /_template (legacy, whose writes 9.x marks deprecated).
type templateAPI struct {
	get, put   string // cluster actions
	store      func(s *Server) map[string]json.RawMessage
	notFound   func(s *Server, w http.ResponseWriter, r *http.Request, name string)
	found      func(name string, t json.RawMessage) obj
	deprecated string // the 9.x Warning on writes, if any
}

var composableTemplates = templateAPI{
	get: "indices:admin/index_template/get", put: "indices:admin/index_template/put",
	store: func(s *Server) map[string]json.RawMessage { return s.templates },
	notFound: func(s *Server, w http.ResponseWriter, r *http.Request, name string) {
		s.writeError(w, r, 404, "resource_not_found_exception", "index template matching ["+name+"] not found")
	},
	found: func(name string, t json.RawMessage) obj {
		return obj{{"index_templates", []any{obj{{"name", name}, {"index_template", t}}}}}
	},
}

var legacyTemplates = templateAPI{
	get: "indices:admin/template/get", put: "indices:admin/template/put",
	store: func(s *Server) map[string]json.RawMessage { return s.legacyTemplates },
	notFound: func(s *Server, w http.ResponseWriter, r *http.Request, name string) {
		s.writeJSON(w, r, 404, obj{}, true)
	},
	found:      func(name string, t json.RawMessage) obj { return obj{{name, t}} },
	deprecated: "Legacy index templates are deprecated in favor of composable templates.",
}

// indexTemplate is /_index_template/{name}.
func (s *Server) indexTemplate(w http.ResponseWriter, r *http.Request, p *principal, name string) {
	s.template(w, r, p, name, composableTemplates)
}

// legacyTemplate is /_template/{name}, the legacy index template API:
// served by 8.x and 9.x.
func (s *Server) legacyTemplate(w http.ResponseWriter, r *http.Request, p *principal, name string) {
	s.template(w, r, p, name, legacyTemplates)
}

func (s *Server) template(w http.ResponseWriter, r *http.Request, p *principal, name string, api templateAPI) {
	switch r.Method {
	case "HEAD", "GET":
		if !s.requireCluster(w, r, p, api.get) {
			return
		}
		s.mu.Lock()
		t, ok := api.store(s)[name]
		s.mu.Unlock()
		switch {
		case ok:
			s.writeJSON(w, r, 200, api.found(name, t), true)
		case r.Method == "HEAD":
			w.Header().Set("X-elastic-product", "Elasticsearch")
			w.WriteHeader(404)
		default:
			api.notFound(s, w, r, name)
		}
	case "PUT", "POST":
		if !s.requireCluster(w, r, p, api.put) {
			return
		}
		if _, ok := s.checkHeaders(w, r, true, false); !ok {
			return
		}
		var t json.RawMessage
		if !s.decodeJSON(w, r, &t) {
			return
		}
		s.mu.Lock()
		api.store(s)[name] = t
		s.mu.Unlock()
		if api.deprecated != "" && s.major() >= 9 {
			s.deprecation(w, api.deprecated)
		}
		s.writeJSON(w, r, 200, obj{{"acknowledged", true}}, true)
	default:
		s.writeSimpleError(w, r, 405, fmt.Sprintf("Incorrect HTTP method for uri [%s] and method [%s], allowed: [HEAD, DELETE, GET, PUT, POST]", r.URL.RequestURI(), r.Method))
	}
}

func (s *Server) ilmPolicy(w http.ResponseWriter, r *http.Request, p *principal, name string) {
	switch r.Method {
	case "GET":
		if !s.requireCluster(w, r, p, "cluster:admin/ilm/get") {
			return
		}
		s.mu.Lock()
		pol, ok := s.policies[name]
		s.mu.Unlock()
		if !ok {
			s.writeError(w, r, 404, "resource_not_found_exception", "Lifecycle policy not found: ["+name+"]")
			return
		}
		s.writeJSON(w, r, 200, obj{{name, obj{{"version", 1}, {"modified_date", "2024-10-10T00:00:00.000Z"}, {"policy", pol}}}}, true)
	case "PUT":
		if !s.requireCluster(w, r, p, "cluster:admin/ilm/put") {
			return
		}
		if _, ok := s.checkHeaders(w, r, true, false); !ok {
			return
		}
		var body struct {
			Policy json.RawMessage `json:"policy"`
		}
		if !s.decodeJSON(w, r, &body) {
			return
		}
		s.mu.Lock()
		s.policies[name] = body.Policy
		s.mu.Unlock()
		s.writeJSON(w, r, 200, obj{{"acknowledged", true}}, true)
	default:
		s.writeSimpleError(w, r, 405, fmt.Sprintf("Incorrect HTTP method for uri [%s] and method [%s], allowed: [GET, DELETE, PUT]", r.URL.RequestURI(), r.Method))
	}
}

// Sources returns the _source of every document in indexName, in the
// order they were indexed (for tests that check what arrived).
func (s *Server) Sources(indexName string) []json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	ix := s.indices[indexName]
	if ix == nil {
		return nil
	}
	out := make([]json.RawMessage, 0, len(ix.order))
	for _, id := range ix.order {
		if d := ix.docs[id]; d != nil {
			out = append(out, d.source)
		}
	}
	return out
}

// FirstID returns the id of the first document indexed into indexName, or "".
func (s *Server) FirstID(indexName string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ix := s.indices[indexName]; ix != nil && len(ix.order) > 0 {
		return ix.order[0]
	}
	return ""
}

// resolveDateMath expands <name-{now/d}-000001> index names (the form
// Logstash's ILM bootstrap sends, CGI-escaped in the path).
func (s *Server) resolveDateMath(name string) string {
	if !strings.HasPrefix(name, "<") || !strings.HasSuffix(name, ">") {
		return name
	}
	inner := name[1 : len(name)-1]
	var b strings.Builder
	for {
		i := strings.IndexByte(inner, '{')
		if i < 0 {
			b.WriteString(inner)
			return b.String()
		}
		b.WriteString(inner[:i])
		j := strings.IndexByte(inner[i:], '}')
		if j < 0 {
			b.WriteString(inner[i:])
			return b.String()
		}
		// {now/d} and {now/d{yyyy.MM.dd}} both render the UTC day.
		b.WriteString(s.now().UTC().Format("2006.01.02"))
		inner = strings.TrimPrefix(inner[i+j+1:], "}")
	}
}
