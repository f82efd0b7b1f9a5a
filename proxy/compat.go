package proxy

import (
	"context"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
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

// checkCompatMajor asks the cluster its version once a host answers and
// warns when its major cannot serve RESTCompat: REST API compatibility
// spans one major, so compatible-with=7 needs Elasticsearch 8. It retries
// every ResurrectDelay until a host answers GET / or ctx ends.
func (p *Proxy) checkCompatMajor(ctx context.Context) {
	for {
		if version, ok := p.clusterVersion(ctx); ok {
			major, _, _ := strings.Cut(version, ".")
			ok := major == strconv.Itoa(p.opts.RESTCompat+1)
			if !ok {
				p.log.Warn("rest_api_compatibility cannot work with this cluster: REST API compatibility spans one major, and every request esgate marks compatible-with="+
					strconv.Itoa(p.opts.RESTCompat)+" will get a 400; remove rest_api_compatibility and update the old clients",
					"route", p.name, "rest_api_compatibility", p.opts.RESTCompat, "elasticsearch", version)
			}
			if p.opts.OnCompatChecked != nil {
				p.opts.OnCompatChecked(version, ok)
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(p.opts.ResurrectDelay):
		}
	}
}

// clusterVersion is GET /'s version.number from a live host.
func (p *Proxy) clusterVersion(ctx context.Context) (string, bool) {
	st := p.opts.State()
	h := st.Hosts.pick(nil)
	if h == nil {
		return "", false
	}
	ctx, cancel := context.WithTimeout(ctx, p.opts.ConnectTimeout+p.opts.HandshakeTimeout+p.opts.ResponseHeaderTimeout)
	defer cancel()
	res, err := p.probeIn(ctx, st, h, http.MethodGet, "/")
	if err != nil {
		return "", false
	}
	defer res.Body.Close()
	var info struct {
		Version struct{ Number string } `json:"version"`
	}
	if res.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(res.Body, 64<<10)).Decode(&info) != nil || info.Version.Number == "" {
		return "", false
	}
	return info.Version.Number, true
}
