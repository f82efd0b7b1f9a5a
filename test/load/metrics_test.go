package load

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestMetricsCountTheRun: a run with Metrics counts exactly what its
// report counts: acknowledged and failed events, requests per status, one
// latency observation per request; every series is labelled with the run
// id and the shard; the start and end are set.
func TestMetricsCountTheRun(t *testing.T) {
	batch := Batch{Raw: []byte("{\"create\":{}}\n{}\n{\"create\":{}}\n{}\n"), Events: 2}
	batch.Wire = batch.Raw
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		switch n.Add(1) % 5 {
		case 0: // every fifth request is rejected whole
			w.WriteHeader(429)
			io.WriteString(w, `{"error":{"type":"es_rejected_execution_exception"},"status":429}`)
		case 1: // one item of another refused
			io.WriteString(w, `{"took":1,"errors":true,"items":[{"create":{"status":201}},{"create":{"status":403,"error":{"type":"security_exception"}}}]}`)
		default:
			io.WriteString(w, `{"took":1,"errors":false,"items":[{"create":{"status":201}},{"create":{"status":201}}]}`)
		}
	}))
	defer srv.Close()
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg, "r7", 3)
	res, err := Run(context.Background(), Options{Target: srv.URL, Client: srv.Client(), Clients: 2,
		Events: 200, Batches: []Batch{batch}, Shard: Shard{3, 4}, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	var names []string
	for _, f := range fams {
		names = append(names, f.GetName())
		for _, s := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range s.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["run_id"] != "r7" || labels["shard"] != "3" {
				t.Errorf("%s %v: not labelled run_id=r7 shard=3", f.GetName(), labels)
			}
			key := f.GetName() + "{" + labels["result"] + labels["status"] + "}"
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				got[key] = s.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				got[key] = s.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				got[key] = float64(s.GetHistogram().GetSampleCount())
			}
		}
	}
	slices.Sort(names)
	want := slices.Clone(MetricNames)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("registered %v, MetricNames %v", names, want)
	}
	if got["esgate_load_events_total{acknowledged}"] != float64(res.Events) || got["esgate_load_events_total{failed}"] != float64(res.FailedEvents) ||
		got["esgate_load_events_total{dropped}"] != 0 || res.Events == 0 || res.FailedEvents == 0 {
		t.Errorf("events %v; the report: %d acknowledged, %d failed", got, res.Events, res.FailedEvents)
	}
	if got["esgate_load_requests_total{200}"] != float64(res.Statuses["200"]) || got["esgate_load_requests_total{429}"] != float64(res.Statuses["429"]) ||
		res.Statuses["429"] == 0 || got["esgate_load_request_duration_seconds{}"] != float64(res.Requests) {
		t.Errorf("requests %v; the report: %v, %d requests", got, res.Statuses, res.Requests)
	}
	if got["esgate_load_run_start_timestamp_seconds{}"] <= 0 || got["esgate_load_run_end_timestamp_seconds{}"] < got["esgate_load_run_start_timestamp_seconds{}"] {
		t.Errorf("start %v end %v", got["esgate_load_run_start_timestamp_seconds{}"], got["esgate_load_run_end_timestamp_seconds{}"])
	}
}

// TestMetricNamesFile: testdata/metric-names.txt, which deploy's test
// reads to check the Grafana dashboard's queries, lists MetricNames.
func TestMetricNamesFile(t *testing.T) {
	b, err := os.ReadFile("testdata/metric-names.txt")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(string(b)); !slices.Equal(got, MetricNames) {
		t.Errorf("testdata/metric-names.txt lists %v; MetricNames are %v", got, MetricNames)
	}
}

// BenchmarkMetricsObserve: what --metrics-listen adds per request on the
// generator's hot path (docs/load-testing.md quotes it).
func BenchmarkMetricsObserve(b *testing.B) {
	m := NewMetrics(prometheus.NewRegistry(), "bench", 0)
	one := &tally{status: 200, events: 125}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.observe(one, 3*time.Millisecond)
		}
	})
}

// BenchmarkRun: closed-loop events/s against an in-process server that
// acknowledges everything, without and with Metrics.
func BenchmarkRun(b *testing.B) {
	items := strings.TrimSuffix(strings.Repeat(`{"create":{"status":201}},`, 125), ",")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, `{"took":1,"errors":false,"items":[`+items+`]}`)
	}))
	defer srv.Close()
	batches, err := Batches(WorkloadOptions{BatchSize: 125, EventSize: 300, Action: "create", Index: "x", Gzip: 1, Seed: 1}, 64)
	if err != nil {
		b.Fatal(err)
	}
	for _, with := range []bool{false, true} {
		b.Run(map[bool]string{false: "without", true: "with-metrics"}[with], func(b *testing.B) {
			var m *Metrics
			if with {
				m = NewMetrics(prometheus.NewRegistry(), "bench", 0)
			}
			res, err := Run(context.Background(), Options{Target: srv.URL, Client: srv.Client(), Clients: 8,
				Events: int64(b.N) * 125, Batches: batches, Gzip: true, Metrics: m})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(res.EventsPerSec, "events/s")
		})
	}
}
