// Command esgate is an authenticating TLS sidecar proxy for Elasticsearch
// clients: Logstash, Beats, rsyslog or any HTTP client sends plain HTTP to
// esgate on localhost; esgate adds the credentials, verifies the cluster's
// CA and forwards over HTTPS to Elasticsearch.
//
// Usage:
//
//	esgate COMMAND [flags]
//
// The commands (serve, check, bootstrap, load, probe, keystore,
// hash-password, migrate, version) are one table, commands() in flags.go,
// which gives their help, their flags and what runs them; `esgate help`
// lists them and `esgate COMMAND --help` gives a command's flags. Every
// config key is also a flag: api_key is --api-key. This package only
// parses, wires and handles signals and exit codes; a running route is
// package route's.
package main

import (
	"context"
	"os"
)

// exitFunc is the only way out of the process, so tests can replace it.
var exitFunc = os.Exit

func main() {
	code := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)
	exitFunc(code)
}
