package esserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

type bulkItem struct {
	op     string
	index  string
	id     string
	source json.RawMessage
	// requireAlias and requireDataStream are the action's flags.
	requireAlias, requireDataStream bool
}

// metaText is parser.text() of a metadata value.
func metaText(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case json.Number:
		return t.String()
	case bool:
		return fmt.Sprint(t)
	}
	return ""
}

func metaBool(v any) bool {
	b, _ := v.(bool)
	return b || v == "true"
}

// bulk implements POST /_bulk and /{index}/_bulk (facts A4).
func (s *Server) bulk(w http.ResponseWriter, r *http.Request, p *principal, pathIndex string, typedURL bool) {
	s.stats.bulkRequests.Add(1)
	compat, ok := s.checkHeaders(w, r, true, true)
	if !ok {
		return
	}
	body, err := readBody(r)
	if err != nil {
		s.writeError(w, r, 400, "illegal_argument_exception", "failed to read request body: "+err.Error())
		return
	}
	if len(body) == 0 {
		s.writeError(w, r, 400, "action_request_validation_exception", "Validation Failed: 1: no requests added;")
		return
	}
	if body[len(body)-1] != '\n' {
		s.writeError(w, r, 400, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]")
		return
	}
	lines := bytes.Split(body[:len(body)-1], []byte("\n"))
	var items []bulkItem
	typesWarned := false
	typesRemoval := func() {
		if !typesWarned {
			typesWarned = true
			s.deprecation(w, "[types removal] Specifying types in bulk requests is deprecated.")
		}
	}
	if typedURL {
		typesRemoval()
	}
	warned := map[string]bool{}
	warn := func(text string) {
		if !warned[text] {
			warned[text] = true
			s.deprecation(w, text)
		}
	}
	for i := 0; i < len(lines); i++ {
		lineNo := i + 1
		a, err := s.parseBulkAction(lines[i], lineNo, compat)
		if err != nil {
			var le *bulkLineError
			errors.As(err, &le)
			s.writeError(w, r, 400, le.typ, le.reason)
			return
		}
		if a == nil {
			continue
		}
		for _, t := range a.warnings {
			warn(t)
		}
		if a.typeSeen {
			typesRemoval() // accepted and ignored, once per request
		}
		it := bulkItem{op: a.op}
		if ot, _ := a.meta["op_type"].(string); it.op == "index" && ot == "create" {
			it.op = "create" // IndexRequest.create(true): answered as a create
		}
		it.index = metaText(a.meta["_index"])
		if it.index == "" {
			it.index = pathIndex
		}
		it.id = metaText(a.meta["_id"])
		it.requireAlias = metaBool(a.meta["require_alias"])
		it.requireDataStream = metaBool(a.meta["require_data_stream"])
		if it.op != "delete" {
			i++
			if i >= len(lines) {
				s.writeError(w, r, 400, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]")
				return
			}
			it.source = append(json.RawMessage{}, bytes.TrimSpace(lines[i])...)
		}
		if !a.supported {
			continue // 8.x: warned, then dropped with its source line
		}
		if it.index == "" {
			s.writeError(w, r, 400, "action_request_validation_exception", fmt.Sprintf("Validation Failed: 1: index is missing for request [%d];", len(items)))
			return
		}
		items = append(items, it)
	}
	if len(items) == 0 {
		s.writeError(w, r, 400, "action_request_validation_exception", "Validation Failed: 1: no requests added;")
		return
	}
	itemFault := s.takeFault(r, true)
	results := make([]any, 0, len(items))
	errorsSeen := false
	for n, it := range items {
		res, isErr := s.execItem(p, it, compat, itemFault, n)
		if isErr {
			errorsSeen = true
		}
		results = append(results, obj{{it.op, res}})
	}
	s.writeJSON(w, r, 200, obj{{"took", 3}, {"errors", errorsSeen}, {"items", results}}, true)
}

func shards() obj { return obj{{"total", 2}, {"successful", 1}, {"failed", 0}} }

// execItem applies one bulk item and returns its result object.
func (s *Server) execItem(p *principal, it bulkItem, compat string, fault *Fault, n int) (obj, bool) {
	fail := func(status int, typ, reason string, extra ...kv) (obj, bool) {
		res := obj{{"_index", it.index}}
		if it.id != "" {
			res = append(res, kv{"_id", it.id})
		}
		if compat == "7" {
			res = append(res, kv{"_type", "_doc"})
		}
		return append(res, kv{"status", status}, kv{"error", causeObj(typ, reason, extra...)}), true
	}
	if fault != nil && fault.ItemEvery > 0 && n%fault.ItemEvery == 0 {
		switch fault.ItemStatus {
		case 429:
			return fail(429, "es_rejected_execution_exception", "rejected execution of org.elasticsearch.action.support.replication.TransportWriteAction$1/WrappedActionListener{…} on EsThreadPoolExecutor[name = es01/write, queue capacity = 10000, org.elasticsearch.common.util.concurrent.EsThreadPoolExecutor@1a2b3c4d[Running, pool size = 2, active threads = 2, queued tasks = 10000, completed tasks = 123456]]")
		case 403:
			return fail(403, "security_exception", s.denial(p, "indices:data/write/bulk[s]", []string{it.index}, "index", indexGrant[it.op]))
		default:
			return fail(fault.ItemStatus, "exception", "injected item fault")
		}
	}
	s.mu.Lock()
	target, aliasErr := s.writeTargetLocked(it.index, it.requireAlias)
	ix := s.indices[target]
	s.mu.Unlock()
	if aliasErr != nil {
		return fail(aliasErr.status, aliasErr.typ, aliasErr.reason, aliasErr.extra...)
	}
	it.index = target // writes through an alias go to its write index
	if ix == nil && it.op != "delete" {
		if !s.indexAllowed(p, "auto_create", it.index) {
			return fail(403, "security_exception", s.denial(p, "indices:admin/auto_create", []string{it.index}, "index", indexGrant["auto_create"]))
		}
	}
	if !s.indexAllowed(p, it.op, it.index) {
		return fail(403, "security_exception", s.denial(p, "indices:data/write/bulk[s]", []string{it.index}, "index", indexGrant[it.op]))
	}
	if it.op != "delete" {
		var src map[string]any
		if err := json.Unmarshal(it.source, &src); err != nil || src == nil {
			return fail(400, "document_parsing_exception", "[1:1] failed to parse: source is not a JSON object")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ix = s.indices[it.index]
	if ix == nil {
		if it.op == "delete" {
			typ, reason, extra := indexNotFound(it.index)
			return fail(404, typ, reason, extra...)
		}
		if tmpl := s.dataStreamTemplateLocked(it.index); tmpl != "" {
			ix = s.newDataStreamLocked(it.index, tmpl)
		} else {
			ix = &index{name: it.index, uuid: randomID(22), docs: map[string]*doc{}}
			s.indices[it.index] = ix
		}
	}
	name := ix.name
	if ix.dataStream {
		name = ix.backing
		if it.op != "create" {
			return failLocked(it, name, compat, 400, "illegal_argument_exception",
				"only write ops with an op_type of create are allowed in data streams")
		}
	}
	if it.id == "" {
		it.id = randomID(20)
	}
	d := ix.docs[it.id]
	status, result := 201, "created"
	switch it.op {
	case "create":
		if d != nil {
			return failLocked(it, name, compat, 409, "version_conflict_engine_exception",
				fmt.Sprintf("[%s]: version conflict, document already exists (current version [%d])", it.id, d.version),
				kv{"index_uuid", ix.uuid}, kv{"shard", "0"}, kv{"index", name})
		}
	case "index":
		if d != nil {
			status, result = 200, "updated"
		}
	case "update":
		if d == nil {
			return failLocked(it, name, compat, 404, "document_missing_exception", "["+it.id+"]: document missing",
				kv{"index_uuid", ix.uuid}, kv{"shard", "0"}, kv{"index", name})
		}
		var upd struct {
			Doc map[string]any `json:"doc"`
		}
		json.Unmarshal(it.source, &upd)
		var cur map[string]any
		json.Unmarshal(d.source, &cur)
		for k, v := range upd.Doc {
			cur[k] = v
		}
		it.source, _ = json.Marshal(cur)
		status, result = 200, "updated"
	case "delete":
		if d == nil {
			ix.seqNo++
			return itemResult(name, it.id, compat, 1, "not_found", ix.seqNo-1, 404), false
		}
		delete(ix.docs, it.id)
		ix.seqNo++
		return itemResult(name, it.id, compat, d.version+1, "deleted", ix.seqNo-1, 200), false
	}
	version := 1
	if d != nil {
		version = d.version + 1
	} else {
		ix.order = append(ix.order, it.id)
		s.stats.docs.Add(1)
	}
	ix.docs[it.id] = &doc{source: it.source, version: version, seqNo: ix.seqNo}
	ix.seqNo++
	return itemResult(name, it.id, compat, version, result, ix.seqNo-1, status), false
}

func itemResult(index, id, compat string, version int, result string, seqNo, status int) obj {
	res := obj{{"_index", index}}
	if compat == "7" {
		res = append(res, kv{"_type", "_doc"})
	}
	return append(res, kv{"_id", id}, kv{"_version", version}, kv{"result", result}, kv{"_shards", shards()},
		kv{"_seq_no", seqNo}, kv{"_primary_term", 1}, kv{"status", status})
}

func failLocked(it bulkItem, index, compat string, status int, typ, reason string, extra ...kv) (obj, bool) {
	res := obj{{"_index", index}}
	if compat == "7" {
		res = append(res, kv{"_type", "_doc"})
	}
	if it.id != "" {
		res = append(res, kv{"_id", it.id})
	}
	return append(res, kv{"status", status}, kv{"error", causeObj(typ, reason, extra...)}), true
}
