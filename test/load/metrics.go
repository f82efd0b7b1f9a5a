package load

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are a run's live Prometheus metrics (esgate load
// --metrics-listen), for watching a run while it happens. Every series
// carries the labels run_id and shard. They count the measured run only,
// as the report does: the warm-up is in none of them.
//
// Nothing here costs the generator more than a few atomic additions per
// request: every label child is resolved once (HTTP statuses on their
// first use, then read through an atomic pointer), never looked up by
// label strings per request.
type Metrics struct {
	acknowledged, failed, dropped prometheus.Counter
	requests                      *prometheus.CounterVec
	transport                     prometheus.Counter
	byStatus                      [600]atomic.Pointer[prometheus.Counter]
	duration                      prometheus.Histogram
	targetRate, start, end        prometheus.Gauge
}

// MetricNames are the names of the metrics NewMetrics registers (a
// histogram's series add _bucket, _sum and _count); the Grafana dashboard
// in deploy/ may query only these (test/load/testdata/metric-names.txt
// holds the same list for deploy's test).
var MetricNames = []string{
	"esgate_load_events_total",
	"esgate_load_requests_total",
	"esgate_load_request_duration_seconds",
	"esgate_load_target_rate_events_per_second",
	"esgate_load_run_start_timestamp_seconds",
	"esgate_load_run_end_timestamp_seconds",
}

// DurationBuckets are the latency histogram's buckets in seconds.
var DurationBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// NewMetrics registers a run's metrics on reg (a private registry: the
// run's, not the process's global one), every series labelled with run
// and shard.
func NewMetrics(reg prometheus.Registerer, run string, shard int) *Metrics {
	reg = prometheus.WrapRegistererWith(prometheus.Labels{"run_id": run, "shard": strconv.Itoa(shard)}, reg)
	events := prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricNames[0],
		Help: "Events of the measured run by result: acknowledged (a 2xx bulk item), failed (refused, or in a failed request), dropped (open loop: scheduled sends never sent, the target too far behind; counted in events)."},
		[]string{"result"})
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricNames[1],
			Help: "Bulk requests of the measured run by HTTP status (transport_error: no answer)."}, []string{"status"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: MetricNames[2],
			Help:    "Bulk request latency: from the scheduled send time in open loop (queueing shows), from the send in closed loop, to the end of the answer.",
			Buckets: DurationBuckets}),
		targetRate: prometheus.NewGauge(prometheus.GaugeOpts{Name: MetricNames[3],
			Help: "This shard's open-loop target rate in events/s (0: closed loop); their sum is the test's."}),
		start: prometheus.NewGauge(prometheus.GaugeOpts{Name: MetricNames[4],
			Help: "When the measured run started, Unix seconds (0: not yet)."}),
		end: prometheus.NewGauge(prometheus.GaugeOpts{Name: MetricNames[5],
			Help: "When the measured run ended, Unix seconds (0: still running)."}),
	}
	m.acknowledged = events.WithLabelValues("acknowledged")
	m.failed = events.WithLabelValues("failed")
	m.dropped = events.WithLabelValues("dropped")
	m.transport = m.requests.WithLabelValues("transport_error")
	reg.MustRegister(events, m.requests, m.duration, m.targetRate, m.start, m.end)
	return m
}

// status returns the requests counter of HTTP status code.
func (m *Metrics) status(code int) prometheus.Counter {
	if code <= 0 || code >= len(m.byStatus) {
		return m.transport
	}
	if c := m.byStatus[code].Load(); c != nil {
		return *c
	}
	c := m.requests.WithLabelValues(strconv.Itoa(code))
	m.byStatus[code].Store(&c)
	return c
}

// observe counts one finished request (its counters in t).
func (m *Metrics) observe(t *tally, latency time.Duration) {
	if m == nil {
		return
	}
	m.status(t.status).Inc()
	if t.events > 0 {
		m.acknowledged.Add(float64(t.events))
	}
	if t.failedEvents > 0 {
		m.failed.Add(float64(t.failedEvents))
	}
	m.duration.Observe(latency.Seconds())
}

// drop counts scheduled sends that were never sent, in events.
func (m *Metrics) drop(events int64) {
	if m != nil {
		m.dropped.Add(float64(events))
	}
}

func (m *Metrics) started(at time.Time, rate float64) {
	if m != nil {
		m.targetRate.Set(rate)
		m.start.Set(float64(at.UnixNano()) / 1e9)
	}
}

func (m *Metrics) ended(at time.Time) {
	if m != nil {
		m.end.Set(float64(at.UnixNano()) / 1e9)
	}
}
