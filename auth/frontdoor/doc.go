// Package frontdoor owns who may use a route: TLS on the route's listener
// (a certificate from files, reloaded with the rest of the route, or one
// that certs.Managed obtains and renews), and the authentication of each
// client by a certificate from a client CA (mutual TLS, optionally limited
// to names), HTTP Basic against bcrypt hashes, or a bearer token stored as
// its SHA-256. Failed logins are counted per client address, and an
// address that keeps failing is refused for a while. No secret is kept in
// clear, logged or returned.
package frontdoor
