package e2e

import (
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/esgate/esgate/test/esserver"
)

// TestFDLimitExhaustion: with ulimit -n exhausted by idle clients, esgate
// keeps serving the connections it has, counts an exhaustion episode per
// run of failed accepts, not per failure, does not spin (its failed accepts, counted
// one by one, stay within what the accept loop's back-off allows), and
// accepts again once clients leave.
func TestFDLimitExhaustion(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	es, ca := esserver.StartT(t, esserver.Options{})
	addr := freePort(t)
	readyFile := filepath.Join(t.TempDir(), "ready.json")
	p := &proc{out: &syncBuffer{}, addr: addr, URL: "http://" + addr, done: make(chan error, 1)}
	p.cmd = exec.Command("bash", "-c", `ulimit -n 48 && exec "$0" "$@"`, esgateBin, "serve", "--listen", addr, "--status-listen", "127.0.0.1:0",
		"--ready-file", readyFile, "--hosts", es.URL, "--ssl-certificate-authorities", ca, "--user", "elastic", "--password", "changeme", "--access-log", "off")
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("esgate output:\n%s", p.out.String())
		}
	})
	// A client and a status scraper with connections of their own, made
	// before the limit is reached.
	statusAddr := waitReadyFile(t, readyFile, p.done, p.out).Status
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: catchHang}
	get := func(url string) (int, string, error) {
		res, err := client.Get(url)
		if err != nil {
			return 0, "", err
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b), nil
	}
	deadline := time.Now().Add(catchHang)
	for {
		if code, _, err := get(p.URL + "/"); err == nil && code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("esgate did not serve:\n%s", p.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	metric := func(name string) float64 {
		_, body, err := get("http://" + statusAddr + "/metrics")
		if err != nil {
			t.Fatalf("scraping: %v", err)
		}
		sum := 0.0
		for _, line := range strings.Split(body, "\n") {
			if strings.HasPrefix(line, name) {
				var v float64
				fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v)
				sum += v
			}
		}
		return sum
	}
	metric("esgate_accept_errors_total")

	// Idle clients until esgate's accepts fail.
	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for i := 0; i < 100; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	deadline = time.Now().Add(catchHang)
	for metric(`esgate_accept_errors_total{reason="fd_limit"`) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no accept failed with 100 idle clients and ulimit -n 48")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A spinning accept loop fails thousands of accepts a second. esgate's
	// backs off from 5 ms, doubling to 1 s, so that in a window of w it
	// fails at most 8 (5 ms to 640 ms add up to 1.3 s), then one a second.
	// The window is what elapsed, so a slow machine widens the bound with
	// it; a starved esgate only fails fewer.
	// An episode ends when an accept succeeds (esgate closes idle clients
	// after its header timeout, which a slow machine can reach): the
	// back-off then starts again from 5 ms, once per new episode.
	failed0, episodes0 := metric(`esgate_accept_errors_total{reason="fd_limit"`), metric("esgate_listener_fd_exhaustions_total")
	from := time.Now()
	time.Sleep(2 * time.Second)
	failed := metric(`esgate_accept_errors_total{reason="fd_limit"`)
	w := time.Since(from)

	// The existing connection is still served.
	if code, _, err := get(p.URL + "/"); err != nil || code != 200 {
		t.Errorf("the existing client while out of descriptors: %d %v", code, err)
	}
	episodes := metric("esgate_listener_fd_exhaustions_total")
	t.Logf("out of descriptors: %v failed accepts, %v in %v, %v episode(s)", failed, failed-failed0, w.Round(time.Millisecond), episodes)
	// One episode counted per run of failed accepts, not one per failure.
	if episodes < 1 || (failed > 1 && episodes >= failed) {
		t.Errorf("%v exhaustion episodes for %v failed accepts; want one per run of failures", episodes, failed)
	}
	if limit := 8*(1+episodes-episodes0) + math.Ceil(w.Seconds()) + 1; failed-failed0 > limit {
		t.Errorf("%v accepts failed in %v while out of descriptors (the back-off allows %v): it spins", failed-failed0, w.Round(time.Millisecond), limit)
	}

	// Clients leave; esgate accepts again.
	for _, c := range idle {
		c.Close()
	}
	idle = nil
	deadline = time.Now().Add(catchHang)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
			c.SetReadDeadline(time.Now().Add(catchHang))
			b := make([]byte, 12)
			n, _ := io.ReadFull(c, b)
			c.Close()
			if n == 12 && string(b) == "HTTP/1.1 200" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("esgate does not accept again after the idle clients left")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
