package e2e

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/esgate/esgate/test/esserver"
	"github.com/esgate/esgate/test/pki"
)

// TestRequestFramingRefused: requests whose framing RFC 9112 says a
// server MUST refuse (both lengths, Transfer-Encoding on HTTP/1.0 or not
// ending in chunked, a Content-Length that is not one number) get a 400 in
// Elasticsearch's shape and a closed connection, on plain and TLS
// listeners alike; the request smuggled behind them never reaches
// Elasticsearch.
func TestRequestFramingRefused(t *testing.T) {
	es, ca := esserver.StartT(t, esserver.Options{})
	var mu sync.Mutex
	var seen []string
	es.OnRequest(func(r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, r.Method+" "+r.URL.Path)
	})
	dir := t.TempDir()
	lca, _ := pki.NewCA("esgate listener")
	srv, _ := lca.Issue("localhost", "ec", pki.WithNames("127.0.0.1"))
	certFile, keyFile := filepath.Join(dir, "l.crt"), filepath.Join(dir, "l.key")
	srv.WriteFiles(certFile, keyFile, "pkcs8", "")
	base := []string{"--hosts", es.URL, "--ssl-certificate-authorities", ca, "--user", "elastic", "--password", "changeme", "--access-log", "off"}
	plain := startEsgate(t, nil, base...)
	tlsp := startEsgate(t, nil, append(base, "--listen-ssl-certificate", certFile, "--listen-ssl-key", keyFile)...)
	pool := x509.NewCertPool()
	pool.AddCert(lca.Cert)
	dial := map[string]func() (net.Conn, error){
		"plain": func() (net.Conn, error) { return net.Dial("tcp", plain.addr) },
		"TLS": func() (net.Conn, error) {
			return tls.Dial("tcp", tlsp.addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
		},
	}
	const host = "Host: 127.0.0.1\r\n"
	smuggle := "GET /_smuggled HTTP/1.1\r\n" + host + "\r\n"
	cases := []struct{ name, raw string }{
		{"Content-Length and chunked", "POST /x/_bulk HTTP/1.1\r\n" + host + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggle},
		{"chunked and Content-Length, after a good request", "GET / HTTP/1.1\r\n" + host + "\r\n" +
			"POST /x/_bulk HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n" + smuggle},
		{"HTTP/1.0 with Transfer-Encoding", "POST /x/_bulk HTTP/1.0\r\n" + host + "Connection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggle},
		{"Transfer-Encoding not ending in chunked", "POST /x/_bulk HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n" + smuggle},
		{"two Content-Lengths", "POST /x/_bulk HTTP/1.1\r\n" + host + "Content-Length: 0\r\nContent-Length: 38\r\n\r\n" + smuggle},
	}
	for listener, d := range dial {
		for _, tc := range cases {
			t.Run(listener+"/"+tc.name, func(t *testing.T) {
				c, err := d()
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(catchHang))
				io.WriteString(c, tc.raw)
				br := bufio.NewReader(c)
				var last *http.Response
				var body []byte
				for {
					res, err := http.ReadResponse(br, nil)
					if err != nil {
						break
					}
					body, _ = io.ReadAll(res.Body)
					last = res
				}
				if last == nil || last.StatusCode != 400 {
					t.Fatalf("last answer %+v", last)
				}
				var e struct {
					Error struct {
						Type, Reason string
					}
					Status int
				}
				if json.Unmarshal(body, &e) != nil || e.Error.Type != "esgate_bad_request_exception" || e.Status != 400 || !last.Close {
					t.Errorf("answer %q (close %v)", body, last.Close)
				}
				// The connection is closed: nothing more comes.
				if _, err := br.ReadByte(); err == nil {
					t.Error("the connection stayed open")
				}
			})
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, r := range seen {
		if strings.Contains(r, "_smuggled") || strings.Contains(r, "_bulk") {
			t.Errorf("Elasticsearch received %s", r)
		}
	}
}
