// Package pki generates throw-away certificate authorities and leaf
// certificates for esgate's tests and test server, the way Elasticsearch 8
// auto-configures its HTTP layer: a self-signed CA and a node certificate
// it signs. Nothing here is for production keys.
package pki
