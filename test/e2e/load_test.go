package e2e

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/esgate/esgate/test/esserver"
	loadgen "github.com/esgate/esgate/test/load"
)

func runLoad(t *testing.T, args ...string) (*loadgen.Result, string, int) {
	t.Helper()
	return runJSON(t, append([]string{"load", "--output", "json"}, args...)...)
}

// runJSON runs esgate with args and decodes the report it prints; out is
// its output (and standard error) for messages.
func runJSON(t *testing.T, args ...string) (*loadgen.Result, string, int) {
	t.Helper()
	out, err := exec.Command(esgateBin, args...).Output()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
		out = append(out, ee.Stderr...)
	} else if err != nil {
		t.Fatal(err)
	}
	r, err := decodeResult(out)
	if err != nil {
		return nil, string(out), code
	}
	return r, string(out), code
}

// decodeResult decodes a report esgate load printed with --output json.
func decodeResult(b []byte) (*loadgen.Result, error) {
	var r loadgen.Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// TestLoadThroughEsgate: closed loop with an exact event budget verified by
// _count; injected whole-request 429s and per-item 403s are counted apart.
func TestLoadThroughEsgate(t *testing.T) {
	es, ca := esserver.StartT(t, esserver.Options{})
	_, _, key := es.CreateAPIKey("elastic", "load", 0, nil)
	p := startEsgate(t, []string{key}, "--hosts", es.URL, "--ssl-certificate-authorities", ca, "--api-key", key, "--access-log", "off")

	r, out, code := runLoad(t, "--target", p.URL, "--events", "5000", "--batch-size", "100", "--clients", "3", "--verify", "--index", "logstash-load-a")
	if code != 0 || r == nil {
		t.Fatalf("exit %d: %s", code, out)
	}
	if r.Events != 5000 || r.Requests != 50 || r.Errors != 0 || r.Verified == nil || !r.Verified.OK || r.Verified.After != 5000 {
		t.Errorf("result %+v verified %+v", r, r.Verified)
	}
	if r.WireBytes >= r.RawBytes || r.Latency.P50 <= 0 || r.Latency.Max < r.Latency.P99 {
		t.Errorf("bytes raw %d wire %d (gzip 1 is on), latency %+v", r.RawBytes, r.WireBytes, r.Latency)
	}

	es.AddFault(esserver.Fault{PathContains: "_bulk", Status: 429, Count: 2})
	es.AddFault(esserver.Fault{PathContains: "_bulk", ItemStatus: 403, ItemEvery: 10, Count: 1})
	r, out, code = runLoad(t, "--target", p.URL, "--events", "1000", "--batch-size", "100", "--clients", "1", "--verify", "--index", "logstash-load-b")
	if code != 0 || r == nil {
		t.Fatalf("exit %d: %s", code, out)
	}
	if r.Statuses["429"] != 2 || r.Rejected429 != 200 || r.ItemErrors["403 security_exception"] != 10 {
		t.Errorf("statuses %v items %v rejected %d", r.Statuses, r.ItemErrors, r.Rejected429)
	}
	// 10 requests: 2 rejected whole, 1 with 10 failed items; the rest fine.
	if r.Events != 800-10 || r.FailedEvents != 210 || !r.Verified.OK {
		t.Errorf("events %d failed %d verified %+v", r.Events, r.FailedEvents, r.Verified)
	}
}

// TestLoadOpenLoopAndDirect: open loop at a fixed rate, and straight to the
// TLS cluster with esgate's credential and trust flags.
func TestLoadOpenLoopAndDirect(t *testing.T) {
	es, ca := esserver.StartT(t, esserver.Options{})
	_, _, key := es.CreateAPIKey("elastic", "load", 0, nil)
	r, out, code := runLoad(t, "--target", es.URL, "--ssl-certificate-authorities", ca, "--api-key", key,
		"--rate", "2500", "--duration", "2s", "--batch-size", "125", "--verify", "--index", "logs-load-default")
	if code != 0 || r == nil {
		t.Fatalf("exit %d: %s", code, out)
	}
	// 2500 events/s for 2 s in batches of 125: a send every 50 ms, at most
	// 41 from 0 to 2 s. Each was sent or, on a starved machine, dropped:
	// a due send is never silently forgotten.
	if !r.OpenLoop || r.Requests < 1 || r.Requests+r.DroppedSends > 41 || r.Errors != 0 || !r.Verified.OK {
		t.Errorf("result %+v", r)
	}
	if r.Latency.P50 < r.ServiceTime.P50*0.99 {
		t.Errorf("latency p50 %.2f below service time p50 %.2f", r.Latency.P50, r.ServiceTime.P50)
	}
	// A replayed NDJSON file.
	file := filepath.Join(t.TempDir(), "events.ndjson")
	writeFile(t, file, "{\"message\":\"a\"}\n{\"message\":\"b\"}\n{\"message\":\"c\"}\n")
	r, out, code = runLoad(t, "--target", es.URL, "--ssl-certificate-authorities", ca, "--api-key", key,
		"--file", file, "--batch-size", "3", "--events", "30", "--index", "logstash-replay", "--verify", "--gzip", "0")
	if code != 0 || r == nil || r.Events != 30 || !r.Verified.OK {
		t.Fatalf("replay exit %d: %s", code, out)
	}
}

// TestStandaloneServerFaults: the standalone test server's -fault flag
// makes `esgate load` see per-item 429s, counted apart from other errors,
// and --verify still balances.
func TestStandaloneServerFaults(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "estestserver")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/esgate/esgate/test/cmd/estestserver").CombinedOutput(); err != nil {
		t.Fatalf("building estestserver: %v\n%s", err, out)
	}
	addr := freePort(t)
	ca := filepath.Join(t.TempDir(), "ca.crt")
	srv := exec.Command(bin, "-addr", addr, "-ca-out", ca, "-fault", "path=_bulk,item_status=429,item_every=4")
	var out syncBuffer
	srv.Stdout, srv.Stderr = &out, &out
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	deadline := time.Now().Add(catchHang)
	for !strings.Contains(out.String(), "faults injected: 1") {
		if time.Now().After(deadline) {
			t.Fatalf("estestserver did not start: %s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	r, o, code := runLoad(t, "--target", "https://"+addr, "--ssl-certificate-authorities", ca, "--user", "elastic", "--password", "changeme",
		"--events", "400", "--batch-size", "100", "--clients", "1", "--verify", "--index", "logstash-faults")
	if code != 0 || r == nil {
		t.Fatalf("exit %d: %s", code, o)
	}
	if r.Rejected429 != 100 || r.Events != 300 || r.Verified == nil || !r.Verified.OK || r.Verified.After != 300 {
		t.Errorf("rejected %d, events %d, verified %+v; expected 100 rejected and 300 verified", r.Rejected429, r.Events, r.Verified)
	}
}
