// Package metrics owns esgate's Prometheus metrics: their names, labels and
// help, registered on a registry the caller injects (no globals), and a
// per-route view with label values bound once so that the request path
// does not allocate label slices. What a request is (its endpoint class)
// and what a bulk answer says (item outcomes) is Elasticsearch knowledge:
// package esproto classifies, this package counts.
package metrics
