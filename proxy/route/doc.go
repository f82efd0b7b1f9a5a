// Package route owns a running route: the proxy, TLS material, credential
// and API key manager built from one validated configs.Route, and the
// reload that moves it to a new configuration or new files. A reload
// loads everything first and puts it in force only when all of it loaded:
// the route is always wholly the old state or wholly the new one, and the
// configuration in force is one immutable value behind an atomic pointer,
// safe to read from any goroutine (readiness, status).
//
// What does not reload (the listen address, api_key_management, the
// settings that shape the connection pools) is named in a warning; cmd/
// decides about listeners, signals and exit codes.
package route
