package esclient

import (
	"net/http"

	"github.com/elastic/go-elasticsearch/v8"
)

// New returns a typed go-elasticsearch client that sends every
// request through rt (which picks the host and adds credentials).
func New(rt http.RoundTripper) (*elasticsearch.TypedClient, error) {
	return elasticsearch.NewTypedClient(elasticsearch.Config{
		Addresses: []string{"https://elasticsearch"}, // the transport chooses the host
		Transport: rt,
		// Bootstrap must not repeat writes on its own.
		DisableRetry: true,
	})
}
