// Package esserver is an in-memory Elasticsearch 8-compatible HTTPS server
// for esgate's tests and demo. It follows the shapes in Elasticsearch's sources:
// an auto-generated CA and node certificate like ES 8's, native users with
// bcrypt passwords, API keys, service-account Bearer tokens and PKI users;
// roles with cluster and index privileges, enforced with ES's 401 and 403
// bodies and headers; the bulk API with per-item results; _count, a minimal
// _search, index templates and ILM policies; and hooks to inject faults.
//
// Fidelity matters more than breadth: an endpoint it does not implement
// answers as ES does for unknown URIs.
package esserver
