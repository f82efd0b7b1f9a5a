package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/esgate/esgate/test/esserver"
)

// cpuTime is a process's user and system CPU time, from /proc.
func cpuTime(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * (time.Second / 100) // USER_HZ
}

// TestFDLimitExhaustion: with ulimit -n exhausted by idle clients, esgate
// keeps serving the connections it has, counts one exhaustion episode
// (logged once) however many accepts fail, does not spin, and accepts
// again once clients leave.
func TestFDLimitExhaustion(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	es, ca := esserver.StartT(t, esserver.Options{})
	addr, statusAddr := freePort(t), freePort(t)
	p := &proc{out: &syncBuffer{}, addr: addr, URL: "http://" + addr, done: make(chan error, 1)}
	p.cmd = exec.Command("bash", "-c", `ulimit -n 48 && exec "$0" "$@"`, esgateBin, "serve", "--listen", addr, "--status-listen", statusAddr,
		"--hosts", es.URL, "--ssl-certificate-authorities", ca, "--user", "elastic", "--password", "changeme", "--access-log", "off")
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
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: 5 * time.Second}
	get := func(url string) (int, string, error) {
		res, err := client.Get(url)
		if err != nil {
			return 0, "", err
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b), nil
	}
	deadline := time.Now().Add(10 * time.Second)
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
	deadline = time.Now().Add(10 * time.Second)
	for metric(`esgate_accept_errors_total{reason="fd_limit"`) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no accept failed with 100 idle clients and ulimit -n 48")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cpu0 := cpuTime(t, p.cmd.Process.Pid)
	time.Sleep(2 * time.Second) // measuring the CPU a spinning accept loop would burn
	spent := cpuTime(t, p.cmd.Process.Pid) - cpu0

	// The existing connection is still served.
	if code, _, err := get(p.URL + "/"); err != nil || code != 200 {
		t.Errorf("the existing client while out of descriptors: %d %v", code, err)
	}
	failed, episodes := metric(`esgate_accept_errors_total{reason="fd_limit"`), metric("esgate_listener_fd_exhaustions_total")
	t.Logf("out of descriptors: %v failed accepts, %v episode(s), %v CPU in 2 s", failed, episodes, spent)
	if episodes != 1 {
		t.Errorf("%v exhaustion episodes; want one", episodes)
	}
	if spent > 300*time.Millisecond {
		t.Errorf("esgate used %v of CPU in 2 s while out of descriptors: it spins", spent)
	}

	// Clients leave; esgate accepts again.
	for _, c := range idle {
		c.Close()
	}
	idle = nil
	deadline = time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
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
