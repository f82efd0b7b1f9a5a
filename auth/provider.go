package auth

import (
	"context"
	"errors"
)

// Provider supplies the credential of each request a route forwards. A
// credential read from the configuration is a [*Source]; a short-lived
// token (OAuth2 client credentials, a JWT in bearer_token_file) is a
// provider that a background loop keeps fresh.
type Provider interface {
	// Credential returns the credential to send now. It never does network
	// I/O and never waits for a refresh. An error wrapping
	// ErrNoValidCredential means esgate knows it holds nothing it may send
	// (a token expired and no new one came): the request is then answered
	// 503 in Elasticsearch's error shape, naming the error, and is not
	// forwarded. The error never contains a secret.
	Credential() (Credential, error)
}

// ErrNoValidCredential is wrapped by a Provider's error when it holds no
// credential that may be sent.
var ErrNoValidCredential = errors.New("no valid credential")

// Runner is implemented by providers that keep themselves fresh: the
// route runs Run while it serves, and Run returns when ctx ends.
type Runner interface {
	Run(ctx context.Context)
}

// RejectNotifier is implemented by providers that can replace a
// credential Elasticsearch refused: Rejected is called with the
// Authorization value that got a 401. It returns at once; any refresh it
// starts is single-flight and rate-limited by the provider.
type RejectNotifier interface {
	Rejected(sentAuth string)
}

// ReadyReporter is implemented by providers whose state decides the
// route's readiness: false, with why, while they hold no valid credential.
type ReadyReporter interface {
	Ready() (bool, string)
}

// ClientAuthenticator is implemented by credentials that send
// ES-Client-Authentication beside Authorization (a JWT realm's shared
// secret): the header's value, or "".
type ClientAuthenticator interface {
	ClientAuthentication() string
}

// Credential returns the credential in force; a Source never fails.
func (s *Source) Credential() (Credential, error) { return s.Current(), nil }

var _ Provider = (*Source)(nil)
