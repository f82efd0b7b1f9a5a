// Package esclient is esgate's client of Elasticsearch's REST API:
// go-elasticsearch's typed client over an http.RoundTripper that picks
// the host and adds the credential (a route's own transport). bootstrap,
// check and the API key manager talk to Elasticsearch through it.
package esclient
