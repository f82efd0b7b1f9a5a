package proxy_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/esgate/esgate/auth"
	"github.com/esgate/esgate/certs"
	"github.com/esgate/esgate/proxy"
	"github.com/esgate/esgate/proxy/metrics"
	"github.com/esgate/esgate/test/esserver"
)

// TestMetricsFromRealTraffic drives bulk traffic with injected per-item 429
// and 403 through esgate into the test server and reads a fresh registry.
func TestMetricsFromRealTraffic(t *testing.T) {
	es, ca := esserver.StartT(t, esserver.Options{})
	_, _, key := es.CreateAPIKey("elastic", "m", 0, nil)
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	var logs bytes.Buffer
	front, _ := sandwich(t, certs.Options{CAFiles: []string{ca}}, auth.APIKey(key), func(o *proxy.Options) {
		o.Metrics = m.Route("prod")
		o.AccessLog = slog.New(slog.NewJSONHandler(&logs, nil))
		// No background readiness probes: on a starved machine each bulk
		// takes longer than a short ResurrectDelay, so a probe would run
		// beside a bulk and need a second connection of its own.
		o.ResurrectDelay = time.Hour
	}, es.URL)
	bulk := strings.Repeat("{\"create\":{\"_index\":\"logstash-m\"}}\n{\"m\":1}\n", 10)
	post := func() {
		res, _ := do(t, "POST", front+"/_bulk?filter_path=errors,items.*.error,items.*.status", bulk,
			"Content-Type", "application/json", "X-Elastic-Event-Count", "10")
		if res.StatusCode != 200 {
			t.Fatalf("status %d", res.StatusCode)
		}
	}
	post() // 10 created
	es.AddFault(esserver.Fault{PathContains: "_bulk", ItemStatus: 429, ItemEvery: 2, Count: 1})
	post() // 5 rejected, 5 created
	es.AddFault(esserver.Fault{PathContains: "_bulk", ItemStatus: 403, ItemEvery: 5, Count: 1})
	post() // 2 forbidden, 8 created
	es.AddFault(esserver.Fault{PathContains: "_bulk", Status: 429, Count: 1})
	res, _ := do(t, "POST", front+"/_bulk", bulk, "Content-Type", "application/json", "X-Elastic-Event-Count", "10")
	if res.StatusCode != 429 {
		t.Fatalf("status %d", res.StatusCode)
	}

	want := `
# HELP esgate_bulk_items_total Bulk item outcomes read from responses, by status and error type (empty on success).
# TYPE esgate_bulk_items_total counter
esgate_bulk_items_total{error_type="",route="prod",status="201"} 23
esgate_bulk_items_total{error_type="es_rejected_execution_exception",route="prod",status="429"} 5
esgate_bulk_items_total{error_type="security_exception",route="prod",status="403"} 2
# HELP esgate_bulk_events_total Events sent in bulk requests, from Logstash's X-Elastic-Event-Count header.
# TYPE esgate_bulk_events_total counter
esgate_bulk_events_total{route="prod"} 40
# HELP esgate_requests_total Requests answered, by route, method, endpoint class and status code.
# TYPE esgate_requests_total counter
esgate_requests_total{code="200",endpoint="bulk",method="POST",route="prod"} 3
esgate_requests_total{code="429",endpoint="bulk",method="POST",route="prod"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "esgate_bulk_items_total", "esgate_bulk_events_total", "esgate_requests_total"); err != nil {
		t.Error(err)
	}
	// Four sequential bulks on one pooled connection: one new, three reused.
	if n, r := sumOf(reg, "esgate_upstream_connections_total", "state", "new"), sumOf(reg, "esgate_upstream_connections_total", "state", "reused"); n != 1 || r != 3 {
		t.Errorf("upstream connections: %v new, %v reused; expected 1 new and 3 reused", n, r)
	}
	// The access log: one JSON line per request, no credential, no query.
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d access log lines", len(lines))
	}
	for _, l := range lines {
		if strings.Contains(l, key) || strings.Contains(l, "filter_path") {
			t.Errorf("access log leaks: %s", l)
		}
	}
	if !strings.Contains(lines[1], `"status":200`) || !strings.Contains(lines[1], `"events":10`) || !strings.Contains(lines[1], `"item_errors":5`) || !strings.Contains(lines[1], `"items":10`) {
		t.Errorf("access log line: %s", lines[1])
	}
	// head_ms: arrival to the answer's head, within the whole duration.
	for _, l := range lines {
		var v struct {
			Head     float64 `json:"head_ms"`
			Duration float64 `json:"duration_ms"`
		}
		if err := json.Unmarshal([]byte(l), &v); err != nil || v.Head <= 0 || v.Head > v.Duration {
			t.Errorf("head_ms %v, duration_ms %v (%v): %s", v.Head, v.Duration, err, l)
		}
	}
}

// TestAuthFailureMetrics labels 401s by the reason ES gave.
func TestAuthFailureMetrics(t *testing.T) {
	es, ca := esserver.StartT(t, esserver.Options{})
	id, _, key := es.CreateAPIKey("elastic", "m", 0, nil)
	es.InvalidateAPIKey(id)
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	front, _ := sandwich(t, certs.Options{CAFiles: []string{ca}}, auth.APIKey(key), func(o *proxy.Options) { o.Metrics = m.Route("r") }, es.URL)
	if res, _ := do(t, "GET", front+"/", ""); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d", res.StatusCode)
	}
	want := `
# HELP esgate_upstream_auth_failures_total 401 and 403 answers from Elasticsearch, by status and reason.
# TYPE esgate_upstream_auth_failures_total counter
esgate_upstream_auth_failures_total{code="401",reason="api_key_invalidated",route="r"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "esgate_upstream_auth_failures_total"); err != nil {
		t.Error(err)
	}
}

// series counts the series of a metric family in reg.
// sumOf sums a counter's series in reg, those with label=value when a
// label is given.
func sumOf(reg *prometheus.Registry, name, label, value string) float64 {
	mfs, _ := reg.Gather()
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.Metric {
			match := label == ""
			for _, l := range m.Label {
				if l.GetName() == label && l.GetValue() == value {
					match = true
				}
			}
			if match {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}
