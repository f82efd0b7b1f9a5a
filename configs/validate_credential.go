package configs

import (
	"errors"
	"fmt"
	"strings"

	"github.com/esgate/esgate/auth"
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
	if (r.SSLCertificate == "") != (r.SSLKey == "") {
		return errors.New("ssl_certificate and ssl_key: each needs the other")
	}
	clientCert := r.SSLCertificate != "" || r.SSLKeystorePath != ""
	switch {
	case len(methods) == 0 && !clientCert:
		return errors.New("no credentials: set one of user+password, cloud_auth, api_key, bearer_token, ssl_certificate+ssl_key, or ssl_keystore_path")
	case len(methods) > 1:
		return fmt.Errorf("multiple authentication options are specified (%s): set exactly one (a client certificate may be added to any of them)", strings.Join(methods, ", "))
	}
	if err := r.buildCredential(); err != nil {
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
