package proxy

import (
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// hasCompat reports whether a media type value asks for a REST API version.
func hasCompat(v string) bool { return strings.Contains(v, "compatible-with=") }

// setCompat asks for REST API compatibility with version on r, as a 7.x
// client in compatibility mode does: Accept becomes the vendor JSON type
// and a JSON or NDJSON body's Content-Type the vendor type. A request that
// already asks for a version, or whose body is of another type, is left
// as it is. It reports whether it changed r.
func setCompat(r *http.Request, version int) bool {
	accept, ct := r.Header.Get("Accept"), r.Header.Get("Content-Type")
	if hasCompat(accept) || hasCompat(ct) {
		return false
	}
	v := ";compatible-with=" + strconv.Itoa(version)
	if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
		mt, _, err := mime.ParseMediaType(ct)
		switch {
		case ct == "" || err == nil && mt == "application/json":
			r.Header.Set("Content-Type", "application/vnd.elasticsearch+json"+v)
		case err == nil && mt == "application/x-ndjson":
			r.Header.Set("Content-Type", "application/vnd.elasticsearch+x-ndjson"+v)
		default:
			return false
		}
	}
	r.Header.Set("Accept", "application/vnd.elasticsearch+json"+v)
	return true
}

// unsetCompat gives the client the plain JSON type it asked for in place
// of the vendor type Elasticsearch echoes.
func unsetCompat(h http.Header) {
	if ct := h.Get("Content-Type"); strings.HasPrefix(ct, "application/vnd.elasticsearch+json") && hasCompat(ct) {
		h.Set("Content-Type", "application/json")
	}
}
