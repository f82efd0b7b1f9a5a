package proxy

import (
	"github.com/esgate/esgate/auth"
	"github.com/esgate/esgate/auth/frontdoor"
	"github.com/esgate/esgate/auth/policy"
	"github.com/esgate/esgate/certs"
)

// State is the part of a route that a reload replaces: the hosts, the TLS
// material, the credential, the policy and the listener's client
// authentication, as one value. Its owner builds a complete new State
// and publishes it with one atomic store (see Options.State); it is never
// changed after it is published. Each request reads the State once, at
// its start, and finishes on it: the credential it sends, the trust it
// verifies the host with and the host it picks come from the same State.
type State struct {
	// Hosts are the Elasticsearch hosts and their liveness (required). A
	// reload that keeps a host keeps its liveness: see HostSet.With.
	Hosts *HostSet
	// TLS is the trust and client certificate of every connection made
	// for this State (required). Pooled connections are kept per
	// material: a request reuses only connections made with its own.
	TLS *certs.Material
	// Credential supplies the Authorization header (and, for a JWT realm
	// with a shared secret, ES-Client-Authentication); read once per
	// request (required). When it holds no valid credential the request is
	// answered 503 and not forwarded. A provider that implements
	// auth.RejectNotifier hears of every 401 to the credential it gave,
	// and one that implements auth.ReadyReporter takes part in Ready.
	Credential auth.Provider
	// Own is the credential of esgate's own calls through OwnTransport
	// (check, bootstrap, load, minting keys) when it is not Credential:
	// with api_key_management, the configured credential that mints the
	// keys requests are forwarded with (nil: Credential).
	Own auth.Provider
	// Policy decides which requests the credential is lent to (nil: all;
	// esgate's routes always set one, see package policy).
	Policy *policy.Policy
	// Guard authenticates the clients of the route's listener (nil: none).
	Guard *frontdoor.Guard
	// RewriteNodesHTTP puts esgate's address into GET /_nodes/http answers
	// (see nodes.go).
	RewriteNodesHTTP bool
}

// valid reports whether s has what every request needs.
func (s *State) valid() bool {
	return s != nil && s.Hosts != nil && len(s.Hosts.hosts) > 0 && s.TLS != nil && s.Credential != nil
}

// Published does what follows the publication of next in place of prev
// (nil: none): the metrics of added hosts start and those of removed
// ones end, and pooled connections that next will not use (to removed
// hosts, or made with other TLS material) are closed. Requests still in
// flight on prev finish on their connections. It returns the hosts added
// and removed (host:port), for the log.
func (p *Proxy) Published(prev, next *State) (added, removed []string) {
	if prev == nil || prev.Hosts == nil {
		for _, h := range next.Hosts.hosts {
			p.opts.Metrics.HostUp(h.URL.Host, h.Alive())
		}
		return nil, nil
	}
	in := make(map[*Upstream]bool, len(next.Hosts.hosts))
	for _, h := range next.Hosts.hosts {
		in[h] = true
	}
	was := make(map[*Upstream]bool, len(prev.Hosts.hosts))
	for _, h := range prev.Hosts.hosts {
		was[h] = true
		if !in[h] {
			p.opts.Metrics.ForgetHost(h.URL.Host)
			p.client.closeIdleTo(h.URL.Host)
			removed = append(removed, h.URL.Host)
		}
	}
	for _, h := range next.Hosts.hosts {
		if !was[h] {
			p.opts.Metrics.HostUp(h.URL.Host, h.Alive())
			added = append(added, h.URL.Host)
		}
	}
	if prev.TLS != next.TLS {
		p.client.closeIdleExcept(next.TLS)
	}
	return added, removed
}
