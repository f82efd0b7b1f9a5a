// Package esserver is an in-memory Elasticsearch 8- and 9-compatible HTTPS server
// for esgate's tests and demo. It follows the shapes in Elasticsearch's sources:
// an auto-generated CA and node certificate like ES 8's, native users with
// bcrypt passwords, API keys, service-account Bearer tokens and PKI users;
// roles with cluster and index privileges, enforced with ES's 401 and 403
// bodies and headers; the bulk API with per-item results; _count, a minimal
// _search, index templates and ILM policies; and hooks to inject faults.
//
// Options.Version's major selects the behaviour. 8.x: REST API
// compatibility with 7 and 8 (compatible-with=7 routes typed bulk URLs and
// accepts _type in bulk action lines, with the [types removal] deprecation
// Warning, and writes "_type":"_doc" in bulk items). 9.x: compatibility
// with 8 and 9 only, the 9.x GET / (Lucene, minimum wire and index
// versions of real 9.0, 9.1 and 9.2 answers), and a deprecation Warning on
// legacy _template writes. Chosen where shared/docs marks a fact
// unverified: the compatible-with=7 400 on 9.x uses the reconstructed
// shape (media_type_header_exception caused by status_exception); GET and
// HEAD _template stay routed on 9.x; the Warning header's build hash is
// the test server's own; 8.x writes no Warning on legacy templates.
//
// JWT realms (Options.JWTRealms, jwtrealm.go) take elasticsearch.yml's
// xpack.security.authc.realms.jwt.* settings and validate Bearer JWTs in
// JwtAuthenticator's order with ES's 401s; the role-mapping API gives
// their users roles; JWTStats counts accepted, rejected and
// expired-on-arrival tokens. docs/test-server.md lists what was chosen
// rather than found.
//
// Fidelity matters more than breadth: an endpoint it does not implement
// answers as ES does for unknown URIs.
package esserver
