package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/esgate/esgate/test/esserver"
	"github.com/esgate/esgate/test/faultrelay"
)

// TestSoak runs only when ESGATE_SOAK_DURATION is set (`make soak`): for
// that long, open-loop Logstash-like bulk load through esgate on a
// single-host route whose connection to the cluster goes through a relay
// that cycles through every fault (reset, refuse, stall, trickle, cut
// answers, close after the request), with a managed API key renewed every
// few seconds and a SIGHUP every 20 s. Each 10 s window must lose no
// acknowledged event and hang no request; at the end it prints the lost
// events and esgate's resident memory, descriptors and goroutines at the
// start and the end, which must come back within the fault tests' slack.
func TestSoak(t *testing.T) {
	total, err := time.ParseDuration(os.Getenv("ESGATE_SOAK_DURATION"))
	if err != nil {
		t.Skip("ESGATE_SOAK_DURATION is not set (make soak SOAK_DURATION=10m)")
	}
	es, ca := esserver.StartT(t, esserver.Options{})
	relay, err := faultrelay.Start(es.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	es.PutRole("logstash_writer", esserver.Role{Cluster: []string{"monitor", "manage_own_api_key"},
		Indices: []esserver.IndexPrivileges{{Names: []string{"soak*"}, Privileges: []string{"create_doc", "index", "auto_configure", "view_index_metadata"}}}})
	es.AddUser("logstash_internal", "writer-password", "logstash_writer")
	pw := filepath.Join(t.TempDir(), "pw")
	writeFile(t, pw, "writer-password\n")
	p := startEsgate(t, []string{"writer-password"}, "--hosts", "https://"+relay.Addr, "--ssl-certificate-authorities", ca,
		"--user", "logstash_internal", "--password-file", pw, "--api-key-management", "--api-key-name", "esgate-soak",
		"--api-key-expiration", "20s", "--api-key-renew-after", "0.25", "--api-key-invalidate-delay", "1s",
		"--timeout", faultTimeout.String(), "--connect-timeout", "1s", "--resurrect-delay", "500ms",
		"--pool-idle-timeout", "1s", "--access-log", "off")
	waitMetric(t, p, 1, "esgate_api_key_mints_total", `trigger="start"`)
	openLoop(t, p.URL, "soak", "warm", 20, time.Second, 5).check(t, es, "soak")
	fds0, gr0, rss0 := gauges(t, p)

	faults := []struct {
		name        string
		start, stop func()
	}{
		{"reset", func() { relay.Reset() }, nil},
		{"refuse", func() { relay.Refuse(true); relay.Reset() }, func() { relay.Refuse(false) }},
		{"stall", func() { relay.Stall(true) }, func() { relay.Stall(false) }},
		{"trickle", func() { relay.Trickle(256) }, func() { relay.Trickle(0) }},
		{"cut answers", func() { relay.CutAnswers(700) }, nil},
		{"close after request", func() { relay.CloseAfterRequest() }, nil},
	}
	start := time.Now()
	var sent, acked, failed, lost, hups int
	lastHUP := start
	for w := 0; time.Since(start) < total; w++ {
		f := faults[w%len(faults)]
		done := make(chan struct{})
		go func() { // the window's fault: 3 s in, for 2 s
			defer close(done)
			time.Sleep(3 * time.Second)
			f.start()
			time.Sleep(2 * time.Second)
			if f.stop != nil {
				f.stop()
			}
			relay.Clear()
		}()
		res := openLoop(t, p.URL, "soak", fmt.Sprintf("w%d", w), 30, 10*time.Second, 25)
		<-done
		lost += res.check(t, es, "soak")
		sent += res.sent
		acked += len(res.acked)
		failed += res.failed()
		if time.Since(lastHUP) >= 20*time.Second {
			p.cmd.Process.Signal(syscall.SIGHUP)
			hups++
			waitMetric(t, p, float64(hups), "esgate_reloads_total", `result="success"`)
			lastHUP = time.Now()
		}
		fds, gr, rss := gauges(t, p)
		t.Logf("%v %-19s %d requests, %d events acknowledged, %d failed visibly; %v fds, %v goroutines, %.1f MiB",
			time.Since(start).Round(time.Second), f.name, res.sent, len(res.acked), res.failed(), fds, gr, rss/(1<<20))
		if t.Failed() {
			break
		}
	}
	waitReady(t, p, catchHang)
	settle(t, p, fds0, gr0, rss0, catchHang)
	fds, gr, rss := gauges(t, p)
	t.Logf("soak %v: %d requests, %d events acknowledged, %d requests failed visibly, lost events: %d; reloads %d, key mints %v",
		time.Since(start).Round(time.Second), sent, acked, failed, lost, hups, p.metricSum(t, "esgate_api_key_mints_total"))
	t.Logf("start: %.1f MiB resident, %v fds, %v goroutines; end: %.1f MiB, %v fds, %v goroutines",
		rss0/(1<<20), fds0, gr0, rss/(1<<20), fds, gr)
}
