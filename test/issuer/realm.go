package issuer

import (
	"go.yaml.in/yaml/v3"
)

// RealmSettings are the settings (keys under
// xpack.security.authc.realms.jwt.<name>.) of a JWT realm that trusts
// this issuer's token endpoint: order 2, id_token, allowed_issuer,
// allowed_audiences [Options.Audience], claims.principal sub,
// client_authentication none, and for RS256 the JWKS URL trusted through
// caPath, for HS256 the hmac_key. Elasticsearch's defaults stay for the
// rest (allowed_clock_skew 60s): set "allowed_clock_skew": "0s" to see
// expiry bugs.
func (s *Server) RealmSettings(caPath string) map[string]any {
	m := map[string]any{
		"order":                        2,
		"token_type":                   "id_token",
		"allowed_issuer":               s.opts.Issuer,
		"allowed_audiences":            []string{s.opts.Audience},
		"allowed_signature_algorithms": []string{s.opts.Algorithm},
		"claims.principal":             "sub",
		"client_authentication.type":   "none",
	}
	if s.opts.Algorithm == "HS256" {
		m["hmac_key"] = s.opts.HMACKey
	} else {
		m["pkc_jwkset_path"] = s.JWKSURL
		if caPath != "" {
			m["ssl.certificate_authorities"] = []string{caPath}
		}
	}
	return m
}

// RealmYAML renders settings as elasticsearch.yml lines
// (xpack.security.authc.realms.jwt.<name>.<key>: value), the form
// estestserver -jwt-realm reads.
func RealmYAML(name string, settings map[string]any) ([]byte, error) {
	full := make(map[string]any, len(settings))
	for k, v := range settings {
		full["xpack.security.authc.realms.jwt."+name+"."+k] = v
	}
	return yaml.Marshal(full)
}
