// Command esgate-connscale measures a proxy under many keep-alive clients,
// as a Logstash with many pipelines or a shared host-local esgate holds
// them: -idle clients that connect, send one request and stay idle, and
// -active clients that send Logstash-sized gzip bulks open-loop at -rate
// requests per second in all. It runs esgate and, when installed, nginx
// in front of the project's test server (in this process), one after the
// other, and reports each proxy's resident memory and file descriptors
// (its whole process tree) with every client connected, and the active
// clients' latency percentiles. With -tls the clients speak TLS to the
// proxy (esgate's front door; nginx's ssl listener).
//
// It is a benchmark (make bench-conns), not a test: its numbers go to
// docs/performance.md. Everything runs on 127.0.0.1 and stops by itself.
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/esgate/esgate/test/esserver"
	"github.com/esgate/esgate/test/pki"
)

func main() {
	bin := flag.String("esgate", "bin/esgate", "path to the esgate binary")
	idle := flag.Int("idle", 2000, "idle keep-alive clients")
	active := flag.Int("active", 20, "active clients sending bulks")
	rate := flag.Float64("rate", 100, "bulk requests per second, all active clients together (open loop)")
	dur := flag.Duration("duration", 15*time.Second, "how long the active clients send")
	useTLS := flag.Bool("tls", false, "clients speak TLS to the proxy")
	targets := flag.String("targets", "esgate,nginx", "proxies to measure, comma-separated")
	flag.Parse()
	if err := run(*bin, *idle, *active, *rate, *dur, *useTLS, strings.Split(*targets, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "esgate-connscale:", err)
		os.Exit(1)
	}
}

type env struct {
	es                 *esserver.Server
	dir, ca, key, auth string
	cert, certKey      string
	clientTLS          *tls.Config
	body               []byte
}

func run(bin string, idle, active int, rate float64, dur time.Duration, useTLS bool, targets []string) error {
	dir, err := os.MkdirTemp("", "esgate-connscale-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	es, err := esserver.Start(esserver.Options{})
	if err != nil {
		return err
	}
	defer es.Close()
	e := &env{es: es, dir: dir, ca: filepath.Join(dir, "es-ca.pem")}
	es.WriteCA(e.ca)
	_, _, e.key = es.CreateAPIKey("elastic", "connscale", 0, nil)
	e.auth = "ApiKey " + e.key
	if useTLS {
		lca, _ := pki.NewCA("connscale listener")
		leaf, _ := lca.Issue("localhost", "ec", pki.WithNames("127.0.0.1"))
		e.cert, e.certKey = filepath.Join(dir, "l.crt"), filepath.Join(dir, "l.key")
		leaf.WriteFiles(e.cert, e.certKey, "pkcs8", "")
		pool := x509.NewCertPool()
		pool.AddCert(lca.Cert)
		e.clientTLS = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	}
	e.body = bulkBody()
	fmt.Printf("%d idle + %d active keep-alive clients, %.0f bulks/s of %d bytes (gzip, 125 events) for %v, TLS to the proxy: %v\n\n",
		idle, active, rate, len(e.body), dur, useTLS)
	fmt.Println("| proxy | RSS before | RSS with all clients | fds before | fds with all clients | p50 | p99 | max | bulks ok / sent |")
	fmt.Println("|---|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, t := range targets {
		r, err := measure(e, t, bin, idle, active, rate, dur, useTLS)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", t, err)
			continue
		}
		fmt.Printf("| %s | %.1f MiB | %.1f MiB | %d | %d | %.1f ms | %.1f ms | %.1f ms | %d / %d |\n", t, r.rss0, r.rss1, r.fds0, r.fds1,
			ms(r.p50), ms(r.p99), ms(r.max), r.ok, r.sent)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

type result struct {
	rss0, rss1    float64
	fds0, fds1    int
	p50, p99, max time.Duration
	ok, sent      int
}

func measure(e *env, target, bin string, idle, active int, rate float64, dur time.Duration, useTLS bool) (*result, error) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	var cmd *exec.Cmd
	switch target {
	case "esgate":
		args := []string{"serve", "--listen", addr, "--hosts", e.es.URL, "--ssl-certificate-authorities", e.ca, "--api-key", e.key,
			"--access-log", "off", "--log-level", "warn", "--status-listen", "off"}
		if useTLS {
			args = append(args, "--listen-ssl-certificate", e.cert, "--listen-ssl-key", e.certKey)
		}
		cmd = exec.Command(bin, args...)
	case "nginx":
		path, err := exec.LookPath("nginx")
		if err != nil {
			return nil, fmt.Errorf("not installed")
		}
		conf, err := nginxConf(e, addr, useTLS)
		if err != nil {
			return nil, err
		}
		cmd = exec.Command(path, "-p", filepath.Dir(conf), "-c", conf, "-e", "stderr", "-g", "daemon off;")
	default:
		return nil, fmt.Errorf("unknown target")
	}
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}()
	scheme := "http"
	if useTLS {
		scheme = "https"
	}
	url := scheme + "://" + addr
	readyClient := &http.Client{Transport: &http.Transport{TLSClientConfig: e.clientTLS}, Timeout: 2 * time.Second}
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := readyClient.Get(url + "/")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("not ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	readyClient.CloseIdleConnections()
	r := &result{}
	r.rss0, r.fds0 = tree(cmd.Process.Pid)

	// Idle clients: one request each on its own connection, then quiet.
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < idle; i++ {
		c, err := dial(addr, e.clientTLS)
		if err != nil {
			return nil, fmt.Errorf("idle client %d: %w", i, err)
		}
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		res, err := http.ReadResponse(bufioReader(c), nil)
		if err != nil {
			return nil, fmt.Errorf("idle client %d: %w", i, err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		c.SetReadDeadline(time.Time{})
		conns = append(conns, c)
	}

	// Active clients, open loop: each request at its scheduled time on the
	// next free client; latency from the schedule.
	tr := &http.Transport{TLSClientConfig: e.clientTLS, MaxIdleConnsPerHost: active, MaxConnsPerHost: active, DisableCompression: true}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	var peakRSS float64
	var peakFDs int
	stopSample := make(chan struct{})
	go func() {
		for {
			select {
			case <-stopSample:
				return
			case <-time.After(500 * time.Millisecond):
			}
			rss, fds := tree(cmd.Process.Pid)
			mu.Lock()
			peakRSS, peakFDs = max(peakRSS, rss), max(peakFDs, fds)
			mu.Unlock()
		}
	}()
	for k := 0; time.Since(start) < dur; k++ {
		at := start.Add(time.Duration(k) * interval)
		time.Sleep(time.Until(at))
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", url+"/_bulk?filter_path=errors,items.*.error,items.*.status", bytes.NewReader(e.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Content-Encoding", "gzip")
			res, err := client.Do(req)
			okay := false
			if err == nil {
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				okay = res.StatusCode == 200 && bytes.Contains(b, []byte(`"errors":false`))
			}
			mu.Lock()
			defer mu.Unlock()
			r.sent++
			if okay {
				r.ok++
				lat = append(lat, time.Since(at))
			}
		}()
	}
	wg.Wait()
	close(stopSample)
	tr.CloseIdleConnections()
	rss, fds := tree(cmd.Process.Pid)
	r.rss1, r.fds1 = max(peakRSS, rss), max(peakFDs, fds)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if n := len(lat); n > 0 {
		r.p50, r.p99, r.max = lat[n/2], lat[n*99/100], lat[n-1]
	}
	return r, nil
}

func dial(addr string, cfg *tls.Config) (net.Conn, error) {
	if cfg != nil {
		return tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	}
	return net.DialTimeout("tcp", addr, 5*time.Second)
}

// tree sums resident memory (MiB) and open descriptors over pid and its
// children (nginx's workers).
func tree(pid int) (rssMiB float64, fds int) {
	pids := []int{pid}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		if ppid, _ := strconv.Atoi(f[1]); ppid == pid {
			pids = append(pids, p)
		}
	}
	for _, p := range pids {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p)); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
					kb, _ := strconv.Atoi(strings.Fields(v)[0])
					rssMiB += float64(kb) / 1024
				}
			}
		}
		if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p)); err == nil {
			fds += len(ents)
		}
	}
	return rssMiB, fds
}

// bulkBody is one Logstash batch: 125 ECS-like events, gzip level 1.
func bulkBody() []byte {
	var raw bytes.Buffer
	for i := 0; i < 125; i++ {
		fmt.Fprintf(&raw, `{"create":{"_id":null,"_index":"connscale","routing":null}}`+"\n"+
			`{"@timestamp":"2026-12-03T12:00:%02d.000Z","@version":"1","message":"GET /api/v1/items/%d HTTP/1.1 200 %d \"-\" \"Mozilla/5.0\"","host":{"name":"web-%02d"},"event":{"original":"x","duration":%d},"log":{"file":{"path":"/var/log/nginx/access.log"}}}`+"\n",
			i%60, i*7919%100000, 200+i*31%5000, i%16, i*104729%1000000)
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, 1)
	zw.Write(raw.Bytes())
	zw.Close()
	return gz.Bytes()
}

// nginxConf writes a config of nginx as the credential-adding proxy, as
// shared/bench's harness runs it, sized for many clients.
func nginxConf(e *env, addr string, useTLS bool) (string, error) {
	d := filepath.Join(e.dir, "nginx")
	os.MkdirAll(filepath.Join(d, "tmp"), 0o755)
	_, port, _ := net.SplitHostPort(addr)
	listen := "listen 127.0.0.1:" + port + ";"
	if useTLS {
		listen = "listen 127.0.0.1:" + port + " ssl; ssl_certificate " + e.cert + "; ssl_certificate_key " + e.certKey + ";"
	}
	conf := fmt.Sprintf(`worker_processes auto;
worker_rlimit_nofile 16384;
pid %[1]s/nginx.pid;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path %[1]s/tmp/body;
  proxy_temp_path %[1]s/tmp/proxy;
  fastcgi_temp_path %[1]s/tmp/fastcgi;
  uwsgi_temp_path %[1]s/tmp/uwsgi;
  scgi_temp_path %[1]s/tmp/scgi;
  keepalive_timeout 120s;
  keepalive_requests 100000;
  upstream es {
    server %[2]s;
    keepalive 32;
  }
  server {
    %[3]s
    client_max_body_size 0;
    client_body_buffer_size 128k;
    location / {
      proxy_pass https://es;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "%[4]s";
      proxy_request_buffering off;
      proxy_ssl_verify on;
      proxy_ssl_trusted_certificate %[5]s;
      proxy_ssl_name localhost;
      proxy_ssl_server_name on;
    }
  }
}
`, d, e.es.Addr(), listen, e.auth, e.ca)
	path := filepath.Join(d, "nginx.conf")
	return path, os.WriteFile(path, []byte(conf), 0o644)
}

func bufioReader(c net.Conn) *bufio.Reader { return bufio.NewReaderSize(c, 4096) }
