// Package auth owns which credential goes on each outbound request: HTTP
// Basic (user/password, cloud_auth), Elasticsearch API keys (in the three
// forms Logstash accepts), and Bearer tokens. It parses and validates those
// values, reads them from files, and swaps them atomically on reload.
//
// PKI client certificates are not here: they travel in the TLS handshake and
// belong to package certs. Nothing in this package ever formats a secret
// into an error or log message.
package auth
