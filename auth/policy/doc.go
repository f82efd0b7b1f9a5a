// Package policy decides which client requests a route lends its
// credential to. The default, for any route, refuses what no Elasticsearch
// client sends and what would let a local process or a web page take the
// credential over: Host names other than loopback ones and the listener's
// own (DNS rebinding), requests from web pages (Origin, cross-site
// Sec-Fetch-Site), TRACE, CONNECT and protocol upgrades, the identity
// headers es-security-runas-user and es-secondary-authorization (stripped),
// and the credential self-service APIs (changing passwords; creating,
// granting, updating or invalidating API keys and tokens; user and role
// writes). Each exception is a configuration key, named in the refusal.
package policy
