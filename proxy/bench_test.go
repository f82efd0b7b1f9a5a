package proxy_test

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/esgate/esgate/auth"
	"github.com/esgate/esgate/auth/policy"
	"github.com/esgate/esgate/certs"
	"github.com/esgate/esgate/proxy"
	"github.com/esgate/esgate/proxy/h1"
	"github.com/esgate/esgate/proxy/metrics"
	"github.com/esgate/esgate/test/pki"
)

// BenchmarkForwardBulk measures esgate's hot path: a plain-HTTP bulk POST
// in, HTTPS with an API key out, to a sink that discards the body. Sizes are
// the bench harness's: tiny (16.7 KB, one Logstash batch of 125 events as
// it crosses the wire gzipped at level 1; what Logstash really sends), one
// batch uncompressed (~132 KB) and 5 MB. Allocations and bytes per request
// are reported (-benchmem is implied).
func BenchmarkForwardBulk(b *testing.B) {
	ca, _ := pki.NewCA("bench CA")
	leaf, _ := ca.Issue("sink", "ec")
	caFile := filepath.Join(b.TempDir(), "ca.pem")
	os.WriteFile(caFile, ca.CertPEM(), 0o644)
	// The sink answers as ES does to Logstash's filter_path: one small item
	// per event.
	item := []byte(`{"create":{"status":201}},`)
	sink := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.Header().Set("Content-Type", "application/json")
		events := max(int(n)/1000, 1) // Logstash events are about 1 KB
		resp := append([]byte(`{"errors":false,"items":[`), bytes.Repeat(item, events)...)
		resp = append(resp[:len(resp)-1], "]}"...)
		w.Write(resp)
	}))
	sink.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLSCertificate()}}
	sink.StartTLS()
	defer sink.Close()
	line := []byte("{\"create\":{\"_index\":\"logs-checkout-default\"}}\n{\"@timestamp\":\"2026-11-27T12:00:00Z\",\"message\":\"" + strings.Repeat("GET /checkout 200 ", 50) + "\",\"host\":{\"name\":\"web-01\"}}\n")
	// Modes: plain (no metrics); metrics (esgate's default); without bulk
	// parsing; with the default and the ingest policy (their cost); compressing plain bodies
	// at level 1 (compression_level's cost, for clients that send plain).
	// Each is served by esgate's own loop (package h1) on a raw-syscall
	// listener, as esgate serve does; metrics-nethttp serves the default
	// with net/http's server instead, for comparison.
	for _, mode := range []string{"plain", "metrics", "metrics-nethttp", "metrics-nobulkparse", "policy-full", "policy-ingest", "gzip1"} {
		reg := prometheus.NewRegistry()
		front, p := sandwich(b, certs.Options{CAFiles: []string{caFile}}, auth.APIKey("YmVuY2gtaWQ6YmVuY2gtYXBpLWtleQ=="), func(o *proxy.Options) {
			switch mode {
			case "plain":
			case "policy-full": // every route's default
				withPolicy(o, policy.New(policy.Config{}))
			case "policy-ingest":
				withPolicy(o, policy.New(policy.Config{Profile: "ingest"}))
			case "gzip1":
				o.CompressionLevel = 1
			default:
				o.Metrics = metrics.New(reg).Route("bench")
				o.DisableBulkParsing = mode == "metrics-nobulkparse"
			}
		}, sink.URL)
		if mode != "metrics-nethttp" {
			front = h1Front(b, p)
		}
		for _, size := range []int{16737, 132 << 10, 5 << 20} {
			if size != 16737 && (mode == "metrics-nethttp") {
				continue
			}
			body := bytes.Repeat(line, size/len(line)+1)[:size]
			b.Run(fmt.Sprintf("%s/%dKB", mode, len(body)>>10), func(b *testing.B) {
				client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					res, err := client.Post(front+"/_bulk", "application/x-ndjson", bytes.NewReader(body))
					if err != nil {
						b.Fatal(err)
					}
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != 200 {
						b.Fatal(res.Status)
					}
				}
			})
		}
	}
}

// h1Front serves p as esgate serve does on a plain listener.
func h1Front(b *testing.B, p http.Handler) string {
	l, err := proxy.Listen("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := &h1.Server{Handler: p, Fallback: &http.Server{Handler: p}}
	go s.Serve(l)
	b.Cleanup(func() { s.Close() })
	return "http://" + l.Addr().String()
}
