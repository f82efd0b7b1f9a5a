package load

import (
	"encoding/xml"
	"io"
	"strings"
	"testing"
	"time"
)

// shardRecords makes one shard's records: one interval per second for
// secs seconds from start, each with n requests of latency lat.
func shardRecords(shard, shards int, instance string, start time.Time, secs int, n int, lat time.Duration) []Record {
	o := Options{Shard: Shard{shard, shards}, Run: "r1", Instance: instance, Rate: 1000, Params: Params{Rate: 1000, Index: "x"}}
	rec := &recorder{o: o, planned: start, start: start}
	var out []Record
	for s := range secs {
		t := newTally()
		for range n {
			one := &tally{requests: 1, events: 10}
			t.observe(one, lat, lat)
		}
		from := start.Add(time.Duration(s) * time.Second)
		out = append(out, rec.record(t, from, from.Add(time.Second), s, s == secs-1))
	}
	return out
}

// TestMergedPercentilesAreNotAverages: one shard answers in 1 ms, another
// in 100 ms, 2% of all requests; the merged p99 is that of all requests
// together (100 ms), which the average of the shards' p99s (50.5 ms)
// is not, nor is any other mix of the shards' percentiles.
func TestMergedPercentilesAreNotAverages(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	fast := shardRecords(0, 2, "a", t0, 3, 490, time.Millisecond)
	slow := shardRecords(1, 2, "b", t0, 3, 10, 100*time.Millisecond)
	res, _, err := Merge(append(fast, slow...))
	if err != nil {
		t.Fatal(err)
	}
	if res.Latency.P99 < 99.9 || res.Latency.P99 > 100.1 {
		t.Errorf("merged p99 %.2f ms, want 100 (the union's)", res.Latency.P99)
	}
	if res.Latency.P50 < 0.99 || res.Latency.P50 > 1.01 {
		t.Errorf("merged p50 %.2f ms, want 1", res.Latency.P50)
	}
	avg := (percentilesOf(fast).P99 + percentilesOf(slow).P99) / 2
	if avg < 50 || avg > 51 {
		t.Errorf("the average of the shards' p99s is %.2f ms; the point is that it is wrong (50.5, not 100)", avg)
	}
	if res.Events != 3*500*10 || len(res.Shards) != 2 || res.Requests != 1500 {
		t.Errorf("events %d, requests %d, shards %d", res.Events, res.Requests, len(res.Shards))
	}
	if res.EventsPerSec < 4999 || res.EventsPerSec > 5001 {
		t.Errorf("%.0f events/s, want 5000", res.EventsPerSec)
	}
}

func percentilesOf(recs []Record) Percentiles {
	var h Histogram
	for _, r := range recs {
		d, _ := r.Latency.Decode()
		h.Merge(d)
	}
	return percentiles(&h)
}

// TestMergeRefuses: missing shards, a shard from two processes, records
// of two runs, a shard without its final record and differing
// parameters are errors that say so.
func TestMergeRefuses(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	a := shardRecords(0, 3, "a", t0, 2, 10, time.Millisecond)
	b := shardRecords(1, 3, "b", t0, 2, 10, time.Millisecond)
	c := shardRecords(2, 3, "c", t0, 2, 10, time.Millisecond)
	join := func(rs ...[]Record) []Record {
		var out []Record
		for _, r := range rs {
			out = append(out, r...)
		}
		return out
	}
	otherRun := shardRecords(2, 3, "c", t0, 2, 10, time.Millisecond)
	for i := range otherRun {
		otherRun[i].Run = "r2"
	}
	dup := shardRecords(1, 3, "b2", t0, 2, 10, time.Millisecond)
	otherParams := shardRecords(2, 3, "c", t0, 2, 10, time.Millisecond)
	for i := range otherParams {
		otherParams[i].Params.Rate = 2000
	}
	for _, tc := range []struct {
		name string
		recs []Record
		want string
	}{
		{"missing", join(a, c), "shards 1 of 3 have no records"},
		{"duplicate", join(a, b, dup, c), "shards 1 come from more than one process"},
		{"two runs", join(a, b, otherRun), "records of 2 runs"},
		{"no final", join(a, b, c[:1]), "shard 2 has no final record"},
		{"parameters", join(a, b, otherParams), "shard 2's parameters differ"},
	} {
		if _, _, err := Merge(tc.recs); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
	if _, _, err := Merge(join(a, b, c)); err != nil {
		t.Errorf("the three shards: %v", err)
	}
}

func TestParseShard(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Shard
		ok   bool
	}{{"0/4", Shard{0, 4}, true}, {"3/4", Shard{3, 4}, true}, {"4/4", Shard{}, false}, {"-1/4", Shard{}, false},
		{"1", Shard{}, false}, {"a/b", Shard{}, false}, {"0/0", Shard{}, false}} {
		got, err := ParseShard(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("%q: %v %v", tc.in, got, err)
		}
	}
	var sum int64
	for i := range 4 {
		sum += Shard{i, 4}.Part(10)
	}
	if sum != 10 || (Shard{0, 4}).Part(10) != 3 || (Shard{3, 4}).Part(10) != 2 {
		t.Errorf("parts of 10 in 4: sum %d", sum)
	}
	if (Shard{0, 4}).Seed(1) == (Shard{1, 4}).Seed(1) || (Shard{0, 1}).Seed(7) != 7 {
		t.Error("seeds")
	}
}

// TestPlotSVG: the plot is well-formed XML with one p99 and one p50 line
// per shard.
func TestPlotSVG(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	recs := append(shardRecords(0, 2, "a", t0, 3, 10, time.Millisecond), shardRecords(1, 2, "b", t0, 3, 10, 30*time.Millisecond)...)
	var b strings.Builder
	if err := PlotSVG(&b, recs); err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(strings.NewReader(b.String()))
	lines := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not XML: %v\n%s", err, b.String())
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			lines++
		}
	}
	if lines != 4 {
		t.Errorf("%d lines, want 4 (p99 and p50 for two shards)", lines)
	}
}
