// Package metrics owns esgate's Prometheus metrics: their names, labels and
// help, registered on a registry the caller injects (no globals), and a
// per-route view with label values bound once so that the request path
// does not allocate label slices. It also classifies requests into endpoint
// classes and reads bulk item outcomes from responses.
package metrics
