package main

import (
	"errors"
	"flag"
	"strings"

	"github.com/esgate/esgate/auth/bootstrap"
)

// jwtFlags are bootstrap's --jwt-* flags: a JWT realm's principal to map
// to a role, and the realm's elasticsearch.yml block to print.
type jwtFlags struct {
	realm, principal, role             string
	issuer, audience, jwks, algorithms string
	tokenType, clientAuthentication    string
	order                              int
	kubernetes                         bool
}

func (jf *jwtFlags) flags(fs *flag.FlagSet) {
	fs.StringVar(&jf.realm, "jwt-realm", "", "map this JWT realm's principal (--jwt-principal) to a role through the role-mapping API, and print the realm's elasticsearch.yml block; provisions only roles and the mapping unless --only says more (default none)")
	fs.StringVar(&jf.principal, "jwt-principal", "", "with --jwt-realm: the tokens' sub claim, e.g. system:serviceaccount:logs:logstash (default none)")
	fs.StringVar(&jf.role, "jwt-role", "", "with --jwt-realm: the role the principal gets (default: the writer role, --writer-role)")
	fs.StringVar(&jf.issuer, "jwt-issuer", "", "with --jwt-realm: allowed_issuer, the tokens' exact iss claim (with --jwt-kubernetes: the cluster's service-account issuer) (default none)")
	fs.StringVar(&jf.audience, "jwt-audience", "", "with --jwt-realm: allowed_audiences, comma-separated (default with --jwt-kubernetes: elasticsearch)")
	fs.StringVar(&jf.jwks, "jwt-jwks-url", "", "with --jwt-realm: pkc_jwkset_path, the issuer's JWKS: an https URL or a file in Elasticsearch's config directory (default with --jwt-kubernetes: <issuer>/openid/v1/jwks)")
	fs.StringVar(&jf.algorithms, "jwt-algorithms", "", "with --jwt-realm: allowed_signature_algorithms, comma-separated (default RS256)")
	fs.StringVar(&jf.tokenType, "jwt-token-type", "", "with --jwt-realm: token_type, id_token or access_token (default id_token)")
	fs.StringVar(&jf.clientAuthentication, "jwt-client-authentication", "", "with --jwt-realm: client_authentication.type, shared_secret (esgate sends jwt_shared_secret) or none (default shared_secret)")
	fs.IntVar(&jf.order, "jwt-order", 0, "with --jwt-realm: the realm's order, unique among the cluster's realms (default 2)")
	fs.BoolVar(&jf.kubernetes, "jwt-kubernetes", false, "with --jwt-realm: the issuer is a Kubernetes cluster's (projected service-account tokens): audience elasticsearch, JWKS <issuer>/openid/v1/jwks, RS256, claims.principal sub, token_type id_token")
}

// options returns the JWT realm the flags describe (nil without --jwt-realm).
func (jf *jwtFlags) options() (*bootstrap.JWT, error) {
	if jf.realm == "" {
		if jf.principal != "" || jf.role != "" || jf.issuer != "" || jf.audience != "" || jf.jwks != "" || jf.algorithms != "" ||
			jf.tokenType != "" || jf.clientAuthentication != "" || jf.order != 0 || jf.kubernetes {
			return nil, errors.New("--jwt-*: give the realm's name with --jwt-realm")
		}
		return nil, nil
	}
	j := &bootstrap.JWT{Realm: jf.realm, Principal: jf.principal, Issuer: jf.issuer}
	if jf.kubernetes {
		k := bootstrap.KubernetesJWT(jf.realm, jf.principal, jf.issuer)
		j = &k
	}
	if jf.issuer == "" {
		j.JWKSet = "" // the preset's JWKS follows the issuer, which Validate asks for
	}
	j.Role, j.Order, j.TokenType, j.ClientAuthentication = jf.role, jf.order, jwtOr(jf.tokenType, j.TokenType), jf.clientAuthentication
	if jf.audience != "" {
		j.Audiences = jwtList(jf.audience)
	}
	if jf.jwks != "" {
		j.JWKSet = jf.jwks
	}
	if jf.algorithms != "" {
		j.Algorithms = jwtList(jf.algorithms)
	}
	return j, nil
}

func jwtOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// jwtList splits a comma-separated flag value, dropping empty items.
func jwtList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
