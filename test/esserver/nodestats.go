package esserver

import (
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"time"
)

// nodeID is the single node's id (as _nodes/http answers it).
const nodeID = "n0d3Id0000000000000000"

// nodeStatsMetrics are NodesStatsRequestParameters.Metric's names, in the
// order RestNodesStatsAction writes them.
var nodeStatsMetrics = []string{"indices", "os", "process", "jvm", "thread_pool", "fs", "transport", "http",
	"breaker", "script", "discovery", "ingest", "adaptive_selection", "script_cache", "indexing_pressure",
	"repositories", "allocations"}

// isNodeStats matches /_nodes/stats[/{metric}[/{index_metric}]] and
// /_nodes/{node_id}/stats[/{metric}[/{index_metric}]].
func isNodeStats(seg []string) bool {
	n := len(seg)
	return n >= 2 && n <= 4 && seg[1] == "stats" || n >= 3 && n <= 5 && seg[2] == "stats"
}

// nodeStats answers GET /_nodes[/{node_id}]/stats[/{metric}[/{index_metric}]]
// with the sections and field names of NodeStats.toXContent; the numbers
// that describe traffic (documents indexed, bulk requests, connections)
// are the server's own counters.
func (s *Server) nodeStats(w http.ResponseWriter, r *http.Request, seg []string) {
	nodes, metrics := "_all", ""
	rest := seg[2:]
	if seg[1] != "stats" {
		nodes, rest = seg[1], seg[3:]
	}
	if len(rest) > 0 {
		metrics = rest[0]
	}
	if m := r.URL.Query().Get("metric"); m != "" && metrics == "" {
		metrics = m
	}
	want := map[string]bool{}
	if metrics == "" || metrics == "_all" {
		for _, m := range nodeStatsMetrics {
			want[m] = true
		}
	} else {
		var bad []string
		for _, m := range strings.Split(metrics, ",") {
			if !slices.Contains(nodeStatsMetrics, m) {
				bad = append(bad, m)
			}
			want[m] = true
		}
		if len(bad) > 0 {
			what := "metric"
			if len(bad) > 1 {
				what = "metrics"
			}
			s.writeError(w, r, 400, "illegal_argument_exception", fmt.Sprintf("request [%s] contains unrecognized %s: [%s]", r.URL.Path, what, strings.Join(bad, ", ")))
			return
		}
	}
	match := false
	for _, n := range strings.Split(nodes, ",") {
		match = match || n == "_all" || n == "_local" || n == "_master" || n == "*" || n == nodeID || globMatch(n, s.opts.NodeName) || n == "data:true" || n == "ingest:true"
	}
	out := obj{}
	if match {
		out = obj{{nodeID, s.nodeStatsJSON(want)}}
	}
	total := 0
	if match {
		total = 1
	}
	s.writeJSON(w, r, 200, obj{{"_nodes", obj{{"total", total}, {"successful", total}, {"failed", 0}}},
		{"cluster_name", s.opts.ClusterName}, {"nodes", out}}, true)
}

func (s *Server) nodeStatsJSON(want map[string]bool) obj {
	now := s.now()
	ms := now.UnixMilli()
	st := s.Stats()
	s.mu.Lock()
	docs, shards := 0, 0
	for _, ix := range s.indices {
		docs += len(ix.docs)
		shards++
	}
	s.mu.Unlock()
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	heapMax := int64(1 << 30)
	node := obj{
		{"timestamp", ms}, {"name", s.opts.NodeName}, {"transport_address", "127.0.0.1:9300"}, {"host", "127.0.0.1"},
		{"ip", "127.0.0.1:9300"}, {"roles", []string{"data", "ingest", "master"}}, {"attributes", obj{}},
	}
	sizeBytes := int64(docs) * 512 // chosen: half a KiB a document
	sections := map[string]any{
		"indices": obj{
			{"docs", obj{{"count", docs}, {"deleted", 0}}},
			{"shard_stats", obj{{"total_count", shards}}},
			{"store", obj{{"size_in_bytes", sizeBytes}, {"total_data_set_size_in_bytes", sizeBytes}, {"reserved_in_bytes", 0}}},
			{"indexing", obj{{"index_total", st.Docs}, {"index_time_in_millis", st.Docs / 10}, {"index_current", 0}, {"index_failed", 0},
				{"delete_total", 0}, {"delete_time_in_millis", 0}, {"delete_current", 0}, {"noop_update_total", 0},
				{"is_throttled", false}, {"throttle_time_in_millis", 0}, {"write_load", 0.0}}},
			{"get", obj{{"total", 0}, {"time_in_millis", 0}, {"exists_total", 0}, {"exists_time_in_millis", 0}, {"missing_total", 0}, {"missing_time_in_millis", 0}, {"current", 0}}},
			{"search", obj{{"open_contexts", 0}, {"query_total", 0}, {"query_time_in_millis", 0}, {"query_current", 0},
				{"fetch_total", 0}, {"fetch_time_in_millis", 0}, {"fetch_current", 0}, {"scroll_total", 0}, {"scroll_time_in_millis", 0},
				{"scroll_current", 0}, {"suggest_total", 0}, {"suggest_time_in_millis", 0}, {"suggest_current", 0}}},
			{"merges", obj{{"current", 0}, {"current_docs", 0}, {"current_size_in_bytes", 0}, {"total", 0}, {"total_time_in_millis", 0},
				{"total_docs", 0}, {"total_size_in_bytes", 0}, {"total_stopped_time_in_millis", 0}, {"total_throttled_time_in_millis", 0}, {"total_auto_throttle_in_bytes", 20971520}}},
			{"refresh", obj{{"total", st.BulkRequests}, {"total_time_in_millis", 0}, {"external_total", st.BulkRequests}, {"external_total_time_in_millis", 0}, {"listeners", 0}}},
			{"flush", obj{{"total", 0}, {"periodic", 0}, {"total_time_in_millis", 0}, {"total_time_excluding_waiting_on_lock_in_millis", 0}}},
			{"warmer", obj{{"current", 0}, {"total", 0}, {"total_time_in_millis", 0}}},
			{"query_cache", obj{{"memory_size_in_bytes", 0}, {"total_count", 0}, {"hit_count", 0}, {"miss_count", 0}, {"cache_size", 0}, {"cache_count", 0}, {"evictions", 0}}},
			{"fielddata", obj{{"memory_size_in_bytes", 0}, {"evictions", 0}, {"global_ordinals", obj{{"build_time_in_millis", 0}}}}},
			{"completion", obj{{"size_in_bytes", 0}}},
			{"segments", obj{{"count", shards}, {"memory_in_bytes", 0}, {"terms_memory_in_bytes", 0}, {"stored_fields_memory_in_bytes", 0},
				{"term_vectors_memory_in_bytes", 0}, {"norms_memory_in_bytes", 0}, {"points_memory_in_bytes", 0}, {"doc_values_memory_in_bytes", 0},
				{"index_writer_memory_in_bytes", 0}, {"version_map_memory_in_bytes", 0}, {"fixed_bit_set_memory_in_bytes", 0},
				{"max_unsafe_auto_id_timestamp", -1}, {"file_sizes", obj{}}}},
			{"translog", obj{{"operations", st.Docs}, {"size_in_bytes", sizeBytes}, {"uncommitted_operations", st.Docs}, {"uncommitted_size_in_bytes", sizeBytes}, {"earliest_last_modified_age", 0}}},
			{"request_cache", obj{{"memory_size_in_bytes", 0}, {"evictions", 0}, {"hit_count", 0}, {"miss_count", 0}}},
			{"recovery", obj{{"current_as_source", 0}, {"current_as_target", 0}, {"throttle_time_in_millis", 0}}},
			{"bulk", obj{{"total_operations", st.Docs}, {"total_time_in_millis", st.BulkRequests}, {"total_size_in_bytes", sizeBytes}, {"avg_time_in_millis", 0}, {"avg_size_in_bytes", 0}}},
			{"dense_vector", obj{{"value_count", 0}}},
		},
		"os": obj{{"timestamp", ms},
			{"cpu", obj{{"percent", 3}, {"load_average", obj{{"1m", 0.5}, {"5m", 0.4}, {"15m", 0.3}}}}},
			{"mem", obj{{"total_in_bytes", int64(8) << 30}, {"adjusted_total_in_bytes", int64(8) << 30}, {"free_in_bytes", int64(4) << 30}, {"used_in_bytes", int64(4) << 30}, {"free_percent", 50}, {"used_percent", 50}}},
			{"swap", obj{{"total_in_bytes", 0}, {"free_in_bytes", 0}, {"used_in_bytes", 0}}}},
		"process": obj{{"timestamp", ms}, {"open_file_descriptors", st.Connections + 10}, {"max_file_descriptors", 65535},
			{"cpu", obj{{"percent", 1}, {"total_in_millis", st.Requests}}}, {"mem", obj{{"total_virtual_in_bytes", int64(mem.Sys)}}}},
		"jvm": obj{{"timestamp", ms}, {"uptime_in_millis", time.Since(startedAt).Milliseconds()},
			{"mem", obj{{"heap_used_in_bytes", int64(mem.HeapAlloc)}, {"heap_used_percent", int64(mem.HeapAlloc) * 100 / heapMax}, {"heap_committed_in_bytes", heapMax},
				{"heap_max_in_bytes", heapMax}, {"non_heap_used_in_bytes", int64(mem.StackSys)}, {"non_heap_committed_in_bytes", int64(mem.StackSys)},
				{"pools", obj{
					{"young", obj{{"used_in_bytes", int64(mem.HeapAlloc) / 2}, {"max_in_bytes", 0}, {"peak_used_in_bytes", int64(mem.HeapAlloc)}, {"peak_max_in_bytes", 0}}},
					{"old", obj{{"used_in_bytes", int64(mem.HeapAlloc) / 2}, {"max_in_bytes", heapMax}, {"peak_used_in_bytes", int64(mem.HeapAlloc)}, {"peak_max_in_bytes", heapMax}}},
					{"survivor", obj{{"used_in_bytes", 0}, {"max_in_bytes", 0}, {"peak_used_in_bytes", 0}, {"peak_max_in_bytes", 0}}}}}}},
			{"threads", obj{{"count", runtime.NumGoroutine()}, {"peak_count", runtime.NumGoroutine()}}},
			{"gc", obj{{"collectors", obj{
				{"young", obj{{"collection_count", mem.NumGC}, {"collection_time_in_millis", mem.PauseTotalNs / 1e6}}},
				{"G1 Concurrent GC", obj{{"collection_count", 0}, {"collection_time_in_millis", 0}}},
				{"old", obj{{"collection_count", 0}, {"collection_time_in_millis", 0}}}}}}},
			{"buffer_pools", obj{
				{"mapped", obj{{"count", 0}, {"used_in_bytes", 0}, {"total_capacity_in_bytes", 0}}},
				{"direct", obj{{"count", 0}, {"used_in_bytes", 0}, {"total_capacity_in_bytes", 0}}}}},
			{"classes", obj{{"current_loaded_count", 30000}, {"total_loaded_count", 30000}, {"total_unloaded_count", 0}}}},
		"thread_pool": obj{
			{"get", poolStats(0)}, {"management", poolStats(st.Requests - st.BulkRequests)}, {"search", poolStats(0)}, {"write", poolStats(st.BulkRequests)},
		},
		"fs": obj{{"timestamp", ms},
			{"total", obj{{"total_in_bytes", int64(100) << 30}, {"free_in_bytes", int64(50) << 30}, {"available_in_bytes", int64(50)<<30 - sizeBytes}}},
			{"data", []any{obj{{"path", "/usr/share/elasticsearch/data"}, {"mount", "/ (overlay)"}, {"type", "overlay"},
				{"total_in_bytes", int64(100) << 30}, {"free_in_bytes", int64(50) << 30}, {"available_in_bytes", int64(50)<<30 - sizeBytes}}}},
			{"io_stats", obj{}}},
		"transport": obj{{"server_open", 0}, {"total_outbound_connections", 0}, {"rx_count", 0}, {"rx_size_in_bytes", 0}, {"tx_count", 0}, {"tx_size_in_bytes", 0}, {"inbound_handling_time_histogram", []any{}}, {"outbound_handling_time_histogram", []any{}}},
		"http":      obj{{"current_open", 1}, {"total_opened", st.Connections}, {"clients", []any{}}, {"routes", obj{}}},
		"breaker": obj{
			{"fielddata", breaker(heapMax*40/100, 1.03)}, {"request", breaker(heapMax*60/100, 1.0)},
			{"inflight_requests", breaker(heapMax, 2.0)}, {"parent", breaker(heapMax*95/100, 1.0)},
		},
		"script":             obj{{"compilations", 0}, {"cache_evictions", 0}, {"compilation_limit_triggered", 0}},
		"discovery":          obj{{"cluster_state_queue", obj{{"total", 0}, {"pending", 0}, {"committed", 0}}}},
		"ingest":             obj{{"total", obj{{"count", 0}, {"time_in_millis", 0}, {"current", 0}, {"failed", 0}}}, {"pipelines", obj{}}},
		"adaptive_selection": obj{},
		"script_cache":       obj{{"sum", obj{{"cache_evictions", 0}, {"compilations", 0}, {"compilation_limit_triggered", 0}}}},
		"indexing_pressure":  obj{{"memory", obj{{"current", obj{}}, {"total", obj{}}, {"limit_in_bytes", heapMax / 10}}}},
		"repositories":       obj{},
		"allocations":        obj{},
	}
	for _, m := range nodeStatsMetrics {
		if !want[m] {
			continue
		}
		key := m
		if m == "breaker" {
			key = "breakers"
		}
		node = append(node, kv{key, sections[m]})
	}
	return node
}

var startedAt = time.Now()

func poolStats(completed int64) obj {
	return obj{{"threads", 2}, {"queue", 0}, {"active", 0}, {"rejected", 0}, {"largest", 2}, {"completed", completed}}
}

func breaker(limit int64, overhead float64) obj {
	return obj{{"limit_size_in_bytes", limit}, {"limit_size", byteSize(limit)}, {"estimated_size_in_bytes", 0},
		{"estimated_size", "0b"}, {"overhead", overhead}, {"tripped", 0}}
}

// byteSize is ByteSizeValue.toString: the largest unit, one decimal.
func byteSize(n int64) string {
	units := []string{"b", "kb", "mb", "gb", "tb"}
	f := float64(n)
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if f == float64(int64(f)) {
		return fmt.Sprintf("%d%s", int64(f), units[i])
	}
	return fmt.Sprintf("%.1f%s", f, units[i])
}
