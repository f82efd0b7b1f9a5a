package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/esgate/esgate/test/esserver"
	loadgen "github.com/esgate/esgate/test/load"
)

// TestShardedLoad: four `esgate load --shard I/4` processes at a total
// rate R meet at the start barrier (ready documents written through
// esgate), and `esgate load report --verify` merges their interval
// records: the merged acknowledged events are the sum of the shards' and
// equal the global _count's growth, each shard's skew is small, and the
// merged p50 and p99 are within the spread of single processes at rate R.
// A missing or duplicated shard is refused, a shard that never arrives at
// the barrier makes the others give up naming it, and an overloaded open
// loop counts the sends it dropped.
func TestShardedLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load processes")
	}
	es, ca := esserver.StartT(t, esserver.Options{})
	_, _, key := es.CreateAPIKey("elastic", "load", 0, nil)
	p := startEsgate(t, []string{key}, "--hosts", es.URL, "--ssl-certificate-authorities", ca, "--api-key", key, "--access-log", "off")
	const rate, dur = "2000", "4s"
	// Batches of 25 events: 80 requests/s, so that a p99 of a few hundred
	// requests is not just the largest one.
	common := []string{"--target", p.URL, "--rate", rate, "--duration", dur, "--clients", "8", "--warmup", "500ms", "--interval", "1s", "--batch-size", "25"}

	// Single processes at rate R, three times: the spread of p50 and p99.
	var singleP50, singleP99 []float64
	for i := range 3 {
		r, out, code := runLoad(t, append(common, "--index", fmt.Sprintf("logstash-single-%d", i))...)
		if code != 0 || r == nil {
			t.Fatalf("single run: exit %d: %s", code, out)
		}
		singleP50, singleP99 = append(singleP50, r.Latency.P50), append(singleP99, r.Latency.P99)
	}

	dir := t.TempDir()
	var wg sync.WaitGroup
	errs := make([]string, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			args := append([]string{"load", "--output", "records", "--shard", fmt.Sprintf("%d/4", i), "--run-id", "t1", "--verify",
				"--index", "logstash-sharded", "--barrier-timeout", "30s"}, common...)
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
	if svg, err := os.ReadFile(plot); err != nil || strings.Count(string(svg), "<polyline") != 8 {
		t.Errorf("--plot: %v, %d lines (want p99 and p50 for four shards)", err, strings.Count(string(svg), "<polyline"))
	}
	var sum int64
	for _, s := range r.Shards {
		sum += s.Events
		if s.StartSkewMs < -50 || s.StartSkewMs > 500 {
			t.Errorf("shard %d started %.1f ms from the planned start", s.Shard, s.StartSkewMs)
		}
		if s.TargetRate != 500 {
			t.Errorf("shard %d: target rate %v, want 500 (2000 / 4)", s.Shard, s.TargetRate)
		}
	}
	if len(r.Shards) != 4 || sum != r.Events || r.Verified == nil || !r.Verified.OK || r.Verified.After-r.Verified.Before != r.Events+r.WarmupEvents || r.Events == 0 {
		t.Errorf("merged: %d shards, events %d (sum %d), verified %+v", len(r.Shards), r.Events, sum, r.Verified)
	}
	if got := float64(es.Count("logstash-sharded")); got != float64(r.Events+r.WarmupEvents) {
		t.Errorf("the index holds %v events; the merged report acknowledged %d", got, r.Events)
	}
	within := func(name string, v float64, runs []float64) {
		lo, hi := runs[0], runs[0]
		for _, x := range runs {
			lo, hi = min(lo, x), max(hi, x)
		}
		// Four processes share two cores with esgate and the server: the
		// spread is widened by a factor of two each way.
		if v < lo/2 || v > hi*2 {
			t.Errorf("merged %s %.2f ms, single runs %v", name, v, runs)
		}
		t.Logf("merged %s %.2f ms; single runs %v", name, v, runs)
	}
	within("p50", r.Latency.P50, singleP50)
	within("p99", r.Latency.P99, singleP99)
	if r.EventsPerSec < 1500 || r.EventsPerSec > 2500 {
		t.Errorf("merged rate %.0f events/s, want about 2000", r.EventsPerSec)
	}

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

// runReport runs esgate load report --output json with args.
func runReport(t *testing.T, args ...string) (*loadgen.Result, string, int) {
	t.Helper()
	return runJSON(t, append([]string{"load", "report", "--output", "json"}, args...)...)
}
