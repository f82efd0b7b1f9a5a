// Command esgate is an authenticating TLS sidecar proxy for Elasticsearch
// clients: Logstash, Beats, rsyslog or any HTTP client sends plain HTTP to
// esgate on localhost; esgate adds the credentials, verifies the cluster's
// CA and forwards over HTTPS to Elasticsearch.
//
// Usage:
//
//	esgate serve [--config FILE] [flags]   run the proxy
//	esgate check [--config FILE] [flags]   check every route's hosts, trust and credentials
//	esgate version
//
// Every config key is also a flag: api_key is --api-key.
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
