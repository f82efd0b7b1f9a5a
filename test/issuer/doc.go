// Package issuer is a token issuer for esgate's tests and demo, so that
// short-lived identity credentials can be tested with nothing external:
//
//   - an OAuth2 token endpoint (RFC 6749 §4.4 client credentials, form
//     body, client_secret_basic with form-url-encoded id:secret or
//     client_secret_post, §5.2 errors, Cache-Control: no-store) issuing
//     JWTs signed RS256 or HS256 with iss, sub (the client id), aud (the
//     audience parameter or Options.Audience), iat, nbf, exp and jti;
//   - a JWKS (GET /jwks.json, also /openid/v1/jwks) and an OIDC discovery
//     document (/.well-known/openid-configuration) pointing at it;
//   - a switch that takes the token endpoint down (SetState: Unavailable
//     answers 503, Refuse closes the connection) and brings it back, and
//     counters of tokens issued per client;
//   - a Kubernetes-shaped issuer (Project) writing projected
//     service-account token files with the kubelet's ..data symlink swap,
//     rotated on demand and on a schedule;
//   - Sign, JWK and JWKS to build any token a test needs, valid or not.
//
// Chosen rather than found: invalid_client answers 401 with a Basic
// challenge when the client used the Authorization header and 400
// otherwise; a downed endpoint answers temporarily_unavailable; the RSA
// key's kid is the Kubernetes key id for every token; token responses have
// token_type "Bearer" and no refresh token (RFC 6749 §4.4.3).
//
// Usage with the test server's JWT realm (esserver.JWTStats counts what
// reached it, Issued what was issued):
//
//	iss, issCA := issuer.StartT(t, issuer.Options{Lifetime: 3 * time.Second})
//	iss.AddClient("logstash", "s3cret")
//	realm := iss.RealmSettings(issCA) // allowed_issuer, audiences, JWKS URL and its CA, claims.principal sub
//	realm["allowed_clock_skew"] = "0s"
//	es, esCA := esserver.StartT(t, esserver.Options{JWTRealms: []esserver.JWTRealm{{Name: "jwt1", Settings: realm}}})
//	es.PutRoleMapping("logstash", esserver.RoleMapping{Roles: []string{"superuser"}, Enabled: true,
//		Rules: map[string]any{"field": map[string]any{"username": "logstash"}}})
//	// esgate's route: oauth2_token_url => iss.TokenURL, oauth2_client_id => "logstash",
//	// oauth2_client_secret => "s3cret", oauth2_ssl_certificate_authorities => issCA;
//	// ssl_certificate_authorities => esCA.
//	iss.SetState(issuer.Unavailable) // the issuer is down (503); issuer.Refuse closes connections
//	iss.SetState(issuer.Up)          // and back
//	_ = es.JWTStats().ExpiredOnArrival // 0: no expired token reached Elasticsearch
//	_ = iss.Issued("logstash")         // tokens issued to the client
//
// A shared secret (client_authentication.type shared_secret) and its
// rotation: set "client_authentication.shared_secret" in the realm
// settings; later es.SetSecureSetting("xpack.security.authc.realms.jwt.jwt1.client_authentication.shared_secret", "new")
// and es.ReloadSecureSettings() (or POST /_nodes/reload_secure_settings);
// the old secret stays valid for rotation_grace_period (1m).
//
// Kubernetes projected tokens (6-second tokens rotated every 2 s):
//
//	p, _ := iss.Project(issuer.ProjectedOptions{Dir: dir, Lifetime: 6 * time.Second, Every: 2 * time.Second})
//	defer p.Stop()
//	// bearer_token_file => p.TokenPath(); realm: allowed_issuer iss.Issuer(),
//	// allowed_audiences ["elasticsearch"], claims.principal "sub" (p.Subject()).
package issuer
