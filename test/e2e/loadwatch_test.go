package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/esgate/esgate/test/esserver"
	loadgen "github.com/esgate/esgate/test/load"
)

// scrape reads the metrics at url; value returns the sample of name
// whose labels include every one of labels (-1: none).
func scrape(url string) (func(name string, labels ...string) float64, error) {
	res, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		return nil, fmt.Errorf("%s: %s", url, res.Status)
	}
	var lines []string
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return func(name string, labels ...string) float64 {
	next:
		for _, l := range lines {
			if !strings.HasPrefix(l, name+"{") {
				continue
			}
			i := strings.LastIndexByte(l, ' ')
			for _, lb := range labels {
				if !strings.Contains(l[:i], lb) {
					continue next
				}
			}
			v, _ := strconv.ParseFloat(l[i+1:], 64)
			return v
		}
		return -1
	}, nil
}

// TestLoadMetricsDuringRun: esgate load --metrics-listen serves its
// metrics while it runs: scraped during the run, the acknowledged events,
// labelled with the run id and the shard, are above 0 and later larger;
// after the run the endpoint stays up for the grace period and its final
// counts equal the report's; with a short grace the process then ends by
// itself and the endpoint is gone.
func TestLoadMetricsDuringRun(t *testing.T) {
	es, ca := esserver.StartT(t, esserver.Options{})
	_, _, key := es.CreateAPIKey("elastic", "load", 0, nil)
	p := startEsgate(t, []string{key}, "--hosts", es.URL, "--ssl-certificate-authorities", ca, "--api-key", key, "--access-log", "off")
	addr := freePort(t)
	cmd := exec.Command(esgateBin, "load", "--target", p.URL, "--rate", "1000", "--batch-size", "25", "--duration", "10s", "--clients", "4",
		"--run-id", "watch-1", "--metrics-listen", addr, "--metrics-grace", "2m", "--output", "json", "--index", "logstash-watch")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	url := "http://" + addr + "/metrics"
	acked := []string{`result="acknowledged"`, `run_id="watch-1"`, `shard="0"`}
	// Poll until the counter passes above, with a generous hang timeout.
	waitAbove := func(above float64) float64 {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			if v, err := scrape(url); err == nil {
				if n := v("esgate_load_events_total", acked...); n > above {
					return n
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("esgate_load_events_total{acknowledged} never passed %v; stderr: %s", above, stderr.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	first := waitAbove(0)
	waitAbove(first)

	var res loadgen.Result
	if err := json.NewDecoder(stdout).Decode(&res); err != nil {
		t.Fatalf("the report: %v; stderr: %s", err, stderr.String())
	}
	v, err := scrape(url)
	if err != nil {
		t.Fatalf("after the run, within the grace period: %v", err)
	}
	labels := []string{`run_id="watch-1"`, `shard="0"`}
	if got := v("esgate_load_events_total", acked...); got != float64(res.Events) || res.Events == 0 {
		t.Errorf("final acknowledged %v, the report %d", got, res.Events)
	}
	if got := v("esgate_load_requests_total", append(labels, `status="200"`)...); got != float64(res.Statuses["200"]) {
		t.Errorf("final requests{200} %v, the report %v", got, res.Statuses)
	}
	if got := v("esgate_load_request_duration_seconds_count", labels...); got != float64(res.Requests) {
		t.Errorf("latency observations %v, requests %d", got, res.Requests)
	}
	if v("esgate_load_target_rate_events_per_second", labels...) != 1000 || v("esgate_load_run_end_timestamp_seconds", labels...) <= 0 ||
		v("esgate_load_run_start_timestamp_seconds", labels...) <= 0 {
		t.Error("target rate, start or end not set")
	}
	cmd.Process.Kill()

	// A short grace: the process ends by itself, and so does the endpoint.
	addr = freePort(t)
	out, err := exec.Command(esgateBin, "load", "--target", p.URL, "--events", "500", "--batch-size", "25", "--clients", "1",
		"--metrics-listen", addr, "--metrics-grace", "100ms", "--output", "json", "--index", "logstash-watch").Output()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Error("the metrics endpoint is still up after the process ended")
	}
}

// TestLoadReportResultsTarget: load report --results-target writes the
// merged report as one document through esgate into the index, with the
// run id as its _id; it reads back with the report's figures, and a
// second report of the same run is refused.
func TestLoadReportResultsTarget(t *testing.T) {
	es, ca := esserver.StartT(t, esserver.Options{})
	_, _, key := es.CreateAPIKey("elastic", "load", 0, nil)
	p := startEsgate(t, []string{key}, "--hosts", es.URL, "--ssl-certificate-authorities", ca, "--api-key", key, "--access-log", "off")
	recs := filepath.Join(t.TempDir(), "run.ndjson")
	cmd := exec.Command("sh", "-c", esgateBin+` load --target `+p.URL+` --events 1000 --batch-size 50 --clients 2 --run-id stored-1 --output records --index logstash-stored > `+recs)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	target := p.URL + "/esgate-load-results"
	r, out, code := runReport(t, "--results-target", target, recs)
	if code != 0 || r == nil || r.Events != 1000 {
		t.Fatalf("exit %d: %s", code, out)
	}
	res, err := http.Get(target + "/_search?q=run_id:stored-1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var found struct {
		Hits struct {
			Hits []struct {
				ID     string             `json:"_id"`
				Source loadgen.ResultsDoc `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.Unmarshal(b, &found); err != nil || len(found.Hits.Hits) != 1 {
		t.Fatalf("%v: %s", err, b)
	}
	h := found.Hits.Hits[0]
	d := h.Source
	if h.ID != "stored-1" || d.RunID != "stored-1" || d.Events != 1000 || d.Requests != 20 || d.Shards != 1 ||
		d.Latency != r.Latency || d.EventsPerSec != r.EventsPerSec || d.Params.Index != "logstash-stored" ||
		len(d.Statuses) != 1 || d.Statuses[0] != (loadgen.StatusCount{Status: "200", Requests: 20}) || d.Timestamp.IsZero() {
		t.Errorf("stored %s\nreport %+v", b, r)
	}
	_, out, code = runReport(t, "--results-target", target, recs)
	if code != exitFailedCode || !strings.Contains(out, `esgate-load-results holds run "stored-1"'s results already`) {
		t.Errorf("a second report: exit %d: %s", code, out)
	}
}

// exitFailedCode is esgate's exit status for a command that failed.
const exitFailedCode = 1

// TestDocumentedWatchAndCompare: docs/load-testing.md's whole sharded run,
// watched and compared, runs as written, its script taken from the page:
// esgate on 127.0.0.1:9200 is moved to a free port and the metrics ports
// 127.0.0.1:946I to 2946I, nothing else. curl sees shard 0's labelled counters
// during the run, the report merges four shards and writes the results
// document, and compare heads each run with its id and draws the SVG.
func TestDocumentedWatchAndCompare(t *testing.T) {
	if testing.Short() {
		t.Skip("load processes")
	}
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "load-testing.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "A whole sharded run, watched and compared")
	_, rest, ok2 := strings.Cut(rest, "```console\n")
	block, _, ok3 := strings.Cut(rest, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("docs/load-testing.md: the watched and compared run's console block is missing")
	}
	var script strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(block), "\n") {
		switch {
		case strings.HasPrefix(l, "$ "):
			script.WriteString("\n" + l[2:])
		case strings.HasPrefix(l, "> "):
			script.WriteString("\n" + l[2:])
		default:
			t.Fatalf("a line that is neither a command nor its continuation: %q", l)
		}
	}
	es, ca := esserver.StartT(t, esserver.Options{})
	_, _, key := es.CreateAPIKey("elastic", "load", 0, nil)
	p := startEsgate(t, []string{key}, "--hosts", es.URL, "--ssl-certificate-authorities", ca, "--api-key", key, "--access-log", "off")
	text := strings.ReplaceAll(script.String(), "127.0.0.1:9200", p.addr)
	// The shards' metrics ports 946I move to 2946I, below the ephemeral
	// range, which the test checks are free.
	text = strings.ReplaceAll(text, "127.0.0.1:946", "127.0.0.1:2946")
	for i := range 4 {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:2946%d", i))
		if err != nil {
			t.Fatalf("port 2946%d, for the documented metrics port 946%d: %v", i, i, err)
		}
		l.Close()
	}
	if strings.Contains(text, "9200") || strings.Contains(text, ":946") {
		t.Fatalf("ports not moved: %s", text)
	}
	dir := t.TempDir()
	cmd := exec.Command("sh", "-e", "-c", text)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(esgateBin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s\n%s", err, text, out)
	}
	o := string(out)
	for _, want := range []string{
		`esgate_load_events_total{result="acknowledged",run_id="r2",shard="0"}`,
		"shard 3 ", "A  r1 (1 shard)", "B  r2 (4 shards)", "latency p99.9 (ms)",
	} {
		if !strings.Contains(o, want) {
			t.Errorf("the output lacks %q:\n%s", want, o)
		}
	}
	if svg, err := os.ReadFile(filepath.Join(dir, "r1-r2.svg")); err != nil || strings.Count(string(svg), "<polyline") != 2 {
		t.Errorf("r1-r2.svg: %v", err)
	}
	res, err := http.Get(p.URL + "/esgate-load-results/_count?q=run_id:r2")
	if err != nil {
		t.Fatal(err)
	}
	cb, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(cb), `"count":1`) {
		t.Errorf("the results document: %s", cb)
	}
}
