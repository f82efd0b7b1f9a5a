// Command estestserver runs esgate's Elasticsearch 8-compatible test server
// standalone: it generates a CA like ES 8, prints its SHA-256 fingerprint,
// writes the CA PEM, and serves until SIGINT/SIGTERM.
//
// -fault injects misbehaviour for load and retry tests, e.g.
//
//	estestserver -fault path=_bulk,item_status=429,item_every=20   # every 20th bulk item rejected
//	estestserver -fault path=_bulk,status=429,count=5              # 5 bulks rejected whole
//	estestserver -fault delay=2s                                   # every request 2 s slow
//
// -jwt-realm adds JWT realms from an elasticsearch.yml-style file (keys
// xpack.security.authc.realms.jwt.<name>.*, secure settings in the same
// file), e.g. one written by estestissuer -realm-out.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/esgate/esgate/test/esserver"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:19200", "address to serve HTTPS on")
	ver := flag.String("version", "8.15.3", "Elasticsearch version to report; its major selects the behaviour: 8.x (compatible-with 7 and 8) or 9.x (compatible-with 8 and 9, the 9.x GET /, deprecated legacy templates); below 8.15: old WWW-Authenticate format")
	pw := flag.String("elastic-password", "changeme", "password of the built-in elastic superuser")
	caOut := flag.String("ca-out", "http_ca.crt", "where to write the CA certificate PEM")
	requireCert := flag.Bool("require-client-cert", false, "refuse TLS clients without a certificate from the CA (client_authentication: required)")
	var faults []esserver.Fault
	flag.Func("fault", "inject a fault, repeatable: key=value pairs of path, count, delay, status, close_mid_response, item_status, item_every", func(spec string) error {
		f, err := esserver.ParseFault(spec)
		if err == nil {
			faults = append(faults, f)
		}
		return err
	})
	var realms []esserver.JWTRealm
	flag.Func("jwt-realm", "add the JWT realms of an elasticsearch.yml-style file (xpack.security.authc.realms.jwt.<name>.* keys), repeatable", func(path string) error {
		r, err := esserver.ParseJWTRealmsFile(path)
		realms = append(realms, r...)
		return err
	})
	flag.Parse()
	s, err := esserver.Start(esserver.Options{Addr: *addr, Version: *ver, ElasticPassword: *pw, RequireClientCert: *requireCert, JWTRealms: realms})
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	for _, f := range faults {
		s.AddFault(f)
	}
	if err := s.WriteCA(*caOut); err != nil {
		fmt.Fprintln(os.Stderr, "error: writing CA:", err)
		os.Exit(1)
	}
	fmt.Printf("Elasticsearch-compatible test server %s on %s\n", *ver, s.URL)
	fmt.Printf("CA certificate: %s\nCA SHA-256 fingerprint: %s\nsuperuser: elastic / %s\n", *caOut, s.CAFingerprint(), *pw)
	for _, r := range realms {
		fmt.Printf("JWT realm: %s\n", r.Name)
	}
	if len(faults) > 0 {
		fmt.Printf("faults injected: %d\n", len(faults))
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	s.Close()
}
