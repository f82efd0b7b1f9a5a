// Package certs owns the TLS material esgate uses towards Elasticsearch:
// where trusted CAs, pinned CA fingerprints and PKI client certificates come
// from (PEM files and bundles; PKCS#1, PKCS#8, SEC1 and encrypted keys), how
// the presented chain is verified (ssl_verification_mode full, certificate or
// none; ES 8's ca_trusted_fingerprint). Each load is one immutable
// Material; a route puts a new one in force with the rest of its state, and
// a failed reload keeps the previous one.
// It also obtains and renews the listener's certificate with certmagic
// (managed.go): from an ACME CA, or from esgate's own internal CA.
//
// It does no HTTP and knows nothing about credentials in headers.
package certs
