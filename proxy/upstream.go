package proxy

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/esgate/esgate/auth"
	"github.com/esgate/esgate/certs"
)

// Upstream is one Elasticsearch host of a route and its liveness.
type Upstream struct {
	// URL is the base URL (scheme https, host:port, optional path prefix).
	URL *url.URL

	prefix   string // URL's escaped path without a trailing slash
	alive    atomic.Bool
	inflight atomic.Int64
	lastErr  atomic.Pointer[error]
	deadAt   atomic.Int64 // unix nanos of the last transition to dead
	failAt   atomic.Int64 // unix nanos of the last failure (dead or not)
}

// Alive reports whether the host is in rotation.
func (u *Upstream) Alive() bool { return u.alive.Load() }

// LastError returns the error that last marked the host dead, or nil.
func (u *Upstream) LastError() error {
	if p := u.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}

func newUpstream(u *url.URL) *Upstream {
	h := &Upstream{URL: u, prefix: strings.TrimSuffix(u.EscapedPath(), "/")}
	h.alive.Store(true)
	return h
}

// markDead takes the host out of rotation; it reports whether it was alive.
func (u *Upstream) markDead(err error) bool {
	u.lastErr.Store(&err)
	u.failAt.Store(time.Now().UnixNano())
	if u.alive.CompareAndSwap(true, false) {
		u.deadAt.Store(time.Now().UnixNano())
		return true
	}
	return false
}

func (u *Upstream) markAlive() bool {
	return u.alive.CompareAndSwap(false, true)
}

// HostSet is a route's Elasticsearch hosts with their liveness: it
// spreads requests over the live ones, the least busy live host winning
// and ties broken round-robin (Logstash picks at random among the least
// busy; round-robin spreads the same way without a lock). A set is never
// changed after it is built; a reload builds the next one with With.
type HostSet struct {
	hosts []*Upstream
	next  atomic.Uint64
}

// NewHostSet returns a set of urls, every host alive.
func NewHostSet(urls []*url.URL) *HostSet {
	p := &HostSet{}
	for _, u := range urls {
		p.hosts = append(p.hosts, newUpstream(u))
	}
	return p
}

// List returns the hosts (not to be modified).
func (p *HostSet) List() []*Upstream { return p.hosts }

// With returns a set for urls that keeps the Upstream (and so the
// liveness and load) of every host already in p; new hosts start alive.
// It returns p itself when urls are p's hosts in the same order.
func (p *HostSet) With(urls []*url.URL) (np *HostSet, added, removed []*Upstream) {
	if len(urls) == len(p.hosts) {
		same := true
		for i, u := range urls {
			same = same && u.String() == p.hosts[i].URL.String()
		}
		if same {
			return p, nil, nil
		}
	}
	old := make(map[string]*Upstream, len(p.hosts))
	for _, h := range p.hosts {
		old[h.URL.String()] = h
	}
	np = &HostSet{}
	for _, u := range urls {
		h, ok := old[u.String()]
		if ok {
			delete(old, u.String())
		} else {
			h = newUpstream(u)
			added = append(added, h)
		}
		np.hosts = append(np.hosts, h)
	}
	for _, h := range p.hosts {
		if _, gone := old[h.URL.String()]; gone {
			removed = append(removed, h)
		}
	}
	return np, added, removed
}

// pick returns the least busy live host not in tried, or nil.
func (p *HostSet) pick(tried []*Upstream) *Upstream {
	n := uint64(len(p.hosts))
	if n == 1 {
		if h := p.hosts[0]; h.alive.Load() && len(tried) == 0 {
			return h
		}
		return nil
	}
	start := p.next.Add(1)
	var best *Upstream
	var bestLoad int64
outer:
	for i := uint64(0); i < n; i++ {
		h := p.hosts[(start+i)%n]
		if !h.alive.Load() {
			continue
		}
		for _, t := range tried {
			if t == h {
				continue outer
			}
		}
		if l := h.inflight.Load(); best == nil || l < bestLoad {
			best, bestLoad = h, l
		}
	}
	return best
}

// lastResort returns the dead host that failed longest ago, for a request
// that finds every host dead (nil when some host is alive): the only host
// of a route is never out of reach, as nginx treats a group's only server
// and as Logstash's pool keeps trying.
func (p *HostSet) lastResort() *Upstream {
	var best *Upstream
	for _, h := range p.hosts {
		if h.alive.Load() {
			return nil
		}
		if best == nil || h.failAt.Load() < best.failAt.Load() {
			best = h
		}
	}
	return best
}

// resurrect runs until ctx ends, health-checking dead hosts every delay with
// HEAD healthcheck_path and the route's credential, as Logstash's pool does.
// Any HTTP answer brings a host back: status errors are not network errors.
func (p *Proxy) resurrect(ctx context.Context) {
	defer func() {
		if r := recover(); r != nil {
			p.log.Error("health checker panicked", "route", p.name, "panic", r, "stack", string(debug.Stack()))
		}
	}()
	t := time.NewTicker(p.opts.ResurrectDelay)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st := p.opts.State()
		p.checkReadiness(ctx, st)
		p.client.closeIdle(time.Now().Add(-p.opts.IdleTimeout))
		// Connections an earlier state's requests gave back after a reload.
		p.client.closeIdleExcept(st.TLS)
		for _, h := range st.Hosts.hosts {
			if h.Alive() {
				continue
			}
			if err := p.healthCheck(ctx, st, h); err != nil {
				h.lastErr.Store(&err)
				p.log.Debug("host still dead", "route", p.name, "host", h.URL.Host, "err", err)
				continue
			}
			if h.markAlive() {
				p.opts.Metrics.HostUp(h.URL.Host, true)
				p.log.Info("host is alive again", "route", p.name, "host", h.URL.Host)
			}
		}
	}
}

// checkReadiness asks one live host who the credential is when the route
// has been idle or the last answer was a 401, so that Ready stays true to
// the current state: a host that went away is marked dead, a revoked or
// fixed credential is noticed without client traffic.
func (p *Proxy) checkReadiness(ctx context.Context, st *State) {
	if !p.authFailing.Load() && time.Since(time.Unix(0, p.lastOK.Load())) < p.opts.ResurrectDelay {
		return
	}
	h := st.Hosts.pick(nil)
	if h == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, p.opts.ConnectTimeout+p.opts.HandshakeTimeout+p.opts.ResponseHeaderTimeout)
	defer cancel()
	res, err := p.probeIn(ctx, st, h, http.MethodGet, "/_security/_authenticate")
	if err != nil {
		var de *DialError
		if errors.As(err, &de) && h.markDead(err) {
			p.opts.Metrics.HostUp(h.URL.Host, false)
			p.log.Warn("upstream host marked dead", "route", p.name, "host", h.URL.Host, "err", err)
		}
		return
	}
	res.Body.Close()
	p.lastOK.Store(time.Now().UnixNano())
	p.authFailing.Store(res.StatusCode == http.StatusUnauthorized)
}

// Ready reports whether the route has a live host that accepts its
// credential, and if not, why.
func (p *Proxy) Ready() (bool, string) {
	st := p.opts.State()
	live := 0
	for _, h := range st.Hosts.hosts {
		if h.Alive() {
			live++
		}
	}
	if rr, ok := st.Credential.(auth.ReadyReporter); ok {
		if ok, why := rr.Ready(); !ok {
			return false, why
		}
	}
	switch {
	case live == 0:
		return false, "no live Elasticsearch host"
	case p.authFailing.Load():
		return false, "Elasticsearch refuses the credentials (401)"
	}
	return true, ""
}

// healthCheck sends one HEAD to h with st's credential and TLS material.
func (p *Proxy) healthCheck(ctx context.Context, st *State, h *Upstream) error {
	ctx, cancel := context.WithTimeout(ctx, p.opts.ConnectTimeout+p.opts.HandshakeTimeout+p.opts.ResponseHeaderTimeout)
	defer cancel()
	res, err := p.probeIn(ctx, st, h, http.MethodHead, p.opts.HealthcheckPath)
	if err != nil {
		return err
	}
	res.Body.Close()
	return nil
}

// Probe sends one bodiless request with the route's credential to host h,
// bypassing host selection. The caller closes the response body. (The
// presented chain is on the connection, see httptrace.GotConnInfo.Conn's
// ConnectionState; Response.TLS stays nil.)
func (p *Proxy) Probe(ctx context.Context, h *Upstream, method, path string) (*http.Response, error) {
	return p.probeIn(ctx, p.opts.State(), h, method, path)
}

// probeIn is Probe with st's credential and TLS material.
func (p *Proxy) probeIn(ctx context.Context, st *State, h *Upstream, method, path string) (*http.Response, error) {
	c, err := st.Credential.Credential()
	if err != nil {
		return nil, err
	}
	return p.probe(ctx, st.TLS, h, method, path, c)
}

// ProbeAs is Probe with the Authorization value auth ("" for none) in
// place of the route's credential.
func (p *Proxy) ProbeAs(ctx context.Context, h *Upstream, method, path, auth string) (*http.Response, error) {
	return p.probe(ctx, p.opts.State().TLS, h, method, path, rawAuth(auth))
}

// rawAuth is an Authorization value as a credential, for ProbeAs.
type rawAuth string

func (a rawAuth) Apply(h http.Header) { h.Set("Authorization", string(a)) }
func (rawAuth) Kind() string          { return "raw" }
func (a rawAuth) Header() string      { return string(a) }

func (p *Proxy) probe(ctx context.Context, mat *certs.Material, h *Upstream, method, path string, c auth.Credential) (*http.Response, error) {
	u := *h.URL
	u.Path += path
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", p.opts.UserAgent)
	for k, v := range p.opts.CustomHeaders {
		req.Header.Set(k, v)
	}
	if a := c.Header(); a != "" {
		req.Header.Set("Authorization", a)
	}
	if ca, ok := c.(auth.ClientAuthenticator); ok && ca.ClientAuthentication() != "" {
		req.Header.Set("ES-Client-Authentication", ca.ClientAuthentication())
	}
	or := ownRequest(req)
	or.tls = mat
	return p.client.do(&or)
}

// ErrNoLiveHosts is returned when every host of a route is marked dead.
var ErrNoLiveHosts = errors.New("no living connections: every Elasticsearch host of this route is marked dead")
