package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/esgate/esgate/test/load"
)

// TestLoadFlagGroups: every flag of load's own is in exactly one group
// of its help.
func TestLoadFlagGroups(t *testing.T) {
	c := lookupCommand("load")
	fs, _ := c.flagSet(c.opts())
	seen := map[string]int{}
	for _, s := range (&loadFlags{}).flagGroups() {
		for _, n := range s.names {
			if fs.Lookup(n) == nil {
				t.Errorf("group %q lists --%s, which is no flag", s.title, n)
			}
			seen[n]++
		}
	}
	own := flag.NewFlagSet("", flag.ContinueOnError)
	(&loadFlags{}).flags(own)
	own.VisitAll(func(f *flag.Flag) {
		if seen[f.Name] != 1 {
			t.Errorf("--%s is in %d groups", f.Name, seen[f.Name])
		}
	})
}

// TestLoadSubcommandsRefuseIgnoredFlags: load report and load compare
// refuse the flags they would ignore, naming those they take.
func TestLoadSubcommandsRefuseIgnoredFlags(t *testing.T) {
	for _, tt := range []struct {
		args []string
		out  string
	}{
		{[]string{"load", "report", "--rate", "5", "x"}, "error: --rate is not a flag of esgate load report, which takes --output, --verify, --verify-target, --target, --plot, --results-target"},
		{[]string{"load", "report", "--shard", "0/2", "x"}, "error: --shard is not a flag of esgate load report"},
		{[]string{"load", "report", "--metrics-listen", ":0", "x"}, "error: --metrics-listen is not a flag of esgate load report"},
		{[]string{"load", "compare", "--verify", "a", "b"}, "error: --verify is not a flag of esgate load compare, which takes --output, --plot"},
		{[]string{"load", "compare", "--api-key", "a:b", "a", "b"}, "error: --api-key is not a flag of esgate load compare"},
		{[]string{"load", "compare", "a"}, "error: esgate load compare: name two runs' records"},
		{[]string{"load", "report", "--results-target", "http://127.0.0.1:1", "-"}, "error: --results-target: want a URL that ends in the index"},
		{[]string{"load", "--target", "ftp://127.0.0.1:1"}, `error: --target: want http://HOST:PORT (esgate) or https://HOST:PORT (a cluster, with the cluster, trust and credential flags), got "ftp://127.0.0.1:1"`},
		{[]string{"load", "--target", "127.0.0.1:9200"}, `error: --target: want http://HOST:PORT`},
		{[]string{"load", "--target", "http://"}, `error: --target: want http://HOST:PORT`},
		{[]string{"load", "--verify-target", "localhost:9200"}, `error: --verify-target: want http://HOST:PORT`},
		{[]string{"load", "--target", "https://elastic:s3cr3t@127.0.0.1:9200"}, "error: --target: a URL with a user name or password (https://elastic:xxxxx@127.0.0.1:9200); give the credential with the credential flags"},
		{[]string{"load", "--target", "http://elastic:s3cr3t%zz@127.0.0.1:9200"}, "error: --target: want http://HOST:PORT (esgate) or https://HOST:PORT (a cluster, with the cluster, trust and credential flags), got a URL that does not parse"},
		{[]string{"load", "report", "--verify", "--verify-target", "ftp://x", "-"}, "error: --verify-target: want http://HOST:PORT"},
	} {
		var out bytes.Buffer
		code := run(context.Background(), tt.args, &out, &out)
		if code != exitUsage || !strings.Contains(out.String(), tt.out) {
			t.Errorf("%v: code %d output %q; expected %d and %q", tt.args, code, out.String(), exitUsage, tt.out)
		}
		if strings.Contains(out.String(), "s3cr3t") {
			t.Errorf("%v: the password is in the error: %s", tt.args, out.String())
		}
	}
}

// TestProgressLine: the progress display's one line, from a snapshot.
func TestProgressLine(t *testing.T) {
	got := progressLine(load.Snapshot{Elapsed: 4 * time.Second, Events: 20000, Errors: 3, P99: 12345 * time.Microsecond})
	want := "    4s       20000 events      5000 events/s  p99    12.3 ms  3 errors   "
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if strings.Contains(progressLine(load.Snapshot{}), "NaN") {
		t.Error("a snapshot at 0 s renders NaN")
	}
}

// bulkServer acknowledges every bulk request of batchSize events.
func bulkServer(t *testing.T, batchSize int) *httptest.Server {
	items := strings.TrimSuffix(strings.Repeat(`{"create":{"status":201}},`, batchSize), ",")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"took":1,"errors":false,"items":[`+items+`]}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestNoProgressWithoutTerminal: a run whose standard error is a file,
// not a terminal, writes nothing there (the report goes to stdout).
func TestNoProgressWithoutTerminal(t *testing.T) {
	srv := bulkServer(t, 10)
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	if code := run(context.Background(), []string{"load", "--target", srv.URL, "--batch-size", "10", "--events", "2000", "--clients", "1"}, &out, f); code != exitOK {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	b, _ := os.ReadFile(f.Name())
	if len(b) != 0 || !strings.Contains(out.String(), "2000 acknowledged") {
		t.Errorf("stderr %q; stdout %q", b, out.String())
	}
}

// TestLoadCompareRecordedRuns: load compare of two recorded runs
// (testdata/compare: a single process at 2,000 events/s, and two shards
// at 4,000 in all, recorded through the test server) prints, in JSON,
// exactly the comparison of the two runs' merged records, each headed by
// its run id, and with --plot an SVG of both distributions.
func TestLoadCompareRecordedRuns(t *testing.T) {
	a, sharded := filepath.Join("testdata", "compare", "base.ndjson"), filepath.Join("testdata", "compare", "sharded")
	dir := t.TempDir()
	plot := filepath.Join(dir, "cmp.svg")
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"load", "compare", "--output", "json", "--plot", plot, a, sharded}, &out, &errOut); code != exitOK {
		t.Fatalf("compare: exit %d: %s", code, errOut.String())
	}
	var got load.Comparison
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	var merged [2]*load.Merged
	for i, p := range []string{a, sharded} {
		recs, err := load.ReadRecordPaths([]string{p}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if merged[i], err = load.MergeRun(recs); err != nil {
			t.Fatal(err)
		}
	}
	want := load.Compare(merged[0], merged[1])
	wb, _ := json.Marshal(want)
	var wantRT load.Comparison
	json.Unmarshal(wb, &wantRT)
	if !reflect.DeepEqual(got, wantRT) {
		t.Errorf("compare printed\n%s\nthe records give\n%s", out.String(), wb)
	}
	if got.A.Run != "base" || got.B.Run != "contender" || got.A.Shards != 1 || got.B.Shards != 2 || got.A.Events != 4000 || got.B.Events != 8000 ||
		got.B.Requests != 320 || len(got.Rows) != 8 || got.Rows[0].Metric != "throughput" || got.Rows[0].Ratio == nil {
		t.Errorf("heads %+v %+v, %d rows", got.A, got.B, len(got.Rows))
	}
	if svg, err := os.ReadFile(plot); err != nil || strings.Count(string(svg), "<polyline") != 2 || !strings.Contains(string(svg), "B: contender") {
		t.Errorf("--plot: %v %.300s", err, svg)
	}
	out.Reset()
	if code := run(context.Background(), []string{"load", "compare", a, sharded}, &out, &errOut); code != exitOK ||
		!strings.Contains(out.String(), "A  base (1 shard)") || !strings.Contains(out.String(), "B  contender (2 shards)") {
		t.Errorf("text: exit %d\n%s", code, out.String())
	}
}

// TestLoadUsageErrorEndsAtOnce: a usage error found after the metrics
// listener started (here, a cluster target without a credential) ends the
// command at once: --metrics-grace holds the listener after a run only.
func TestLoadUsageErrorEndsAtOnce(t *testing.T) {
	done := make(chan int, 1)
	var out bytes.Buffer
	go func() {
		done <- run(context.Background(), []string{"load", "--target", "https://127.0.0.1:1", "--metrics-listen", "127.0.0.1:0", "--metrics-grace", "1h"}, &out, &out)
	}()
	select {
	case code := <-done:
		if code != exitUsage || !strings.Contains(out.String(), "error: no credentials") {
			t.Errorf("code %d, output %q; expected %d and the missing credential", code, out.String(), exitUsage)
		}
	case <-time.After(catchHang):
		t.Fatal("esgate load waited its metrics grace after a usage error")
	}
}
