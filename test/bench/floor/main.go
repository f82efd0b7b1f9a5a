// Command floor is a measuring stick, not a proxy to run: the least work a
// Go program can do to forward a bulk request from plain HTTP to
// Elasticsearch over TLS with a credential added. docs/performance.md
// runs it beside esgate and nginx in the side-by-side harness to show how
// much of esgate's CPU per request any Go proxy would spend on the same
// machine.
//
// Per client connection it keeps one goroutine, one upstream TLS
// connection (dialed at the first request), a 32 KiB read buffer and a
// 40 KiB write buffer; per request it allocates nothing, builds no header
// map, keeps no metric, sets no deadline and writes the head and the body
// to the upstream in one TLS write when they fit in the buffer. It drops
// the client's Authorization header and adds -auth (default: the
// harness's $BENCH_AUTH).
//
// It reads only what the harness sends and its sink answers: requests and
// answers framed by one Content-Length (or none), one per exchange. Anything else (a
// chunked body, an upstream that closes, a head longer than the read
// buffer) closes the client's connection. It has no timeouts, no
// failover and no limits: never put it in front of a real cluster.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9200", "address to serve plain HTTP on")
	upstream := flag.String("upstream", "", "Elasticsearch's address, host:port or https://host:port (required)")
	caFile := flag.String("ca", "", "PEM file of the CA that signed Elasticsearch's certificate (required)")
	serverName := flag.String("server-name", "localhost", "name to verify on Elasticsearch's certificate")
	auth := flag.String("auth", os.Getenv("BENCH_AUTH"), "Authorization header value to send")
	flag.Parse()
	err := run(*listen, *upstream, *caFile, *serverName, *auth) // returns only on a failure
	fmt.Fprintln(os.Stderr, "floor:", err)
	os.Exit(1)
}

func run(listen, upstream, caFile, serverName, auth string) error {
	if upstream == "" || caFile == "" {
		return fmt.Errorf("-upstream and -ca are required")
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return fmt.Errorf("-ca: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return fmt.Errorf("-ca %s: no PEM certificate in it", caFile)
	}
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	p := &proxy{
		upstream: strings.TrimPrefix(strings.TrimSuffix(upstream, "/"), "https://"),
		tls:      &tls.Config{RootCAs: roots, ServerName: serverName, ClientSessionCache: tls.NewLRUClientSessionCache(64)},
		auth:     auth,
	}
	return p.serve(l)
}
