package configs

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/esgate/esgate/auth"
	"github.com/esgate/esgate/auth/token"
	"github.com/esgate/esgate/certs"
)

// validateCredential checks the route's credential and loads it once.
// Credentials: at most one header method, as Logstash's "only use one of
// user/password, cloud_auth or api_key". A client certificate may be
// added to any of them (mutual TLS, with the header authenticating) or be
// the credential on its own (PKI realm).
func (r *Route) validateCredential() error {
	var methods []string
	if r.User != "" || r.Password != "" || r.PasswordFile != "" {
		methods = append(methods, "user/password")
	}
	if r.CloudAuth != "" {
		methods = append(methods, "cloud_auth")
	}
	if r.APIKey != "" || r.APIKeyFile != "" {
		methods = append(methods, "api_key")
	}
	if r.BearerToken != "" || r.BearerTokenFile != "" {
		methods = append(methods, "bearer_token")
	}
	if r.OAuth2TokenURL != "" {
		methods = append(methods, "oauth2_token_url")
	}
	if (r.SSLCertificate == "") != (r.SSLKey == "") {
		return errors.New("ssl_certificate and ssl_key: each needs the other")
	}
	clientCert := r.SSLCertificate != "" || r.SSLKeystorePath != ""
	switch {
	case len(methods) == 0 && !clientCert:
		return errors.New("no credentials: set one of user+password, cloud_auth, api_key, bearer_token, oauth2_token_url, ssl_certificate+ssl_key, or ssl_keystore_path")
	case len(methods) > 1:
		return fmt.Errorf("multiple authentication options are specified (%s): set exactly one (a client certificate may be added to any of them)", strings.Join(methods, ", "))
	}
	if err := r.buildCredential(); err != nil {
		return err
	}
	if err := r.validateTokenCredential(); err != nil {
		return err
	}
	if _, err := r.cred(); err != nil {
		return err
	}
	return nil
}

// buildCredential sets the route's credential loader and its kind from
// the one method configured.
func (r *Route) buildCredential() error {
	switch {
	case r.User != "" || r.Password != "" || r.PasswordFile != "":
		if r.User == "" {
			return errors.New("user: required with password")
		}
		if r.Password == "" && r.PasswordFile == "" {
			return errors.New("password: required with user (or password_file)")
		}
		user := r.User
		read, err := secret("password", r.Password, r.PasswordFile)
		if err != nil {
			return err
		}
		r.authKind = "basic"
		r.cred = func() (auth.Credential, error) {
			p, _, err := read()
			if err != nil {
				return nil, err
			}
			return auth.Basic(user, p), nil
		}
	case r.CloudAuth != "":
		u, p, err := auth.ParseCloudAuth(r.CloudAuth)
		if err != nil {
			return fmt.Errorf("cloud_auth: %w", err)
		}
		r.authKind = "basic"
		r.cred = func() (auth.Credential, error) { return auth.Basic(u, p), nil }
	case r.APIKey != "" || r.APIKeyFile != "":
		read, err := secret("api_key", r.APIKey, r.APIKeyFile)
		if err != nil {
			return err
		}
		r.authKind = "api_key"
		r.cred = func() (auth.Credential, error) {
			k, key, err := read()
			if err != nil {
				return nil, err
			}
			enc, err := auth.ParseAPIKey(k)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
			return auth.APIKey(enc), nil
		}
	case r.BearerToken != "" || r.BearerTokenFile != "":
		read, err := secret("bearer_token", r.BearerToken, r.BearerTokenFile)
		if err != nil {
			return err
		}
		r.authKind = "bearer"
		r.cred = func() (auth.Credential, error) {
			t, key, err := read()
			if err != nil {
				return nil, err
			}
			for _, c := range t {
				if c <= ' ' || c == 0x7f {
					return nil, fmt.Errorf("%s: must not contain white space or control characters", key)
				}
			}
			return auth.Bearer(t), nil
		}
	default: // a client certificate alone: the PKI realm
		r.authKind = "pki"
		r.cred = func() (auth.Credential, error) { return auth.NoHeader("pki"), nil }
	}
	return nil
}

// secret returns a reader for a secret given inline (key) or in a file
// (key_file, re-read on every call so that reloads see a new value). The
// reader also returns the key to name in errors.
func secret(key, inline, file string) (func() (string, string, error), error) {
	if inline != "" && file != "" {
		return nil, fmt.Errorf("%s and %s_file are mutually exclusive", key, key)
	}
	if file == "" {
		return func() (string, string, error) { return inline, key, nil }, nil
	}
	return func() (string, string, error) {
		v, err := auth.ReadSecretFile(file)
		if err != nil {
			return "", key + "_file", fmt.Errorf("%s_file: %w", key, err)
		}
		return v, key + "_file", nil
	}, nil
}

// OAuth2 returns the validated OAuth2 client (nil without
// oauth2_token_url). Its client secret comes from the credential the
// route's CredentialLoader returns (a *token.Configured), so that reloads
// apply it.
func (r *Route) OAuth2() *token.OAuth2Config { return r.oauth2 }

// validateTokenCredential checks the keys of short-lived credentials
// (oauth2_*, jwt_shared_secret*) after buildCredential: it makes the
// credential loader of an oauth2 route, and adds the shared secret to a
// Bearer credential's loader.
func (r *Route) validateTokenCredential() error {
	r.oauth2 = nil
	if r.OAuth2TokenURL == "" {
		for _, k := range []struct {
			key string
			set bool
		}{
			{"oauth2_client_id", r.OAuth2ClientID != ""},
			{"oauth2_client_secret", r.OAuth2ClientSecret != ""},
			{"oauth2_client_secret_file", r.OAuth2ClientSecretFile != ""},
			{"oauth2_scopes", len(r.OAuth2Scopes) > 0},
			{"oauth2_endpoint_params", len(r.OAuth2EndpointParams) > 0},
			{"oauth2_auth_style", r.OAuth2AuthStyle != ""},
			{"oauth2_ssl_certificate_authorities", len(r.OAuth2SSLCertificateAuthorities) > 0},
		} {
			if k.set {
				return fmt.Errorf("%s: needs oauth2_token_url, the token endpoint to get tokens from", k.key)
			}
		}
	} else if err := r.buildOAuth2(); err != nil {
		return err
	}
	if r.JWTSharedSecret == "" && r.JWTSharedSecretFile == "" {
		return nil
	}
	if r.authKind != "oauth2" && r.authKind != "bearer" {
		return errors.New("jwt_shared_secret: it goes beside a JWT sent as Bearer to Elasticsearch's JWT realm: set oauth2_token_url, bearer_token or bearer_token_file as well")
	}
	read, err := secret("jwt_shared_secret", r.JWTSharedSecret, r.JWTSharedSecretFile)
	if err != nil {
		return err
	}
	base := r.cred
	r.cred = func() (auth.Credential, error) {
		c, err := base()
		if err != nil {
			return nil, err
		}
		s, key, err := read()
		if err != nil {
			return nil, err
		}
		for _, ch := range s {
			if ch < ' ' || ch == 0x7f {
				return nil, fmt.Errorf("%s: must not contain control characters (such as a line break)", key)
			}
		}
		if cc, ok := c.(*token.Configured); ok {
			return token.NewConfigured(cc.ClientSecret(), s), nil
		}
		return token.WithSharedSecret(c, s), nil
	}
	return nil
}

func (r *Route) buildOAuth2() error {
	u, err := url.Parse(r.OAuth2TokenURL)
	if err != nil || u.Host == "" {
		return fmt.Errorf("oauth2_token_url: want the token endpoint's https URL, e.g. https://issuer.example/oauth2/token, got %q", redactHost(r.OAuth2TokenURL))
	}
	if u.User != nil {
		return fmt.Errorf("oauth2_token_url %q: credentials in the URL are not allowed: use oauth2_client_id and oauth2_client_secret", u.Redacted())
	}
	switch u.Scheme {
	case "https":
	case "http":
		ip := net.ParseIP(u.Hostname())
		if u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("oauth2_token_url %q: use https: the client secret and the tokens would cross the network in clear (http is accepted on loopback only)", u.Redacted())
		}
	default:
		return fmt.Errorf("oauth2_token_url %q: unsupported scheme %q: use https://", u.Redacted(), u.Scheme)
	}
	if u.Fragment != "" {
		return fmt.Errorf("oauth2_token_url %q: a fragment is not allowed", u.Redacted())
	}
	if r.APIKeyManagement {
		return errors.New("api_key_management: not with oauth2_token_url: the route's tokens are already short-lived; remove one of them")
	}
	if r.OAuth2ClientID == "" {
		return errors.New("oauth2_client_id: required with oauth2_token_url: the client's id at the token endpoint")
	}
	if r.OAuth2ClientSecret == "" && r.OAuth2ClientSecretFile == "" {
		return errors.New("oauth2_client_secret: required with oauth2_token_url (or oauth2_client_secret_file; the keystore and ${VAR} work too)")
	}
	read, err := secret("oauth2_client_secret", r.OAuth2ClientSecret, r.OAuth2ClientSecretFile)
	if err != nil {
		return err
	}
	cfg := &token.OAuth2Config{TokenURL: u.String(), ClientID: r.OAuth2ClientID}
	switch strings.ToLower(r.OAuth2AuthStyle) {
	case "", "basic":
		cfg.AuthStyle = token.AuthBasic
	case "params":
		cfg.AuthStyle = token.AuthParams
	default:
		return fmt.Errorf("oauth2_auth_style: want basic (HTTP Basic, RFC 6749's client_secret_basic) or params (client_id and client_secret in the form), got %q", r.OAuth2AuthStyle)
	}
	for _, s := range r.OAuth2Scopes {
		for _, sc := range splitList(s) {
			if strings.ContainsAny(sc, " \t\r\n\"\\") {
				return fmt.Errorf("oauth2_scopes: %q holds white space or a quote: give each scope as its own list item", sc)
			}
			cfg.Scopes = append(cfg.Scopes, sc)
		}
	}
	if len(r.OAuth2EndpointParams) > 0 {
		cfg.Params = map[string]string{}
	}
	for k, v := range r.OAuth2EndpointParams {
		switch k {
		case "grant_type":
			return errors.New("oauth2_endpoint_params: grant_type is always client_credentials")
		case "scope":
			return errors.New("oauth2_endpoint_params: scope: use oauth2_scopes")
		case "client_id", "client_secret":
			return fmt.Errorf("oauth2_endpoint_params: %s: use oauth2_client_id and oauth2_client_secret (with oauth2_auth_style: params to send them in the form)", k)
		}
		cfg.Params[k] = v
	}
	for _, f := range r.OAuth2SSLCertificateAuthorities {
		if _, err := certs.CertificatesFromPEMFile(f); err != nil {
			return fmt.Errorf("oauth2_ssl_certificate_authorities: %w", err)
		}
	}
	r.oauth2 = cfg
	r.authKind = "oauth2"
	r.cred = func() (auth.Credential, error) {
		s, key, err := read()
		if err != nil {
			return nil, err
		}
		for _, ch := range s {
			if ch < ' ' || ch == 0x7f {
				return nil, fmt.Errorf("%s: must not contain control characters (such as a line break)", key)
			}
		}
		return token.NewConfigured(s, ""), nil
	}
	return nil
}
