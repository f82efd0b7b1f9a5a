// Package bootstrap provisions, through Elasticsearch's security API, what
// Logstash needs as Elastic's Logstash security guide prescribes: the
// logstash_writer and logstash_reader roles, the logstash_internal and
// logstash_user users, the built-in logstash_system user, and per-host API
// keys for publishing, reading, monitoring and central management. It plans
// first (create / update / unchanged), writes only what differs, records
// minted secrets in a 0600 file that esgate serve reads, and verifies each
// new credential with _authenticate and _has_privileges.
//
// It talks to Elasticsearch with go-elasticsearch's typed client over any
// http.RoundTripper (esgate's own transport in the command).
package bootstrap
