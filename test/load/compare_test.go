package load

import (
	"bytes"
	"encoding/xml"
	"math"
	"strings"
	"testing"
	"time"
)

// runRecords makes a run's records: every shard's intervals of one second
// for secs seconds from start, each with n requests of 10 events, of which
// every slowEvery-th takes slow and the rest fast, and errs of them failed
// whole.
func runRecords(run string, shards, secs, n, slowEvery int, fast, slow time.Duration, errs int) []Record {
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	var out []Record
	for sh := range shards {
		o := Options{Shard: Shard{sh, shards}, Run: run, Instance: run + string(rune('a'+sh)), Params: Params{Index: "x"}}
		rec := &recorder{o: o, planned: t0, start: t0}
		for s := range secs {
			t := newTally()
			for i := range n {
				one := &tally{requests: 1, events: 10, statuses: map[string]int64{}, items: map[string]int64{}}
				if i < errs {
					one.events, one.failedEvents, one.errors = 0, 10, 1
				}
				lat := fast
				if slowEvery > 0 && i%slowEvery == 0 {
					lat = slow
				}
				t.observe(one, lat, lat)
			}
			from := t0.Add(time.Duration(s) * time.Second)
			out = append(out, rec.record(t, from, from.Add(time.Second), s, s == secs-1))
		}
	}
	return out
}

// TestCompare: a single-process run against a sharded one, each figure
// exactly what the records hold: A sends 100 requests/s of 10 events for 4
// s, 1 in 100 taking 50 ms and the rest 2 ms, 2 requests a second failing;
// B is two shards of 100 requests/s each, 1 in 10 taking 8 ms, the rest 4
// ms, none failing.
func TestCompare(t *testing.T) {
	a, err := MergeRun(runRecords("base", 1, 4, 100, 100, 2*time.Millisecond, 50*time.Millisecond, 2))
	if err != nil {
		t.Fatal(err)
	}
	b, err := MergeRun(runRecords("contender", 2, 4, 100, 10, 4*time.Millisecond, 8*time.Millisecond, 0))
	if err != nil {
		t.Fatal(err)
	}
	c := Compare(a, b)
	if c.A.Run != "base" || c.B.Run != "contender" || c.A.Shards != 1 || c.B.Shards != 2 || c.A.Requests != 400 || c.B.Events != 8000 {
		t.Errorf("heads %+v %+v", c.A, c.B)
	}
	// A latency as the histograms hold it (three significant digits).
	hv := func(ms float64) float64 {
		var h Histogram
		h.Record(time.Duration(ms * float64(time.Millisecond)))
		return float64(h.Max().Microseconds()) / 1000
	}
	want := map[string][3]float64{ // a, b, ratio
		"throughput":    {980, 2000, 2000.0 / 980},
		"requests":      {100, 200, 2},
		"error rate":    {2, 0, 0},
		"latency p50":   {hv(2), hv(4), hv(4) / hv(2)},
		"latency p90":   {hv(2), hv(4), hv(4) / hv(2)},
		"latency p99":   {hv(2), hv(8), hv(8) / hv(2)},
		"latency p99.9": {hv(50), hv(8), hv(8) / hv(50)},
		"latency max":   {hv(50), hv(8), hv(8) / hv(50)},
	}
	if len(c.Rows) != len(want) {
		t.Fatalf("%d rows", len(c.Rows))
	}
	for _, r := range c.Rows {
		w := want[r.Metric]
		near := func(x, y float64) bool { return math.Abs(x-y) < 1e-9 }
		if !near(r.A, w[0]) || !near(r.B, w[1]) || !near(r.Diff, w[1]-w[0]) {
			t.Errorf("%s: a %v b %v diff %v, want %v", r.Metric, r.A, r.B, r.Diff, w)
		}
		if r.Ratio == nil || !near(*r.Ratio, w[2]) {
			t.Errorf("%s: ratio %v, want %v", r.Metric, r.Ratio, w[2])
		}
	}
	text := c.Text()
	for _, s := range []string{"A  base (1 shard)", "B  contender (2 shards)", "latency p99.9 (ms)", "50.02", "0.160"} {
		if !strings.Contains(text, s) {
			t.Errorf("text lacks %q:\n%s", s, text)
		}
	}
	var svg bytes.Buffer
	if err := PlotDistributions(&svg, a, b); err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(svg.Bytes(), new(struct{})); err != nil || strings.Count(svg.String(), "<polyline") != 2 ||
		!strings.Contains(svg.String(), "A: base") || !strings.Contains(svg.String(), "B: contender") {
		t.Errorf("svg: %v\n%s", err, svg.String())
	}
}
