package route

import (
	"github.com/esgate/esgate/auth"
	"github.com/esgate/esgate/configs"
	"github.com/esgate/esgate/proxy/metrics"
)

// newProvider builds the credential of one state of a route from its
// configuration: the credential read from the configuration (password,
// API key, token, their files, or none with PKI), loaded now. Every
// (re)load builds a new one; a provider that implements auth.Runner is
// run by the route while its state is in force.
func newProvider(cfg *configs.Route, o Options, m *metrics.Route) (auth.Provider, error) {
	return auth.NewSource(cfg.CredentialLoader())
}
