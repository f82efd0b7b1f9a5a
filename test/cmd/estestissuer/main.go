// Command estestissuer runs esgate's test token issuer standalone (package
// test/issuer): an HTTPS OAuth2 client-credentials token endpoint issuing
// JWTs, its JWKS and OIDC discovery document, and optionally a
// Kubernetes-shaped projected token directory rotated on a schedule. It
// writes its CA certificate and, with -realm-out, the JWT realm settings
// that trust it, for estestserver -jwt-realm:
//
//	estestissuer -client logstash:s3cret -lifetime 3s -realm-out jwt1.yml &
//	estestserver -jwt-realm jwt1.yml
//
// SIGUSR1 takes the token endpoint down (503), SIGUSR2 brings it back;
// SIGINT/SIGTERM stop.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/esgate/esgate/test/issuer"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:19300", "address to serve HTTPS on")
	caOut := flag.String("ca-out", "issuer_ca.crt", "where to write the issuer's CA certificate PEM")
	alg := flag.String("alg", "RS256", "signing algorithm of issued tokens: RS256 or HS256")
	hmacKey := flag.String("hmac-key", "", "HS256 key (default: random, written into -realm-out)")
	lifetime := flag.Duration("lifetime", time.Hour, "lifetime of issued tokens")
	audience := flag.String("audience", "elasticsearch", "aud of tokens requested without an audience parameter")
	omitExpiresIn := flag.Bool("omit-expires-in", false, "leave expires_in out of token responses (clients must read the JWT's exp)")
	realmOut := flag.String("realm-out", "", "write elasticsearch.yml-style JWT realm settings trusting this issuer to this file")
	realmName := flag.String("realm-name", "jwt1", "realm name in -realm-out")
	skew := flag.String("clock-skew", "0s", "allowed_clock_skew in -realm-out (Elasticsearch's default 60s hides expiry bugs)")
	projectDir := flag.String("project-dir", "", "also write Kubernetes projected service-account tokens into this directory (token -> ..data/token)")
	projectLifetime := flag.Duration("project-lifetime", 6*time.Second, "lifetime of projected tokens")
	projectEvery := flag.Duration("project-every", 2*time.Second, "rotate projected tokens this often")
	var clients []string
	flag.Func("client", "register a client as id:secret, repeatable (default logstash:s3cret)", func(v string) error {
		if !strings.Contains(v, ":") {
			return fmt.Errorf("want id:secret")
		}
		clients = append(clients, v)
		return nil
	})
	flag.Parse()
	if len(clients) == 0 {
		clients = []string{"logstash:s3cret"}
	}
	s, err := issuer.Start(issuer.Options{Addr: *addr, Algorithm: *alg, HMACKey: *hmacKey, Lifetime: *lifetime, Audience: *audience, OmitExpiresIn: *omitExpiresIn})
	if err != nil {
		fail(err)
	}
	defer s.Close()
	for _, c := range clients {
		id, secret, _ := strings.Cut(c, ":")
		s.AddClient(id, secret)
	}
	ca, err := filepath.Abs(*caOut)
	if err == nil {
		err = s.WriteCA(ca)
	}
	if err != nil {
		fail(fmt.Errorf("writing CA: %w", err))
	}
	if *realmOut != "" {
		settings := s.RealmSettings(ca)
		settings["allowed_clock_skew"] = *skew
		b, err := issuer.RealmYAML(*realmName, settings)
		if err == nil {
			err = os.WriteFile(*realmOut, b, 0o600)
		}
		if err != nil {
			fail(fmt.Errorf("writing realm settings: %w", err))
		}
	}
	var p *issuer.Projected
	if *projectDir != "" {
		p, err = s.Project(issuer.ProjectedOptions{Dir: *projectDir, Lifetime: *projectLifetime, Every: *projectEvery})
		if err != nil {
			fail(err)
		}
		defer p.Stop()
	}
	fmt.Printf("test token issuer (%s) on %s\n", *alg, s.URL)
	fmt.Printf("token endpoint: %s\nJWKS: %s\nissuer: %s\nCA certificate: %s\n", s.TokenURL, s.JWKSURL, s.Issuer(), ca)
	if *realmOut != "" {
		fmt.Printf("realm settings: %s\n", *realmOut)
	}
	if p != nil {
		fmt.Printf("projected token: %s (%s)\n", p.TokenPath(), p.Subject())
	}
	fmt.Println("ready")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGUSR1, syscall.SIGUSR2)
	for v := range sig {
		switch v {
		case syscall.SIGUSR1:
			s.SetState(issuer.Unavailable)
			fmt.Println("token endpoint down (503)")
		case syscall.SIGUSR2:
			s.SetState(issuer.Up)
			fmt.Println("token endpoint up")
		default:
			return
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "error:", err)
	os.Exit(1)
}
