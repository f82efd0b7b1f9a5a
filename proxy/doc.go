// Package proxy owns esgate's HTTP plumbing: a handler that forwards each
// plain-HTTP request from a local client to one of a route's Elasticsearch
// hosts over HTTPS with the route's credential, streaming bodies both ways;
// the HTTP/1.1 client that does so over keep-alive TLS connections; the
// pool of hosts with failover and background health checks; the State a
// request reads once at its start (hosts, TLS material, credential,
// policy, client authentication), which its owner replaces whole on
// reload (package route); the Elasticsearch-style JSON errors esgate answers
// with when it cannot get an answer; and the listeners (TCP, unix socket)
// it serves on.
//
// Where trust and client certificates come from is package certs; which
// header carries the credential is package auth.
package proxy
