package route

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/esgate/esgate/auth"
	"github.com/esgate/esgate/auth/token"
	"github.com/esgate/esgate/certs"
	"github.com/esgate/esgate/configs"
	"github.com/esgate/esgate/proxy/metrics"
)

// firstTokenTimeout bounds getting a route's first token at start.
const firstTokenTimeout = 30 * time.Second

// newProvider builds the credential of one state of a route: an OAuth2
// client (oauth2_token_url) or a JWT in bearer_token_file, each a
// *token.Provider that already holds its first token and that the route
// runs while the state is in force; otherwise the credential read from
// the configuration (password, API key, token, their files, or none with
// PKI) as an *auth.Source. A bearer_token_file that holds no JWT is a
// configured credential, as before. A reload that keeps the token
// settings keeps the provider (see Route.provider).
func newProvider(cfg *configs.Route, o Options, m *metrics.Route) (auth.Provider, error) {
	load := cfg.CredentialLoader()
	oc := cfg.OAuth2()
	jwtFile := false
	if oc == nil && cfg.BearerTokenFile != "" {
		_, err := token.ReadJWTFile(cfg.BearerTokenFile, time.Now)
		jwtFile = err == nil
	}
	if oc == nil && !jwtFile {
		return auth.NewSource(load)
	}
	configured, err := load()
	if err != nil {
		return nil, err
	}
	log := o.Log
	if log != nil {
		log = log.With("route", cfg.Name)
	}
	to := token.Options{Log: log, OnRefresh: m.TokenRefresh, Configured: configured}
	var p *token.Provider
	if oc != nil {
		c := *oc
		if c.Client, err = tokenClient(cfg); err != nil {
			return nil, err
		}
		p = token.NewOAuth2(c, to)
	} else {
		p = token.NewFile(cfg.BearerTokenFile, to)
	}
	ctx, cancel := context.WithTimeout(context.Background(), firstTokenTimeout)
	defer cancel()
	if err := p.Init(ctx); err != nil {
		return nil, firstTokenError(err)
	}
	return p, nil
}

// firstTokenError names the key to fix when the first token failed.
func firstTokenError(err error) error {
	var ee *token.EndpointError
	if !errors.As(err, &ee) {
		return fmt.Errorf("first token: %w", err)
	}
	switch ee.Code {
	case "invalid_client", "unauthorized_client":
		return fmt.Errorf("oauth2_client_id / oauth2_client_secret: the token endpoint refused the client: %w: check the client id and secret (and oauth2_auth_style: basic or params)", err)
	case "invalid_scope":
		return fmt.Errorf("oauth2_scopes: %w", err)
	case "invalid_request", "invalid_target":
		return fmt.Errorf("oauth2_endpoint_params: %w: check the parameters the issuer needs (audience, resource)", err)
	case "unsupported_grant_type":
		return fmt.Errorf("oauth2_token_url: %w: the client must be allowed the client_credentials grant", err)
	}
	return fmt.Errorf("oauth2_token_url: first token: %w", err)
}

// tokenClient is the HTTP client of the token endpoint: its own trust
// (oauth2_ssl_certificate_authorities, else the system roots), the
// environment's proxy, and no redirects (a redirect would carry the
// client secret elsewhere).
func tokenClient(cfg *configs.Route) (*http.Client, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cas := cfg.OAuth2SSLCertificateAuthorities; len(cas) > 0 {
		pool := x509.NewCertPool()
		for _, f := range cas {
			certsIn, err := certs.CertificatesFromPEMFile(f)
			if err != nil {
				return nil, fmt.Errorf("oauth2_ssl_certificate_authorities: %w", err)
			}
			for _, c := range certsIn {
				pool.AddCert(c)
			}
		}
		tc.RootCAs = pool
	}
	tr := &http.Transport{Proxy: http.ProxyFromEnvironment, TLSClientConfig: tc, ForceAttemptHTTP2: true,
		TLSHandshakeTimeout: 10 * time.Second, ResponseHeaderTimeout: 10 * time.Second, IdleConnTimeout: 90 * time.Second, MaxIdleConnsPerHost: 2}
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		return errors.New("the token endpoint redirected: set oauth2_token_url to the final URL")
	}}, nil
}

// sameTokenSource reports whether a token provider built for old serves
// nr as well: the same token endpoint and client (only the secrets,
// which SetConfigured replaces, may differ), or the same bearer_token_file.
func sameTokenSource(old, nr *configs.Route) bool {
	bo, no := old.OAuth2(), nr.OAuth2()
	switch {
	case bo != nil && no != nil:
		return bo.TokenURL == no.TokenURL && bo.ClientID == no.ClientID && bo.AuthStyle == no.AuthStyle &&
			slices.Equal(bo.Scopes, no.Scopes) && maps.Equal(bo.Params, no.Params) &&
			slices.Equal(old.OAuth2SSLCertificateAuthorities, nr.OAuth2SSLCertificateAuthorities)
	case bo == nil && no == nil:
		return old.BearerTokenFile != "" && old.BearerTokenFile == nr.BearerTokenFile
	}
	return false
}
