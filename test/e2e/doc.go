// Package e2e runs the built esgate binary as a process against the
// Elasticsearch-compatible test server and real third-party clients.
//
// Every test here is in a _test.go file; this file only names the package.
package e2e
