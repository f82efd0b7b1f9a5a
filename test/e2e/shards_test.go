package e2e

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/esgate/esgate/test/esserver"
	loadgen "github.com/esgate/esgate/test/load"
)

// TestShardedLoad: four `esgate load --shard I/4` processes at a total
// rate R meet at the start barrier (ready documents written through
// esgate), and `esgate load report --verify` merges their interval
// records. The test asserts exact properties of the merge, none of speed:
// the merged counts are the sum of the shards' records and equal the
// global _count's growth; every shard planned the same start and has a
// quarter of the rate; the merged window is the one the shards share
// (latest measured start to earliest end); and the merged percentiles are
// those of one histogram holding every value the shards recorded in that
// window. A missing or duplicated shard is refused, a shard that never
// arrives at the barrier makes the others give up naming it, and an
// overloaded open loop counts the sends it dropped.
func TestShardedLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load processes")
	}
	es, ca := esserver.StartT(t, esserver.Options{})
	_, _, key := es.CreateAPIKey("elastic", "load", 0, nil)
	p := startEsgate(t, []string{key}, "--hosts", es.URL, "--ssl-certificate-authorities", ca, "--api-key", key, "--access-log", "off")
	const rate, dur = "2000", "4s"
	common := []string{"--target", p.URL, "--rate", rate, "--duration", dur, "--clients", "8", "--warmup", "500ms", "--interval", "1s", "--batch-size", "25"}

	dir := t.TempDir()
	var wg sync.WaitGroup
	errs := make([]string, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			args := append([]string{"load", "--output", "records", "--shard", fmt.Sprintf("%d/4", i), "--run-id", "t1", "--verify",
				"--index", "logstash-sharded", "--barrier-timeout", "2m"}, common...)
			cmd := exec.Command(esgateBin, args...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				errs[i] = fmt.Sprintf("shard %d: %v: %s", i, err, stderr.String())
			}
			os.WriteFile(filepath.Join(dir, fmt.Sprintf("shard-%d.ndjson", i)), stdout.Bytes(), 0o600)
		}()
	}
	wg.Wait()
	for _, e := range errs {
		if e != "" {
			t.Fatal(e)
		}
	}
	plot := filepath.Join(t.TempDir(), "latency.svg")
	r, out, code := runReport(t, "--verify", "--target", p.URL, "--plot", plot, dir)
	if code != 0 || r == nil {
		t.Fatalf("load report: exit %d: %s", code, out)
	}
	recs, err := loadgen.ReadRecordPaths([]string{dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A p99 and a p50 line for every shard that recorded a latency (on a
	// starved machine a shard may have started too late to record any).
	plotted := map[int]bool{}
	for _, rec := range recs {
		if rec.Latency.Count > 0 {
			plotted[rec.Shard] = true
		}
	}
	if svg, err := os.ReadFile(plot); err != nil || strings.Count(string(svg), "<polyline") != 2*len(plotted) {
		t.Errorf("--plot: %v, %d lines (want p99 and p50 for %d shards)", err, strings.Count(string(svg), "<polyline"), len(plotted))
	}
	checkMerge(t, recs, r)
	if len(r.Shards) != 4 || r.Verified == nil || !r.Verified.OK || r.Verified.After-r.Verified.Before != r.Events+r.WarmupEvents || r.Events == 0 {
		t.Errorf("merged: %d shards, events %d, verified %+v", len(r.Shards), r.Events, r.Verified)
	}
	if got := es.Count("logstash-sharded"); int64(got) != r.Events+r.WarmupEvents {
		t.Errorf("the index holds %v events; the merged report acknowledged %d and %d in the warm-up", got, r.Events, r.WarmupEvents)
	}
	for _, s := range r.Shards {
		if s.TargetRate != 500 {
			t.Errorf("shard %d: target rate %v, want 500 (2000 / 4)", s.Shard, s.TargetRate)
		}
	}
	// How far apart the shards started and how fast they went depend on
	// the machine: logged, not asserted.
	for _, s := range r.Shards {
		t.Logf("shard %d: started %.1f ms from the planned start, %.0f events/s", s.Shard, s.StartSkewMs, s.AchievedRate)
	}
	t.Logf("merged: %d events, %.0f events/s, p50 %.2f ms, p99 %.2f ms", r.Events, r.EventsPerSec, r.Latency.P50, r.Latency.P99)

	// The same records from standard input, as `kubectl logs` gives them:
	// every pod's lines in one stream, with its log lines among them.
	var all bytes.Buffer
	for i := range 4 {
		b, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("shard-%d.ndjson", i)))
		fmt.Fprintf(&all, "shard %d/4 of run \"t1\": waiting at the start barrier\n", i)
		all.Write(b)
		all.WriteString("esgate load: open loop at 2000 events/s, 4.0s\n")
	}
	cmd := exec.Command(esgateBin, "load", "report", "--output", "json", "-")
	cmd.Stdin = &all
	if b, err := cmd.Output(); err != nil {
		t.Errorf("load report -: %v", err)
	} else if fromStdin, _ := decodeResult(b); fromStdin == nil || fromStdin.Events != r.Events || fromStdin.Latency != r.Latency {
		t.Errorf("load report - gives another report: %s", b)
	}

	// A missing shard, and a shard twice.
	away := filepath.Join(t.TempDir(), "away")
	os.Rename(filepath.Join(dir, "shard-3.ndjson"), away)
	if _, out, code := runReport(t, dir); code == 0 || !strings.Contains(out, "shards 3 of 4 have no records") {
		t.Errorf("a missing shard: exit %d: %s", code, out)
	}
	os.Rename(away, filepath.Join(dir, "shard-3.ndjson"))
	b, _ := os.ReadFile(filepath.Join(dir, "shard-0.ndjson"))
	os.WriteFile(filepath.Join(dir, "shard-0-again.ndjson"), bytes.ReplaceAll(b, []byte(`"instance":"`), []byte(`"instance":"x`)), 0o600)
	if _, out, code := runReport(t, dir); code == 0 || !strings.Contains(out, "shards 0 come from more than one process") {
		t.Errorf("a duplicate shard: exit %d: %s", code, out)
	}

	// A shard that never arrives.
	if _, out, code := runLoad(t, "--target", p.URL, "--shard", "0/2", "--run-id", "t2", "--barrier-timeout", "1s", "--duration", "1s", "--index", "logstash-lonely"); code == 0 ||
		!strings.Contains(out, "shards 1 of 2 never arrived within 1s") {
		t.Errorf("a lonely shard: exit %d: %s", code, out)
	}

	// Overloaded open loop: far more sends scheduled than one client can
	// make; the ones never sent are counted.
	es.AddFault(esserver.Fault{PathContains: "_bulk", Delay: 200 * time.Millisecond, Count: 1000})
	r, out, code = runLoad(t, "--target", p.URL, "--rate", "20000000", "--batch-size", "1", "--clients", "1", "--duration", "1s", "--index", "logstash-overload")
	if code != 0 || r == nil {
		t.Fatalf("overload: exit %d: %s", code, out)
	}
	if r.DroppedSends == 0 {
		t.Errorf("overloaded open loop: %d requests, no dropped sends counted", r.Requests)
	}
	t.Logf("overloaded open loop: %d requests, %d dropped sends", r.Requests, r.DroppedSends)
}

// checkMerge asserts that r is the exact merge of the shards' records
// recs: counts are sums, the window is the shared one, and the
// percentiles are those of one histogram holding every value recorded in
// the window's records (rebuilt here from each record's buckets, not with
// the merge under test).
func checkMerge(t *testing.T, recs []loadgen.Record, r *loadgen.Result) {
	t.Helper()
	byShard := map[int][]loadgen.Record{}
	var sum loadgen.Counters
	var warm int64
	planned := recs[0].PlannedStart
	for _, rec := range recs {
		byShard[rec.Shard] = append(byShard[rec.Shard], rec)
		sum.Requests += rec.Requests
		sum.Events += rec.Events
		sum.Errors += rec.Errors
		sum.DroppedSends += rec.DroppedSends
		sum.RawBytes += rec.RawBytes
		sum.WireBytes += rec.WireBytes
		if rec.Final {
			warm += rec.WarmupEvents
		}
		if !rec.PlannedStart.Equal(planned) {
			t.Errorf("shard %d record %d planned its start at %v, another record at %v", rec.Shard, rec.Seq, rec.PlannedStart, planned)
		}
	}
	if r.Requests != sum.Requests || r.Events != sum.Events || r.Errors != sum.Errors || r.DroppedSends != sum.DroppedSends ||
		r.RawBytes != sum.RawBytes || r.WireBytes != sum.WireBytes || r.WarmupEvents != warm {
		t.Errorf("merged counts %+v (warm-up %d); the records' sums %+v (warm-up %d)", *r, r.WarmupEvents, sum, warm)
	}
	for _, s := range r.Shards {
		var ev, req int64
		for _, rec := range byShard[s.Shard] {
			ev, req = ev+rec.Events, req+rec.Requests
		}
		if s.Events != ev || s.Requests != req {
			t.Errorf("shard %d: %d events, %d requests; its records sum to %d and %d", s.Shard, s.Events, s.Requests, ev, req)
		}
	}
	// The window: the latest measured start to the earliest end.
	var start, end time.Time
	for i, rs := range byShard {
		var last loadgen.Record
		for _, rec := range rs {
			if rec.Final {
				last = rec
			}
		}
		if !last.Final {
			t.Fatalf("shard %d has no final record", i)
		}
		if start.IsZero() || rs[0].MeasuredStart.After(start) {
			start = rs[0].MeasuredStart
		}
		if end.IsZero() || last.End.Before(end) {
			end = last.End
		}
	}
	if r.Window == nil || !r.Window.Start.Equal(start) || !r.Window.End.Equal(end) {
		t.Fatalf("merged window %+v; the shards share %v to %v", r.Window, start, end)
	}
	// One histogram of every value recorded in the window's records (a
	// record counts when at least half of it lies inside).
	lat := hdr.New(loadgen.HistogramLowest, loadgen.HistogramMax, loadgen.HistogramSigFigs)
	svc := hdr.New(loadgen.HistogramLowest, loadgen.HistogramMax, loadgen.HistogramSigFigs)
	inside := 0
	for _, rec := range recs {
		span := rec.End.Sub(rec.Start)
		in := minT(rec.End, end).Sub(maxT(rec.Start, start))
		if span <= 0 || in < span/2 {
			continue
		}
		inside++
		for _, p := range []struct {
			e  loadgen.EncodedHistogram
			to *hdr.Histogram
		}{{rec.Latency, lat}, {rec.ServiceTime, svc}} {
			b, err := base64.StdEncoding.DecodeString(p.e.HDR)
			if err != nil {
				t.Fatal(err)
			}
			h, err := hdr.Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			for _, bar := range h.Distribution() {
				if bar.Count > 0 {
					p.to.RecordValues(bar.From, bar.Count)
				}
			}
		}
	}
	if r.Window.Records != inside || inside == 0 {
		t.Errorf("merged window holds %d records; %d of the shards' lie in it", r.Window.Records, inside)
	}
	pct := func(h *hdr.Histogram) loadgen.Percentiles {
		ms := func(v int64) float64 { return float64(v) / 1000 }
		return loadgen.Percentiles{P50: ms(h.ValueAtQuantile(50)), P90: ms(h.ValueAtQuantile(90)), P99: ms(h.ValueAtQuantile(99)),
			P999: ms(h.ValueAtQuantile(99.9)), Max: ms(h.Max())}
	}
	if want := pct(lat); r.Latency != want {
		t.Errorf("merged latency %+v; the union of the shards' values gives %+v", r.Latency, want)
	}
	if want := pct(svc); r.ServiceTime != want {
		t.Errorf("merged service time %+v; the union of the shards' values gives %+v", r.ServiceTime, want)
	}
}

func minT(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxT(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// runReport runs esgate load report --output json with args.
func runReport(t *testing.T, args ...string) (*loadgen.Result, string, int) {
	t.Helper()
	return runJSON(t, append([]string{"load", "report", "--output", "json"}, args...)...)
}
