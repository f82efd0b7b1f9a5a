// Package route owns a running route: its listener and server (esgate's
// HTTP/1.1 loop from package h1 on plain listeners, net/http behind the
// front door's TLS), the forwarding proxy with its upstream client, the
// API key manager, and the state in force.
//
// The state is one immutable value behind an atomic pointer: the
// configuration and everything built from it (TLS material, credential
// provider, hosts, policy, the listener's client authentication). A
// reload builds a complete new state and publishes it with one store;
// each request reads the state once, at its start, and finishes on it; a
// reload that fails keeps the old state whole. What a reload keeps of the
// old state is the liveness of the hosts that stay and, when the files
// loaded the same, the TLS material with its pooled connections; the
// failed-login limiter and the metrics belong to the route.
//
// What does not reload (the listen address, api_key_management, the
// settings that shape the connection pools) is named in a warning; cmd/
// builds, starts, reloads and stops routes, and decides about signals and
// exit codes.
package route
