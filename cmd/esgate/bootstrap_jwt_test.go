package main

import (
	"flag"
	"reflect"
	"strings"
	"testing"

	"github.com/esgate/esgate/auth/bootstrap"
)

// TestJWTFlags: --jwt-kubernetes presets the realm from the issuer, and
// explicit flags override the preset; --jwt-* without --jwt-realm fails.
func TestJWTFlags(t *testing.T) {
	parse := func(args ...string) (*bootstrap.JWT, error) {
		var jf jwtFlags
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		jf.flags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return jf.options()
	}
	j, err := parse("--jwt-realm", "k8s", "--jwt-principal", "system:serviceaccount:logs:ls", "--jwt-kubernetes", "--jwt-issuer", "https://k8s.example/")
	want := &bootstrap.JWT{Realm: "k8s", Principal: "system:serviceaccount:logs:ls", Issuer: "https://k8s.example/", Audiences: []string{"elasticsearch"},
		JWKSet: "https://k8s.example/openid/v1/jwks", Algorithms: []string{"RS256"}, TokenType: "id_token", Kubernetes: true}
	if err != nil || !reflect.DeepEqual(j, want) {
		t.Errorf("preset %+v, %v", j, err)
	}
	j, _ = parse("--jwt-realm", "k8s", "--jwt-principal", "p", "--jwt-kubernetes", "--jwt-issuer", "https://k8s.example",
		"--jwt-audience", "es, other", "--jwt-jwks-url", "k8s-jwks.json", "--jwt-client-authentication", "none", "--jwt-order", "5", "--jwt-role", "r")
	if !reflect.DeepEqual(j.Audiences, []string{"es", "other"}) || j.JWKSet != "k8s-jwks.json" || j.ClientAuthentication != "none" || j.Order != 5 || j.Role != "r" {
		t.Errorf("overrides %+v", j)
	}
	if j, _ := parse("--jwt-realm", "k8s", "--jwt-principal", "p", "--jwt-kubernetes"); j.JWKSet != "" || j.Validate() == nil || !strings.Contains(j.Validate().Error(), "--jwt-issuer") {
		t.Errorf("preset without issuer: %+v", j)
	}
	j, _ = parse("--jwt-realm", "idp", "--jwt-principal", "svc", "--jwt-issuer", "https://idp", "--jwt-audience", "es", "--jwt-algorithms", "HS256,HS512", "--jwt-token-type", "access_token")
	if !reflect.DeepEqual(j.Algorithms, []string{"HS256", "HS512"}) || j.TokenType != "access_token" || j.Kubernetes {
		t.Errorf("generic %+v", j)
	}
	if j, err := parse(); j != nil || err != nil {
		t.Errorf("no flags: %v %v", j, err)
	}
	if _, err := parse("--jwt-principal", "x"); err == nil || !strings.Contains(err.Error(), "--jwt-realm") {
		t.Errorf("--jwt-principal alone: %v", err)
	}
}
