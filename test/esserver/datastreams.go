package esserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// builtinDataStreamTemplates are ES 8's and 9's built-in composable
// templates that make data streams (priority 100; the stack templates of
// x-pack's StackTemplateRegistry: logs, metrics, synthetics; traces is
// APM's).
var builtinDataStreamTemplates = []struct{ name, pattern string }{
	{"logs", "logs-*-*"}, {"metrics", "metrics-*-*"}, {"synthetics", "synthetics-*-*"}, {"traces", "traces-*-*"},
}

// dataStreamTemplateLocked is the name of the composable template that
// makes name a data stream, or "": the highest-priority template matching
// name decides (MetadataIndexTemplateService.findV2Template), and it makes
// a data stream when it has a data_stream object.
func (s *Server) dataStreamTemplateLocked(name string) string {
	best, bestPrio, isDS := "", -1, false
	for _, b := range builtinDataStreamTemplates {
		if globMatch(b.pattern, name) && 100 > bestPrio {
			best, bestPrio, isDS = b.name, 100, true
		}
	}
	names := make([]string, 0, len(s.templates))
	for n := range s.templates {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		var t struct {
			IndexPatterns patterns        `json:"index_patterns"`
			DataStream    json.RawMessage `json:"data_stream"`
			Priority      int             `json:"priority"`
		}
		if json.Unmarshal(s.templates[n], &t) != nil || !anyMatch(t.IndexPatterns, name) || t.Priority <= bestPrio && best != "" {
			continue
		}
		best, bestPrio, isDS = n, t.Priority, len(t.DataStream) > 0 && string(t.DataStream) != "null"
	}
	if !isDS {
		return ""
	}
	return best
}

// patterns is index_patterns: a list or a single string (Logstash's ILM
// template sends "<alias>-*").
type patterns []string

func (p *patterns) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*p = []string{one}
		return nil
	}
	var many []string
	err := json.Unmarshal(b, &many)
	*p = many
	return err
}

// backingIndexName is DataStream.getDefaultBackingIndexName:
// .ds-<stream>-<yyyy.MM.dd>-<generation, 6 digits>, the date in UTC.
func (s *Server) backingIndexName(stream string, generation int) string {
	return fmt.Sprintf(".ds-%s-%s-%06d", stream, s.now().UTC().Format("2006.01.02"), generation)
}

// newDataStreamLocked creates a data stream with its first backing index.
func (s *Server) newDataStreamLocked(name, template string) *index {
	ix := &index{name: name, uuid: randomID(22), docs: map[string]*doc{}, dataStream: true, template: template, generation: 1}
	ix.backing = s.backingIndexName(name, 1)
	ix.backings = []string{ix.backing}
	s.indices[name] = ix
	return ix
}

// dataStreamAPI serves /_data_stream and /_data_stream/{name}.
func (s *Server) dataStreamAPI(w http.ResponseWriter, r *http.Request, p *principal, seg []string) {
	name := ""
	if len(seg) == 2 {
		name = seg[1]
	}
	switch {
	case r.Method == "GET" || r.Method == "HEAD":
		s.getDataStreams(w, r, p, name)
	case r.Method == "PUT" && name != "":
		s.putDataStream(w, r, p, name)
	case r.Method == "DELETE" && name != "":
		s.deleteDataStream(w, r, p, name)
	default:
		allowed := "GET"
		if name != "" {
			allowed = "GET, DELETE, PUT"
		}
		s.writeSimpleError(w, r, 405, fmt.Sprintf("Incorrect HTTP method for uri [%s] and method [%s], allowed: [%s]", r.URL.RequestURI(), r.Method, allowed))
	}
}

// requireIndex answers 403 and returns false unless p holds op on every name.
func (s *Server) requireIndex(w http.ResponseWriter, r *http.Request, p *principal, op string, names ...string) bool {
	for _, n := range names {
		if !s.indexAllowed(p, op, n) {
			s.write403(w, r, s.denial(p, indexActionName[op], []string{n}, "index", indexGrant[op]))
			return false
		}
	}
	return true
}

func (s *Server) dataStreamJSON(ix *index) obj {
	indices := make([]any, 0, len(ix.backings))
	for i, b := range ix.backings {
		indices = append(indices, obj{{"index_name", b}, {"index_uuid", fmt.Sprintf("%s%02d", ix.uuid[:20], i)}})
	}
	return obj{
		{"name", ix.name}, {"timestamp_field", obj{{"name", "@timestamp"}}}, {"indices", indices},
		{"generation", ix.generation}, {"status", "GREEN"}, {"template", ix.template},
		{"hidden", false}, {"system", false}, {"allow_custom_routing", false}, {"replicated", false}, {"rollover_on_write", false},
	}
}

// getDataStreams is GET /_data_stream[/{name}]: names may be a comma list
// with wildcards; a missing concrete name is a 404 index_not_found_exception.
func (s *Server) getDataStreams(w http.ResponseWriter, r *http.Request, p *principal, names string) {
	if names == "" || names == "_all" {
		names = "*"
	}
	s.mu.Lock()
	var found []*index
	seen := map[string]bool{}
	missing := ""
	for _, n := range strings.Split(names, ",") {
		hit := false
		for _, ix := range s.indices {
			if ix.dataStream && globMatch(n, ix.name) && !seen[ix.name] {
				seen[ix.name], hit = true, true
				found = append(found, ix)
			}
		}
		if !hit && !strings.ContainsAny(n, "*?") && !seen[n] && missing == "" {
			missing = n
		}
	}
	s.mu.Unlock()
	if missing != "" {
		typ, reason, extra := indexNotFound(missing)
		s.writeError(w, r, 404, typ, reason, extra...)
		return
	}
	sort.Slice(found, func(i, j int) bool { return found[i].name < found[j].name })
	out := []any{}
	for _, ix := range found {
		if s.indexAllowed(p, "get_data_stream", ix.name) {
			s.mu.Lock()
			out = append(out, s.dataStreamJSON(ix))
			s.mu.Unlock()
		} else if !strings.ContainsAny(names, "*?") {
			s.write403(w, r, s.denial(p, indexActionName["get_data_stream"], []string{ix.name}, "index", indexGrant["get_data_stream"]))
			return
		}
	}
	s.writeJSON(w, r, 200, obj{{"data_streams", out}}, true)
}

// putDataStream is PUT /_data_stream/{name}: it needs a composable
// template with data_stream matching name.
func (s *Server) putDataStream(w http.ResponseWriter, r *http.Request, p *principal, name string) {
	if !s.requireIndex(w, r, p, "create_data_stream", name) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ix := s.indices[name]; ix != nil {
		if ix.dataStream {
			s.writeError(w, r, 400, "resource_already_exists_exception", "data_stream ["+name+"] already exists")
		} else {
			s.writeError(w, r, 400, "resource_already_exists_exception", "index ["+name+"/"+ix.uuid+"] already exists", kv{"index_uuid", ix.uuid}, kv{"index", name})
		}
		return
	}
	tmpl := s.dataStreamTemplateLocked(name)
	if tmpl == "" {
		s.writeError(w, r, 400, "illegal_argument_exception", "no matching index template found for data stream ["+name+"]")
		return
	}
	s.newDataStreamLocked(name, tmpl)
	s.writeJSON(w, r, 200, obj{{"acknowledged", true}}, true)
}

// deleteDataStream is DELETE /_data_stream/{name} (wildcards delete every
// match; a missing concrete name is a 404).
func (s *Server) deleteDataStream(w http.ResponseWriter, r *http.Request, p *principal, names string) {
	s.mu.Lock()
	var del []string
	for _, n := range strings.Split(names, ",") {
		hit := false
		for _, ix := range s.indices {
			if ix.dataStream && globMatch(n, ix.name) {
				del, hit = append(del, ix.name), true
			}
		}
		if !hit && !strings.ContainsAny(n, "*?") {
			s.mu.Unlock()
			typ, reason, extra := indexNotFound(n)
			s.writeError(w, r, 404, typ, reason, extra...)
			return
		}
	}
	s.mu.Unlock()
	if !s.requireIndex(w, r, p, "delete_data_stream", del...) {
		return
	}
	s.mu.Lock()
	for _, n := range del {
		delete(s.indices, n)
	}
	s.mu.Unlock()
	s.writeJSON(w, r, 200, obj{{"acknowledged", true}}, true)
}
