package route

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/esgate/esgate/auth"
	"github.com/esgate/esgate/auth/esclient"
	"github.com/esgate/esgate/auth/frontdoor"
	"github.com/esgate/esgate/certs"
	"github.com/esgate/esgate/configs"
	"github.com/esgate/esgate/proxy"
	"github.com/esgate/esgate/proxy/keys"
	"github.com/esgate/esgate/proxy/metrics"
)

// Options are what a Route gets besides its configuration. The zero value
// is a quiet route without metrics, as esgate's one-shot commands use.
type Options struct {
	// Log receives the route's events (default: discarded).
	Log *slog.Logger
	// Metrics, if set, gets the route's series.
	Metrics *metrics.Metrics
	// AccessLog, if set, gets one line per forwarded request.
	AccessLog *slog.Logger
	// NoBulkMetrics turns off counting bulk item outcomes.
	NoBulkMetrics bool
	// UserAgent of esgate's own requests (default "esgate").
	UserAgent string
	// ExpiryWarning is the horizon within which certificate expiry is
	// logged as a warning (default 720h).
	ExpiryWarning time.Duration
}

// Route is one running route. It owns its listener and server (see
// Listen), the forwarding proxy and its upstream client, the API key
// manager, and the state in force: one immutable value that a reload
// replaces whole.
type Route struct {
	name  string         // immutable: a change of name is a new route
	built *configs.Route // what the components were built from
	opts  Options
	log   *slog.Logger
	m     *metrics.Route

	state atomic.Pointer[state]
	mu    sync.Mutex // serialises reloads and Start; never held across network I/O
	// run is Start's context, and stopCred ends the Run of the credential
	// provider in force (both under mu).
	run      context.Context
	stopRun  context.CancelFunc
	stopCred context.CancelFunc

	proxy *proxy.Proxy
	keys  *keys.Manager // with api_key_management
	// minted holds the key keys minted: the credential requests are
	// forwarded with under api_key_management, across reloads.
	minted *auth.Source
	// managed is the certmagic-managed listener certificate, if any.
	managed *certs.Managed
	// limiter counts failed client logins across reloads.
	limiter *frontdoor.Limiter

	ln  net.Listener // see Listen
	srv server
}

// New builds a route from its validated configuration: its TLS material
// and credential are loaded (an error names the route and what failed),
// nothing is contacted. Start it to serve, Close it when done.
func New(cfg *configs.Route, o Options) (*Route, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.UserAgent == "" {
		o.UserAgent = "esgate"
	}
	if o.ExpiryWarning <= 0 {
		o.ExpiryWarning = 30 * 24 * time.Hour
	}
	r := &Route{name: cfg.Name, built: cfg, opts: o, log: o.Log, m: o.Metrics.Route(cfg.Name), limiter: &frontdoor.Limiter{}}
	if cfg.APIKeyManagement {
		// With api_key_management the configured credential only mints
		// keys; requests are forwarded with the minted key.
		r.minted, _ = auth.NewSource(func() (auth.Credential, error) { return auth.NoHeader("api_key"), nil })
	}
	st, err := r.build(cfg, nil)
	if err != nil {
		return nil, fmt.Errorf("route %q: %w", cfg.Name, err)
	}
	r.state.Store(st)
	var onUnauthorized func(context.Context, string, []byte) bool
	if cfg.APIKeyManagement {
		onUnauthorized = func(ctx context.Context, sent string, body []byte) bool { return r.keys.Recover(ctx, sent, body) }
	}
	r.proxy, err = proxy.New(proxy.Options{
		Name:                  cfg.Name,
		State:                 func() *proxy.State { return r.state.Load().fwd },
		OnUnauthorized:        onUnauthorized,
		CustomHeaders:         cfg.CustomHeaders,
		Proxy:                 forwardProxy(cfg),
		ConnectTimeout:        cfg.ConnectTimeout.D(),
		HandshakeTimeout:      cfg.HandshakeTimeout.D(),
		ResponseHeaderTimeout: cfg.Timeout.D(),
		MaxIdlePerHost:        cfg.PoolMaxPerRoute,
		MaxConnsPerHost:       cfg.PoolMaxPerRoute,
		MaxConns:              cfg.PoolMax,
		IdleTimeout:           cfg.PoolIdleTimeout.D(),
		ResurrectDelay:        cfg.ResurrectDelay.D(),
		HealthcheckPath:       cfg.HealthcheckPath,
		UserAgent:             o.UserAgent,
		MaxBodySize:           int64(cfg.MaxBodySize),
		MaxResponseHeaderSize: int64(cfg.MaxResponseHeaderSize),
		CompressionLevel:      cfg.Compression(),
		RESTCompat:            cfg.RESTAPICompatibility,
		Metrics:               r.m,
		AccessLog:             o.AccessLog,
		DisableBulkParsing:    o.NoBulkMetrics,
		Log:                   o.Log,
	})
	if err != nil {
		return nil, fmt.Errorf("route %q: %w", cfg.Name, err)
	}
	r.proxy.Published(nil, st.fwd)
	if cfg.APIKeyManagement {
		// Minting goes through esgate's own transport: the forwarding 401
		// hook (which may itself mint) is not on its path.
		es, err := esclient.New(r.OwnTransport())
		if err != nil {
			return nil, err
		}
		host, _ := os.Hostname()
		name := cfg.APIKeyName
		if name == "" {
			name = "esgate-" + strings.NewReplacer(":", "-", "/", "-").Replace(cfg.Name) + "-" + host
		}
		r.keys = keys.New(es, r.minted, keys.Options{Name: name, Expiration: cfg.APIKeyExpiration, RenewAfter: cfg.APIKeyRenewAfter,
			InvalidateDelay: cfg.APIKeyInvalidateDelay.D(), Metadata: map[string]string{"host": host, "route": cfg.Name},
			Log: o.Log.With("route", cfg.Name), OnMint: r.m.APIKeyMinted, OnInvalidate: r.m.APIKeyInvalidated})
	}
	return r, nil
}

// forwardProxy is the route's proxy setting, or the environment's.
func forwardProxy(cfg *configs.Route) proxy.ForwardProxy {
	if u := cfg.ForwardProxy(); u != nil {
		return proxy.FixedProxy(u)
	}
	return proxy.EnvironmentProxy()
}

// current is the state in force.
func (r *Route) current() *state { return r.state.Load() }

// Name is the route's name.
func (r *Route) Name() string { return r.name }

// Config is the configuration in force.
func (r *Route) Config() *configs.Route { return r.current().cfg }

// Proxy is the route's forwarding proxy (hosts, probes).
func (r *Route) Proxy() *proxy.Proxy { return r.proxy }

// TLS is the trust and client certificate in force.
func (r *Route) TLS() *certs.Material { return r.current().fwd.TLS }

// Credential is the configured credential in force: the one requests are
// forwarded with, or with api_key_management the one that mints keys. Its
// error says why there is none (a token expired and no new one came).
func (r *Route) Credential() (auth.Credential, error) { return r.current().cred.Credential() }

// CredentialProvider is the configured credential's provider in force
// (see Credential): a *token.Provider for a short-lived token.
func (r *Route) CredentialProvider() auth.Provider { return r.current().cred }

// OwnTransport is for esgate's own calls to the route's cluster (check,
// the privilege doctor, bootstrap, load, minting): live hosts with
// failover, the TLS material and the configured credential, without the
// forwarding hooks.
func (r *Route) OwnTransport() http.RoundTripper { return r.proxy.OwnTransport() }

// Start begins health checks, runs the credential provider if it keeps
// itself fresh and, with api_key_management, mints the first key
// (bounded by 30s) and keeps renewing it until ctx ends or Close.
func (r *Route) Start(ctx context.Context) error {
	r.mu.Lock()
	r.run, r.stopRun = context.WithCancel(ctx)
	ctx = r.run
	r.stopCred = r.runProvider(r.current().cred)
	r.mu.Unlock()
	r.proxy.Start(ctx)
	if r.keys != nil {
		mctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := r.keys.Mint(mctx)
		cancel()
		if err != nil {
			return fmt.Errorf("route %q: api_key_management: %w", r.name, err)
		}
		go r.keys.Run(ctx)
	}
	if mc := r.built.ManagedCert(); mc.Enabled() {
		mg, err := certs.StartManaged(ctx, mc, nil)
		if err != nil {
			return fmt.Errorf("route %q: %w", r.name, err)
		}
		r.mu.Lock()
		r.managed = mg
		st := *r.current()
		fwd := *st.fwd
		g := *fwd.Guard
		g.UseManaged(mg.GetCertificate)
		fwd.Guard = &g
		st.fwd = &fwd
		r.state.Store(&st)
		r.mu.Unlock()
		if mg.RootFile != "" {
			r.log.Info("listener certificate issued by esgate's internal CA: clients trust its root", "route", r.name, "root", mg.RootFile)
		}
	}
	st := r.current()
	r.exportExpiry(st.fwd.TLS)
	for _, d := range st.cfg.Deprecations() {
		r.log.Warn(d, "route", r.name)
	}
	if cs := st.cfg.ClientSettings(); len(cs) > 0 {
		r.log.Info("Logstash output settings that Logstash keeps handling; esgate accepts and ignores them", "route", r.name, "keys", cs)
	}
	if st.fwd.TLS.Mode() == certs.VerifyNone {
		r.log.Warn(VerifyNoneWarning, "route", r.name)
	}
	st.fwd.TLS.LogExpiry(r.log, r.name, r.opts.ExpiryWarning)
	return nil
}

// VerifyNoneWarning is logged for routes with ssl_verification_mode none.
const VerifyNoneWarning = "TLS VERIFICATION IS OFF: anyone on the network path can impersonate Elasticsearch and read the credentials (ssl_verification_mode: none)"

// Close stops the route: its server and listener (at once; see Shutdown
// for a drain), its background work and the credential provider's, and
// closes idle upstream connections. It is safe to call more than once.
func (r *Route) Close() {
	if r.srv != nil {
		r.srv.Close()
	}
	if r.ln != nil {
		r.ln.Close()
	}
	r.mu.Lock()
	if r.stopRun != nil {
		r.stopRun()
	}
	r.mu.Unlock()
	r.proxy.Close()
	if r.managed != nil {
		r.managed.Stop()
	}
}

// Ready reports whether the route has a live host that accepts its
// credential, and if not, why.
func (r *Route) Ready() (bool, string) { return r.proxy.Ready() }

// exportExpiry publishes the expiry of the certificates of mat.
func (r *Route) exportExpiry(mat *certs.Material) {
	r.m.ResetCertExpiry()
	for _, c := range mat.CAs {
		r.m.CertExpiry("ca", c.Subject.String(), c.NotAfter)
	}
	if cc := mat.ClientCertificate(); cc != nil && cc.Leaf != nil {
		r.m.CertExpiry("client", cc.Leaf.Subject.String(), cc.Leaf.NotAfter)
	}
}

// FilesDigest hashes the paths and contents of files; an unreadable file
// contributes its error, so that its disappearance counts as a change.
func FilesDigest(files []string) [32]byte { return filesDigest(files) }

func filesDigest(files []string) [32]byte {
	h := sha256.New()
	for _, f := range files {
		h.Write([]byte(f + "\x00"))
		b, err := os.ReadFile(f)
		if err != nil {
			h.Write([]byte("error:" + err.Error()))
		}
		h.Write(b)
		h.Write([]byte{0})
	}
	var d [32]byte
	copy(d[:], h.Sum(nil))
	return d
}

// identityChanged names what makes a reloaded route a different one (its
// name, address or the API key manager), or returns "".
func identityChanged(old, nr *configs.Route) string {
	switch {
	case old.Name != nr.Name:
		return "the route name"
	case old.Listen != nr.Listen || old.UnsafeListen != nr.UnsafeListen:
		return "listen"
	case old.APIKeyManagement != nr.APIKeyManagement:
		return "api_key_management"
	}
	return ""
}

// restartNeeded lists the keys of a route that differ from what it was
// built with and that a reload cannot apply. Trust, certificates,
// credentials (of any method), hosts and nodes_http reload; these are set
// at start.
func restartNeeded(built, nr *configs.Route) []string {
	var keys []string
	diff := func(key string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			keys = append(keys, key)
		}
	}
	diff("custom_headers", built.CustomHeaders, nr.CustomHeaders)
	diff("rest_api_compatibility", built.RESTAPICompatibility, nr.RESTAPICompatibility)
	diff("connect_timeout", built.ConnectTimeout, nr.ConnectTimeout)
	diff("ssl_handshake_timeout", built.HandshakeTimeout, nr.HandshakeTimeout)
	diff("timeout", built.Timeout, nr.Timeout)
	diff("pool_max", built.PoolMax, nr.PoolMax)
	diff("pool_max_per_route", built.PoolMaxPerRoute, nr.PoolMaxPerRoute)
	diff("pool_idle_timeout", built.PoolIdleTimeout, nr.PoolIdleTimeout)
	diff("resurrect_delay", built.ResurrectDelay, nr.ResurrectDelay)
	diff("healthcheck_path", built.HealthcheckPath, nr.HealthcheckPath)
	diff("max_body_size", built.MaxBodySize, nr.MaxBodySize)
	diff("max_response_header_size", built.MaxResponseHeaderSize, nr.MaxResponseHeaderSize)
	diff("client_idle_timeout", built.ClientIdleTimeout, nr.ClientIdleTimeout)
	diff("proxy", built.Proxy, nr.Proxy)
	diff("compression_level", built.Compression(), nr.Compression())
	diff("listen_ssl_domains", built.ListenSSLDomains, nr.ListenSSLDomains)
	diff("listen_ssl_issuer", built.ListenSSLIssuer, nr.ListenSSLIssuer)
	diff("listen_ssl_acme_directory", built.ListenSSLACMEDir, nr.ListenSSLACMEDir)
	diff("listen_ssl_storage", built.ListenSSLStorage, nr.ListenSSLStorage)
	if built.APIKeyManagement {
		diff("api_key_name", built.APIKeyName, nr.APIKeyName)
		diff("api_key_expiration", built.APIKeyExpiration, nr.APIKeyExpiration)
		diff("api_key_renew_after", built.APIKeyRenewAfter, nr.APIKeyRenewAfter)
		diff("api_key_invalidate_delay", built.APIKeyInvalidateDelay, nr.APIKeyInvalidateDelay)
	}
	return keys
}
