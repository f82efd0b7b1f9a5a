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
	"testing"

	"github.com/esgate/esgate/auth"
	"github.com/esgate/esgate/certs"
	"github.com/esgate/esgate/test/pki"
)

// BenchmarkForwardBulk measures esgate's hot path: a plain-HTTP bulk POST
// in, HTTPS with an API key out, to a sink that discards the body. Sizes are
// the bench harness's: one Logstash batch (~132 KB) and 5 MB.
func BenchmarkForwardBulk(b *testing.B) {
	ca, _ := pki.NewCA("bench CA")
	leaf, _ := ca.Issue("sink", "ec")
	caFile := filepath.Join(b.TempDir(), "ca.pem")
	os.WriteFile(caFile, ca.CertPEM(), 0o644)
	sink := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"errors":false,"items":[]}`))
	}))
	sink.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLSCertificate()}}
	sink.StartTLS()
	defer sink.Close()
	front, _ := sandwich(b, certs.Options{CAFiles: []string{caFile}}, auth.APIKey("YmVuY2gtaWQ6YmVuY2gtYXBpLWtleQ=="), nil, sink.URL)
	line := []byte("{\"create\":{\"_index\":\"logs-checkout-default\"}}\n{\"@timestamp\":\"2026-11-27T12:00:00Z\",\"message\":\"GET /checkout 200\",\"host\":{\"name\":\"web-01\"}}\n")
	for _, size := range []int{132 << 10, 5 << 20} {
		body := bytes.Repeat(line, size/len(line))
		b.Run(fmt.Sprintf("%dKB", len(body)>>10), func(b *testing.B) {
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
