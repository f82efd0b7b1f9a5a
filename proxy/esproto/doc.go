// Package esproto is esgate's one home for knowledge of Elasticsearch's
// HTTP protocol that more than one package needs: how 401 and 403 answers
// read (which credential problem, whether a managed API key was refused),
// which class of API a path belongs to (for bounded metric labels), and
// how a bulk response's item outcomes are counted. It does no I/O.
package esproto
