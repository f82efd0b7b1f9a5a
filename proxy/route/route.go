package route

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/esgate/esgate/auth"
	"github.com/esgate/esgate/auth/bootstrap"
	"github.com/esgate/esgate/auth/frontdoor"
	"github.com/esgate/esgate/auth/policy"
	"github.com/esgate/esgate/auth/token"
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

// state is what one successful (re)load produced. It is never changed
// after it is published; a reload publishes a new one.
type state struct {
	cfg *configs.Route
	// digest is of the files last loaded or tried: a file that failed to
	// load is not retried until it changes again.
	digest [32]byte
}

// Route is one running route.
type Route struct {
	name  string         // immutable: a change of name is a new route
	built *configs.Route // what the components were built from
	opts  Options
	log   *slog.Logger
	m     *metrics.Route

	state atomic.Pointer[state]
	mu    sync.Mutex // serialises reloads; never held across network I/O

	tls   *certs.Source
	cred  *auth.Source    // the configured credential
	token *token.Provider // a short-lived token kept fresh (oauth2, a JWT file), or nil
	proxy *proxy.Proxy
	keys  *keys.Manager // with api_key_management
	guard atomic.Pointer[frontdoor.Guard]
	// managed is the certmagic-managed listener certificate, if any.
	managed *frontdoor.Managed
	// limiter counts failed client logins across reloads.
	limiter *frontdoor.Limiter
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
	g, err := frontdoor.New(cfg.ClientAuth(), r.limiter)
	if err != nil {
		return nil, fmt.Errorf("route %q: %w", cfg.Name, err)
	}
	r.guard.Store(g)
	if r.tls, err = certs.NewSource(cfg.TLSOptions()); err != nil {
		return nil, fmt.Errorf("route %q: loading TLS material: %w", cfg.Name, err)
	}
	if r.cred, r.token, err = credentials(cfg, o, r.m); err != nil {
		return nil, fmt.Errorf("route %q: %w", cfg.Name, err)
	}
	// With api_key_management the configured credential only mints keys;
	// requests are forwarded with the minted key.
	fwd := r.cred
	var onUnauthorized func(context.Context, string, []byte) bool
	if cfg.APIKeyManagement {
		fwd, _ = auth.NewSource(func() (auth.Credential, error) { return auth.NoHeader("api_key"), nil })
		onUnauthorized = func(ctx context.Context, sent string, body []byte) bool { return r.keys.Recover(ctx, sent, body) }
	}
	r.proxy, err = proxy.New(proxy.Options{
		Name:                  cfg.Name,
		Upstreams:             cfg.Upstreams(),
		TLS:                   r.tls,
		Credential:            forwarding(fwd, r.token, cfg),
		OnUnauthorized:        onUnauthorized,
		CustomHeaders:         cfg.CustomHeaders,
		Proxy:                 forwardProxy(cfg),
		Policy:                policy.New(cfg.Policy()),
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
	r.proxy.RewriteNodesHTTP(cfg.NodesHTTP == "rewrite")
	r.proxy.SetGuard(g)
	if cfg.APIKeyManagement {
		// Minting goes through esgate's own transport: the forwarding 401
		// hook (which may itself mint) is not on its path.
		es, err := bootstrap.NewClient(r.OwnTransport())
		if err != nil {
			return nil, err
		}
		host, _ := os.Hostname()
		name := cfg.APIKeyName
		if name == "" {
			name = "esgate-" + strings.NewReplacer(":", "-", "/", "-").Replace(cfg.Name) + "-" + host
		}
		r.keys = keys.New(es, fwd, keys.Options{Name: name, Expiration: cfg.APIKeyExpiration, RenewAfter: cfg.APIKeyRenewAfter,
			InvalidateDelay: cfg.APIKeyInvalidateDelay.D(), Metadata: map[string]string{"host": host, "route": cfg.Name},
			Log: o.Log.With("route", cfg.Name), OnMint: r.m.APIKeyMinted, OnInvalidate: r.m.APIKeyInvalidated})
	}
	for _, u := range cfg.Upstreams() {
		r.m.HostUp(u.Host, true)
	}
	r.state.Store(&state{cfg: cfg, digest: filesDigest(cfg.Files())})
	return r, nil
}

// forwardProxy is the route's proxy setting, or the environment's.
func forwardProxy(cfg *configs.Route) proxy.ForwardProxy {
	if u := cfg.ForwardProxy(); u != nil {
		return proxy.FixedProxy(u)
	}
	return proxy.EnvironmentProxy()
}

// Name is the route's name.
func (r *Route) Name() string { return r.name }

// Config is the configuration in force.
func (r *Route) Config() *configs.Route { return r.state.Load().cfg }

// Handler forwards client requests.
func (r *Route) Handler() http.Handler { return r.proxy }

// Proxy is the route's forwarding proxy (hosts, probes).
func (r *Route) Proxy() *proxy.Proxy { return r.proxy }

// TLS is the trust and client certificate in force.
func (r *Route) TLS() *certs.Material { return r.tls.Current() }

// Credential is the configured credential in force: the one requests are
// forwarded with, or with api_key_management the one that mints keys.
func (r *Route) Credential() auth.Credential {
	if r.token != nil {
		return r.token
	}
	return r.cred.Current()
}

// OwnTransport is for esgate's own calls to the route's cluster (check,
// the privilege doctor, bootstrap, load, minting): live hosts with
// failover, the TLS material and the configured credential, without the
// forwarding hooks.
func (r *Route) OwnTransport() http.RoundTripper {
	if r.token != nil {
		return auth.Transport(r.proxy.Transport(), r.token)
	}
	return auth.Transport(r.proxy.Transport(), r.cred)
}

// ServerTLS is the listener's TLS configuration (nil: plain HTTP); it
// follows reloads of the certificate and client CAs.
func (r *Route) ServerTLS() *tls.Config {
	if !r.built.ClientAuth().TLS() {
		return nil
	}
	return frontdoor.ServerTLS(r.guard.Load)
}

// Start begins health checks and, with api_key_management, mints the
// first key (bounded by 30s) and keeps renewing it until ctx ends.
func (r *Route) Start(ctx context.Context) error {
	r.proxy.Start(ctx)
	if r.token != nil {
		go r.token.Run(ctx)
	}
	if r.keys != nil {
		mctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := r.keys.Mint(mctx)
		cancel()
		if err != nil {
			return fmt.Errorf("route %q: api_key_management: %w", r.name, err)
		}
		go r.keys.Run(ctx)
	}
	if mc := r.built.ClientAuth().Managed; mc.Enabled() {
		mg, err := frontdoor.StartManaged(ctx, mc, nil)
		if err != nil {
			return fmt.Errorf("route %q: %w", r.name, err)
		}
		r.managed = mg
		g := *r.guard.Load()
		g.UseManaged(mg)
		r.guard.Store(&g)
		r.proxy.SetGuard(&g)
		if mg.RootFile != "" {
			r.log.Info("listener certificate issued by esgate's internal CA: clients trust its root", "route", r.name, "root", mg.RootFile)
		}
	}
	r.exportExpiry()
	cfg := r.Config()
	for _, d := range cfg.Deprecations() {
		r.log.Warn(d, "route", r.name)
	}
	if cs := cfg.ClientSettings(); len(cs) > 0 {
		r.log.Info("Logstash output settings that Logstash keeps handling; esgate accepts and ignores them", "route", r.name, "keys", cs)
	}
	if r.tls.Current().Mode() == certs.VerifyNone {
		r.log.Warn(VerifyNoneWarning, "route", r.name)
	}
	r.tls.Current().LogExpiry(r.log, r.name, r.opts.ExpiryWarning)
	return nil
}

// VerifyNoneWarning is logged for routes with ssl_verification_mode none.
const VerifyNoneWarning = "TLS VERIFICATION IS OFF: anyone on the network path can impersonate Elasticsearch and read the credentials (ssl_verification_mode: none)"

// Close stops the route's background work and closes idle connections.
func (r *Route) Close() {
	r.proxy.Close()
	if r.managed != nil {
		r.managed.Stop()
	}
}

// Ready reports whether the route has a live host that accepts its
// credential, and if not, why.
func (r *Route) Ready() (bool, string) { return r.proxy.Ready() }

// FilesChanged reports whether a file the route reads changed since it
// was last loaded or tried.
func (r *Route) FilesChanged() bool {
	st := r.state.Load()
	return filesDigest(st.cfg.Files()) != st.digest
}

// ErrReloadFailed wraps the cause of a reload that kept the old state.
var ErrReloadFailed = errors.New("reload failed; the previous configuration and material stay in force")

// Reload brings the route to nr (nil: the configuration in force, with
// its files read again). Everything is loaded first; only when all of it
// loaded is it put in force, so a reload either applies whole or leaves
// the old state whole. why says what triggered it, for the log.
func (r *Route) Reload(nr *configs.Route, why string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	cur := r.state.Load()
	if nr != nil {
		if key := identityChanged(r.built, nr); key != "" {
			r.log.Warn(key+" changed: restart esgate to apply it; reloading the route's files only", "route", r.name)
			nr = nil
		}
	}
	if nr == nil {
		nr = cur.cfg
	}
	digest := filesDigest(nr.Files())
	mat, err := certs.Load(nr.TLSOptions())
	if err != nil {
		err = fmt.Errorf("loading TLS material: %w", err)
	}
	var cred auth.Credential
	if err == nil {
		if cred, err = nr.CredentialLoader()(); err != nil {
			err = fmt.Errorf("loading credentials: %w", err)
		}
	}
	var guard *frontdoor.Guard
	if err == nil {
		if guard, err = frontdoor.New(nr.ClientAuth(), r.limiter); err != nil {
			err = fmt.Errorf("loading the listener's TLS and clients: %w", err)
		} else if nr.ClientAuth().TLS() != r.built.ClientAuth().TLS() {
			err = errors.New("TLS on the listener was turned on or off: restart esgate to apply that")
		} else if r.managed != nil {
			guard.UseManaged(r.managed)
		}
	}
	if err != nil {
		r.state.Store(&state{cfg: cur.cfg, digest: digest})
		r.m.Reload(false)
		r.log.Error("reload failed; keeping the previous configuration and material", "route", r.name, "trigger", why, "err", err)
		return fmt.Errorf("route %q: %w: %w", r.name, ErrReloadFailed, err)
	}
	r.tls.Set(nr.TLSOptions(), mat)
	r.cred.Set(nr.CredentialLoader(), cred)
	if r.token != nil {
		r.token.SetConfigured(cred)
	}
	added, removed := r.proxy.SetUpstreams(nr.Upstreams())
	r.proxy.RewriteNodesHTTP(nr.NodesHTTP == "rewrite")
	r.proxy.SetPolicy(policy.New(nr.Policy()))
	r.guard.Store(guard)
	r.proxy.SetGuard(guard)
	// Pooled connections were made with the old trust; new ones use the new.
	r.proxy.CloseIdleConnections()
	r.state.Store(&state{cfg: nr, digest: digest})
	r.m.Reload(true)
	r.exportExpiry()
	r.log.Info("reloaded", "route", r.name, "trigger", why, "auth", nr.AuthKind())
	if len(added)+len(removed) > 0 {
		r.log.Info("hosts changed", "route", r.name, "added", added, "removed", removed)
	}
	if keys := restartNeeded(r.built, nr); len(keys) > 0 {
		r.log.Warn("settings changed that apply only at start: restart esgate to apply them", "route", r.name, "keys", keys)
	}
	mat.LogExpiry(r.log, r.name, r.opts.ExpiryWarning)
	return nil
}

// exportExpiry publishes the loaded certificates' expiry.
func (r *Route) exportExpiry() {
	r.m.ResetCertExpiry()
	mat := r.tls.Current()
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
	case old.AuthKind() != nr.AuthKind() && (old.AuthKind() == "oauth2" || nr.AuthKind() == "oauth2"):
		return "oauth2_token_url"
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
	if bo, no := built.OAuth2(), nr.OAuth2(); bo != nil && no != nil {
		diff("oauth2_token_url", bo.TokenURL, no.TokenURL)
		diff("oauth2_client_id", bo.ClientID, no.ClientID)
		diff("oauth2_scopes", bo.Scopes, no.Scopes)
		diff("oauth2_endpoint_params", bo.Params, no.Params)
		diff("oauth2_auth_style", bo.AuthStyle, no.AuthStyle)
		diff("oauth2_ssl_certificate_authorities", built.OAuth2SSLCertificateAuthorities, nr.OAuth2SSLCertificateAuthorities)
	}
	if built.APIKeyManagement {
		diff("api_key_name", built.APIKeyName, nr.APIKeyName)
		diff("api_key_expiration", built.APIKeyExpiration, nr.APIKeyExpiration)
		diff("api_key_renew_after", built.APIKeyRenewAfter, nr.APIKeyRenewAfter)
		diff("api_key_invalidate_delay", built.APIKeyInvalidateDelay, nr.APIKeyInvalidateDelay)
	}
	return keys
}
