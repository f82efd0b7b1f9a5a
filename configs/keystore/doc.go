// Package keystore owns esgate's encrypted secrets file, in the manner of
// logstash-keystore and elasticsearch-keystore: named string values sealed
// with XChaCha20-Poly1305 under a key derived from a password with scrypt.
// Any change to the file is detected when it is opened. A keystore created
// without a password ("unprotected") is sealed the same way with an empty
// password: it hides values from casual reading and detects tampering, but
// anyone who can read the file can open it.
package keystore
