// Command esgate-demo shows esgate's main job end to end with no setup: it
// starts the Elasticsearch-compatible test server, creates an API key on it,
// runs `esgate serve` against it, sends Logstash-like events through esgate
// with the official go-elasticsearch client's bulk indexer (plain HTTP, no
// credentials, gzip bodies), and counts what arrived.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esutil"

	"github.com/esgate/esgate/auth/bootstrap"
	"github.com/esgate/esgate/test/esserver"
	"github.com/esgate/esgate/test/load"
)

func main() {
	bin := flag.String("esgate", "bin/esgate", "path to the esgate binary")
	events := flag.Int("events", 5000, "how many events to send")
	esVersion := flag.String("es-version", "8.15.3", "the test server's Elasticsearch version; its major (8 or 9) selects the behaviour")
	flag.Parse()
	if err := demo(*bin, *events, *esVersion); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

func demo(bin string, events int, esVersion string) (err error) {
	dir, err := os.MkdirTemp("", "esgate-demo-")
	if err != nil {
		return err
	}
	// The directory (0700) holds the demo's secrets: after a run that
	// worked only esgate's log and the CA stay; after a failure everything
	// stays for a look.
	var secretFiles []string
	defer func() {
		if err != nil {
			fmt.Fprintf(os.Stderr, "demo files and esgate's log kept in %s\n", dir)
			return
		}
		for _, f := range secretFiles {
			os.Remove(f)
		}
	}()
	fmt.Println("esgate demo: Logstash-style traffic through esgate into a secured Elasticsearch")
	fmt.Println()

	es, err := esserver.Start(esserver.Options{Version: esVersion})
	if err != nil {
		return err
	}
	defer es.Close()
	caFile := filepath.Join(dir, "http_ca.crt")
	if err := es.WriteCA(caFile); err != nil {
		return err
	}
	fmt.Printf("1. Elasticsearch-compatible test server (ES %s, security on, self-signed CA) at %s\n", esVersion, es.URL)
	fmt.Printf("   CA fingerprint (sha256): %s\n", es.CAFingerprint())

	// Provision what Logstash needs with esgate bootstrap, as an operator
	// would; the admin password comes from a file, not the command line.
	pwFile := filepath.Join(dir, "elastic_password")
	secretFiles = append(secretFiles, pwFile)
	if err := os.WriteFile(pwFile, []byte("changeme\n"), 0o600); err != nil {
		return err
	}
	secretsFile := filepath.Join(dir, "esgate.secrets")
	secretFiles = append(secretFiles, secretsFile)
	bargs := []string{"bootstrap", "--hosts", es.URL, "--ssl-certificate-authorities", caFile, "--user", "elastic",
		"--password-file", pwFile, "--secrets-file", secretsFile, "--hostname", "demo"}
	fmt.Printf("2. %s %s\n", bin, strings.Join(bargs, " "))
	bcmd := exec.Command(bin, bargs...)
	bout, err := bcmd.CombinedOutput()
	for _, line := range strings.Split(strings.TrimRight(string(bout), "\n"), "\n") {
		fmt.Println("   " + line)
	}
	if err != nil {
		return fmt.Errorf("esgate bootstrap: %w", err)
	}
	secrets, err := bootstrap.ReadSecrets(secretsFile)
	if err != nil {
		return err
	}
	key := secrets.APIKeys["publish"]
	keyFile := filepath.Join(dir, "publish_api_key")
	secretFiles = append(secretFiles, keyFile)
	if err := os.WriteFile(keyFile, []byte(key.Encoded+"\n"), 0o600); err != nil {
		return err
	}

	listen, err := freeAddr()
	if err != nil {
		return err
	}
	logFile := filepath.Join(dir, "esgate.log")
	lf, err := os.Create(logFile)
	if err != nil {
		return err
	}
	defer lf.Close()
	statusAddr, err := freeAddr()
	if err != nil {
		return err
	}
	args := []string{"serve", "--hosts", es.URL, "--ssl-certificate-authorities", caFile, "--api-key-file", keyFile, "--listen", listen,
		"--status-listen", statusAddr, "--access-log", "off"}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting esgate (build it with `make build`): %w", err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	fmt.Printf("3. Started: %s %s\n", bin, strings.Join(args, " "))
	base := "http://" + listen
	if err := waitReady(base, 10*time.Second); err != nil {
		return fmt.Errorf("esgate did not become ready (log: %s): %w", logFile, err)
	}

	client, err := elasticsearch.NewClient(elasticsearch.Config{
		Addresses:           []string{base},
		CompressRequestBody: true, // gzip bulk bodies, as Logstash sends them
	})
	if err != nil {
		return err
	}
	info, err := client.Info()
	if err != nil {
		return fmt.Errorf("GET / through esgate: %w", err)
	}
	info.Body.Close()
	if info.IsError() {
		return fmt.Errorf("GET / through esgate: %s", info.Status())
	}

	const index = "logstash-demo"
	bi, err := esutil.NewBulkIndexer(esutil.BulkIndexerConfig{Client: client, Index: index, NumWorkers: 2, FlushBytes: 256 << 10})
	if err != nil {
		return err
	}
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < events; i++ {
		ev := load.Event(rng, i, 300)
		err := bi.Add(context.Background(), esutil.BulkIndexerItem{
			Action: "create",
			Body:   bytes.NewReader(ev),
			OnSuccess: func(context.Context, esutil.BulkIndexerItem, esutil.BulkIndexerResponseItem) {
				ok.Add(1)
			},
			OnFailure: func(_ context.Context, _ esutil.BulkIndexerItem, res esutil.BulkIndexerResponseItem, err error) {
				failed.Add(1)
				if err == nil {
					err = fmt.Errorf("%d %s: %s", res.Status, res.Error.Type, res.Error.Reason)
				}
				firstErr.CompareAndSwap(nil, err)
			},
		})
		if err != nil {
			return err
		}
	}
	if err := bi.Close(context.Background()); err != nil {
		return err
	}
	el := time.Since(start)
	st := bi.Stats()
	fmt.Printf("4. Sent %d Logstash-like events through esgate with go-elasticsearch's BulkIndexer\n", events)
	fmt.Printf("   (plain HTTP, no credentials, gzip bodies): %d indexed, %d failed, %d bulk requests, %.2fs (%.0f events/s)\n",
		ok.Load(), failed.Load(), st.NumRequests, el.Seconds(), float64(events)/el.Seconds())
	if e := firstErr.Load(); e != nil {
		fmt.Printf("   first failure: %v\n", e)
	}

	// The publish key cannot read, so count with an admin call straight to
	// the server.
	var cnt struct{ Count int }
	if err := adminCall(es, caFile, "GET", "/"+index+"/_count", "", &cnt); err != nil {
		return err
	}
	fmt.Printf("5. _count on %s: %d documents arrived", index, cnt.Count)
	if cnt.Count == events && failed.Load() == 0 {
		fmt.Println(" (all of them, nothing lost)")
	} else {
		fmt.Println()
		return fmt.Errorf("expected %d documents, found %d", events, cnt.Count)
	}
	res, err := http.Get(base + "/" + index + "/_count")
	if err == nil {
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		fmt.Printf("   the same _count through esgate with the publish key: %s %s\n", res.Status, trim(string(body), 160))
		fmt.Println("   (403: the publish key may write but not read, as the guide intends; esgate passes ES's answer through)")
	}
	if res, err := http.Get("http://" + statusAddr + "/metrics"); err == nil {
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		fmt.Printf("6. esgate's metrics (http://%s/metrics), a few of them:\n", statusAddr)
		for _, line := range strings.Split(string(body), "\n") {
			for _, prefix := range []string{"esgate_bulk_items_total", "esgate_requests_total{", "esgate_upstream_connections_total", "esgate_upstream_up"} {
				if strings.HasPrefix(line, prefix) {
					fmt.Println("   " + line)
				}
			}
		}
	}
	fmt.Println()
	fmt.Println("Next:")
	fmt.Printf("  - esgate's log:            %s\n", logFile)
	fmt.Println("  - try it by hand:           go run ./test/cmd/estestserver   (prints its CA fingerprint; superuser elastic/changeme)")
	fmt.Printf("                              %s check --hosts https://127.0.0.1:19200 --ca-trusted-fingerprint <fp> --user elastic --password changeme\n", bin)
	fmt.Println("  - point Logstash at esgate: output { elasticsearch { hosts => [\"http://127.0.0.1:9200\"] } }   (README: Logstash)")
	return nil
}

func trim(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// adminCall sends an elastic-superuser request straight to the server.
func adminCall(es *esserver.Server, caFile, method, path, body string, out any) error {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	req, _ := http.NewRequest(method, es.URL+path, strings.NewReader(body))
	req.SetBasicAuth("elastic", "changeme")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		return fmt.Errorf("%s %s: %s %s", method, path, res.Status, b)
	}
	return json.Unmarshal(b, out)
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func waitReady(base string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		res, err := http.Get(base + "/")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return nil
			}
			err = fmt.Errorf("GET / answered %s", res.Status)
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
