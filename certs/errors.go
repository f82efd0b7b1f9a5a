package certs

import "errors"

// Sentinel errors returned while loading TLS material.
var (
	ErrNoCertificate      = errors.New("no CERTIFICATE block found")
	ErrNoPrivateKey       = errors.New("no private key block found (expected PRIVATE KEY, RSA PRIVATE KEY, EC PRIVATE KEY or ENCRYPTED PRIVATE KEY)")
	ErrKeyMismatch        = errors.New("private key does not match the certificate's public key")
	ErrPassphraseRequired = errors.New("private key is encrypted: set ssl_key_passphrase")
	ErrWrongPassphrase    = errors.New("decrypting private key failed: wrong ssl_key_passphrase")
	ErrNoCACerts          = errors.New("no CERTIFICATE block found in CA file")
)
