package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	loadgen "github.com/esgate/esgate/test/load"
)

// TestDocumentedBootstrapServeLoadVerify: the README's path, then
// docs/load-testing.md's load command as written: esgate bootstrap writes
// esgate.secrets, esgate serve --config esgate.secrets runs its routes,
// esgate check --config esgate.secrets --privileges passes, and
// `esgate load --target http://127.0.0.1:9200 --clients 4 --duration 30s
// --verify` (here 3 s) verifies through the read route of esgate.secrets,
// found by itself, although the publish route may not read. The routes'
// ports are moved off 9200-9204 so that the test needs no fixed port.
func TestDocumentedBootstrapServeLoadVerify(t *testing.T) {
	e := newBootstrapEnv(t)
	if out, code := e.run(t); code != 0 {
		t.Fatalf("bootstrap: exit %d:\n%s", code, out)
	}
	b, err := os.ReadFile(e.secrets)
	if err != nil {
		t.Fatal(err)
	}
	ports := map[string]string{}
	text := string(b)
	for _, p := range []string{"9200", "9202", "9203", "9204"} {
		ports[p] = freePort(t)
		text = strings.ReplaceAll(text, "127.0.0.1:"+p, ports[p])
	}
	if err := os.WriteFile(e.secrets, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	serve := exec.Command(esgateBin, "serve", "--config", "esgate.secrets", "--status-listen", freePort(t))
	serve.Dir = e.dir
	out := &syncBuffer{}
	serve.Stdout, serve.Stderr = out, out
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		serve.Process.Kill()
		serve.Wait()
		if t.Failed() {
			t.Logf("esgate serve:\n%s", out.String())
		}
	})
	deadline := time.Now().Add(catchHang)
	for _, p := range ports {
		for {
			c, err := net.Dial("tcp", p)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("route %s does not listen", p)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	check := exec.Command(esgateBin, "check", "--config", "esgate.secrets", "--privileges")
	check.Dir = e.dir
	if b, err := check.CombinedOutput(); err != nil {
		t.Fatalf("check --privileges: %v\n%s", err, b)
	}

	run := func(args ...string) (*loadgen.Result, string) {
		t.Helper()
		cmd := exec.Command(esgateBin, append([]string{"load", "--output", "json"}, args...)...)
		cmd.Dir = e.dir
		var stderr strings.Builder
		cmd.Stderr = &stderr
		stdout, err := cmd.Output()
		if err != nil {
			t.Fatalf("esgate load %v: %v\n%s%s", args, err, stdout, stderr.String())
		}
		var r loadgen.Result
		if err := json.Unmarshal(stdout, &r); err != nil {
			t.Fatalf("%v: %s", err, stdout)
		}
		return &r, stderr.String()
	}
	target := "http://" + ports["9200"]
	r, note := run("--target", target, "--clients", "4", "--duration", "3s", "--verify")
	if r.Verified == nil || !r.Verified.OK || r.Events == 0 || !strings.Contains(note, "read route http://"+ports["9204"]) {
		t.Errorf("load --verify behind the publish route: events %d, verified %+v; stderr %q", r.Events, r.Verified, note)
	}
	// With --config, the read route is used from the start.
	r, _ = run("--target", target, "--clients", "2", "--duration", "1s", "--verify", "--config", filepath.Join(e.dir, "esgate.secrets"), "--index", "logstash-load-2")
	if r.Verified == nil || !r.Verified.OK || r.Verified.After != r.Events {
		t.Errorf("load --verify --config: events %d, verified %+v", r.Events, r.Verified)
	}

	// deploy/kubernetes/load's shape: shards behind the publish route meet
	// at the barrier, read through the read route, and merge.
	read := "http://" + ports["9204"]
	var wg sync.WaitGroup
	recs := make([][]byte, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(esgateBin, "load", "--shard", fmt.Sprintf("%d/2", i), "--run-id", "k8s-like", "--target", target,
				"--verify-target", read, "--verify", "--rate", "1000", "--clients", "2", "--duration", "2s", "--output", "records",
				"--index", "logstash-load-sharded")
			cmd.Dir = e.dir
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Errorf("shard %d: %v\n%s", i, err, stderr.String())
			}
			recs[i] = out
		}()
	}
	wg.Wait()
	report := exec.Command(esgateBin, "load", "report", "--verify", "--verify-target", read, "--output", "json", "-")
	report.Stdin = bytes.NewReader(append(recs[0], recs[1]...))
	b, err = report.Output()
	if err != nil {
		t.Fatalf("load report --verify: %v\n%s", err, b)
	}
	if m, err := decodeResult(b); err != nil || m.Verified == nil || !m.Verified.OK || len(m.Shards) != 2 || m.Events == 0 {
		t.Errorf("merged through bootstrap's routes: %v %s", err, b)
	}
}
