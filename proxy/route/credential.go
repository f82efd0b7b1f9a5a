package route

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/esgate/esgate/auth"
	"github.com/esgate/esgate/auth/token"
	"github.com/esgate/esgate/certs"
	"github.com/esgate/esgate/configs"
	"github.com/esgate/esgate/proxy/metrics"
)

// firstTokenTimeout bounds getting a route's first token at start.
const firstTokenTimeout = 30 * time.Second

// newProvider builds the credential a route authenticates with: an
// OAuth2 client (oauth2_token_url) or a JWT in bearer_token_file, each a
// *token.Provider that already holds its first token and that the route
// runs while it serves; otherwise the configured credential as an
// *auth.Source that reloads swap. A bearer_token_file that holds no JWT
// is a configured credential, as before.
func newProvider(cfg *configs.Route, o Options, m *metrics.Route) (auth.Provider, error) {
	load := cfg.CredentialLoader()
	oc := cfg.OAuth2()
	jwtFile := false
	if oc == nil && cfg.BearerTokenFile != "" {
		_, err := token.ReadJWTFile(cfg.BearerTokenFile, time.Now)
		jwtFile = err == nil
	}
	if oc == nil && !jwtFile {
		src, err := auth.NewSource(load)
		if err != nil {
			return nil, fmt.Errorf("loading credentials: %w", err)
		}
		return src, nil
	}
	configured, err := load()
	if err != nil {
		return nil, fmt.Errorf("loading credentials: %w", err)
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

// credentials builds the route's configured credential and, for a token
// route, the token provider (see newProvider).
func credentials(cfg *configs.Route, o Options, m *metrics.Route) (*auth.Source, *token.Provider, error) {
	p, err := newProvider(cfg, o, m)
	if err != nil {
		return nil, nil, err
	}
	if src, ok := p.(*auth.Source); ok {
		return src, nil, nil
	}
	src, err := auth.NewSource(cfg.CredentialLoader())
	if err != nil {
		return nil, nil, fmt.Errorf("loading credentials: %w", err)
	}
	return src, p.(*token.Provider), nil
}

// forwarding is what requests are forwarded with: the token, unless
// api_key_management mints keys with it (fwd is then the minted key).
func forwarding(fwd *auth.Source, tok *token.Provider, cfg *configs.Route) auth.Provider {
	if tok != nil && !cfg.APIKeyManagement {
		return tok
	}
	return fwd
}
