package main

import (
	"context"

	"crypto/sha256"
	"errors"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/esgate/esgate/auth"
	"github.com/esgate/esgate/bootstrap"
	"github.com/esgate/esgate/certs"
	"github.com/esgate/esgate/configs"
	"github.com/esgate/esgate/keys"
	"github.com/esgate/esgate/metrics"
	"github.com/esgate/esgate/proxy"
)

// route is one running route: its reloadable material, proxy and server.
type route struct {
	cfg *configs.Route
	// built is the configuration the route's components were built from;
	// settings a reload cannot apply are compared against it.
	built  *configs.Route
	tls    *certs.Source
	cred   *auth.Source
	proxy  *proxy.Proxy
	srv    *http.Server
	ln     net.Listener
	digest [32]byte // of the files last loaded or tried
	keys   *keys.Manager
	m      *metrics.Route
}

// exportExpiry publishes the loaded certificates' expiry.
func (rt *route) exportExpiry() {
	rt.m.ResetCertExpiry()
	mat := rt.tls.Current()
	for _, c := range mat.CAs {
		rt.m.CertExpiry("ca", c.Subject.String(), c.NotAfter)
	}
	if cc := mat.ClientCertificate(); cc != nil && cc.Leaf != nil {
		rt.m.CertExpiry("client", cc.Leaf.Subject.String(), cc.Leaf.NotAfter)
	}
}

// filesDigest hashes the paths and contents of files; an unreadable file
// contributes its error, so that its disappearance counts as a change.
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

// reloadAndLog reloads rt, logging the outcome with why.
func (rt *route) reloadAndLog(log *slog.Logger, why string, horizon time.Duration) {
	rt.digest = filesDigest(rt.cfg.Files())
	if err := rt.reload(); err != nil {
		rt.m.Reload(false)
		log.Error("reload failed; keeping the previous material", "route", rt.cfg.Name, "trigger", why, "err", err)
		return
	}
	rt.m.Reload(true)
	rt.exportExpiry()
	log.Info("reloaded", "route", rt.cfg.Name, "trigger", why)
	rt.tls.Current().LogExpiry(log, rt.cfg.Name, horizon)
}

// buildRoute creates a route's components from its validated config.
// observability is what serve adds to routes: metrics and the access log.
type observability struct {
	metrics   *metrics.Metrics
	accessLog *slog.Logger
	noBulk    bool
}

func buildRoute(r *configs.Route, log *slog.Logger, obs ...observability) (*route, error) {
	var ob observability
	if len(obs) > 0 {
		ob = obs[0]
	}
	mr := ob.metrics.Route(r.Name)
	tlsSrc, err := certs.NewSource(r.TLSOptions())
	if err != nil {
		return nil, fmt.Errorf("route %q: loading TLS material: %w", r.Name, err)
	}
	cred, err := auth.NewSource(r.CredentialLoader())
	if err != nil {
		return nil, fmt.Errorf("route %q: loading credentials: %w", r.Name, err)
	}
	// With api_key_management the configured credential only mints keys;
	// requests are forwarded with the minted key.
	fwd := cred
	var mgr *keys.Manager
	var onUnauthorized func(context.Context, string, []byte) bool
	if r.APIKeyManagement {
		fwd, _ = auth.NewSource(func() (auth.Credential, error) { return auth.NoHeader("api_key"), nil })
		onUnauthorized = func(ctx context.Context, sent string, body []byte) bool { return mgr.Recover(ctx, sent, body) }
	}
	p, err := proxy.New(proxy.Options{
		Name:                  r.Name,
		Upstreams:             r.Upstreams(),
		TLS:                   tlsSrc,
		Credential:            fwd,
		OnUnauthorized:        onUnauthorized,
		CustomHeaders:         r.CustomHeaders,
		ConnectTimeout:        r.ConnectTimeout.D(),
		HandshakeTimeout:      r.HandshakeTimeout.D(),
		ResponseHeaderTimeout: r.Timeout.D(),
		MaxIdlePerHost:        r.PoolMaxPerRoute,
		MaxConnsPerHost:       r.PoolMaxPerRoute,
		MaxConns:              r.PoolMax,
		IdleTimeout:           r.PoolIdleTimeout.D(),
		ResurrectDelay:        r.ResurrectDelay.D(),
		HealthcheckPath:       r.HealthcheckPath,
		UserAgent:             "esgate/" + version,
		MaxBodySize:           int64(r.MaxBodySize),
		MaxResponseHeaderSize: int64(r.MaxResponseHeaderSize),
		Metrics:               mr,
		AccessLog:             ob.accessLog,
		DisableBulkParsing:    ob.noBulk,
		Log:                   log,
	})
	if err != nil {
		return nil, fmt.Errorf("route %q: %w", r.Name, err)
	}
	if r.APIKeyManagement {
		es, err := bootstrap.NewClient(auth.Transport(p.Transport(), cred))
		if err != nil {
			return nil, err
		}
		host, _ := os.Hostname()
		name := r.APIKeyName
		if name == "" {
			name = "esgate-" + strings.NewReplacer(":", "-", "/", "-").Replace(r.Name) + "-" + host
		}
		mgr = keys.New(es, fwd, keys.Options{Name: name, Expiration: r.APIKeyExpiration, RenewAfter: r.APIKeyRenewAfter,
			InvalidateDelay: r.APIKeyInvalidateDelay.D(), Metadata: map[string]string{"host": host, "route": r.Name}, Log: log.With("route", r.Name),
			OnMint: mr.APIKeyExpiry})
	}
	for _, u := range r.Upstreams() {
		mr.HostUp(u.Host, true)
	}
	return &route{cfg: r, built: r, tls: tlsSrc, cred: cred, proxy: p, keys: mgr, m: mr}, nil
}

// reload re-reads the route's files; on failure the old material stays.
func (rt *route) reload() error {
	if err := rt.tls.Reload(); err != nil {
		return fmt.Errorf("route %q: reloading TLS material: %w", rt.cfg.Name, err)
	}
	if err := rt.cred.Reload(); err != nil {
		return fmt.Errorf("route %q: reloading credentials: %w", rt.cfg.Name, err)
	}
	// Pooled connections were made with the old trust; new ones use the new.
	rt.proxy.CloseIdleConnections()
	return nil
}

// serve runs every route until ctx ends or SIGTERM/SIGINT, then drains
// in-flight requests for at most shutdown_timeout. SIGHUP reloads files.
// ready, if not nil, receives the listeners' addresses once serving.
func serve(ctx context.Context, cfg *configs.Config, log *slog.Logger, ready func([]net.Addr), rl *reloader) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	obs := observability{metrics: metrics.New(reg), noBulk: cfg.BulkMetrics == "off"}
	if cfg.AccessLog == "on" {
		obs.accessLog = log.With("log", "access")
	}
	var routes []*route
	defer func() {
		for _, rt := range routes {
			rt.proxy.Close()
			if rt.ln != nil {
				rt.ln.Close()
			}
		}
	}()
	for i := range cfg.Routes {
		rt, err := buildRoute(&cfg.Routes[i], log, obs)
		if err != nil {
			return err
		}
		routes = append(routes, rt)
	}
	var addrs []net.Addr
	for _, rt := range routes {
		ln, err := proxy.Listen(rt.cfg.Listen)
		if err != nil {
			return fmt.Errorf("route %q: listening: %w", rt.cfg.Name, err)
		}
		rt.ln = ln
		addrs = append(addrs, ln.Addr())
		rt.proxy.RewriteNodesHTTP(rt.cfg.NodesHTTP == "rewrite")
		rt.srv = &http.Server{
			Handler:           rt.proxy,
			ReadHeaderTimeout: 30 * time.Second,
			IdleTimeout:       rt.cfg.ClientIdleTimeout.D(),
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		}
	}

	var status *http.Server
	if cfg.StatusListen != "off" {
		sl, err := net.Listen("tcp", cfg.StatusListen)
		if err != nil {
			return fmt.Errorf("status_listen: %w", err)
		}
		status = &http.Server{Handler: statusHandler(reg, routes, cfg.StatusPprof), ReadHeaderTimeout: 10 * time.Second}
		go status.Serve(sl)
		log.Info("status listener", "listen", sl.Addr().String(), "paths", "/metrics /healthz /readyz")
		addrs = append(addrs, sl.Addr())
	}

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, len(routes))
	for _, rt := range routes {
		rt.proxy.Start(ctx)
		if rt.keys != nil {
			mctx, mcancel := context.WithTimeout(ctx, 30*time.Second)
			err := rt.keys.Mint(mctx)
			mcancel()
			if err != nil {
				return fmt.Errorf("route %q: api_key_management: %w", rt.cfg.Name, err)
			}
			go rt.keys.Run(ctx)
		}
		rt.digest = filesDigest(rt.cfg.Files())
		rt.exportExpiry()
		for _, d := range rt.cfg.Deprecations() {
			log.Warn(d, "route", rt.cfg.Name)
		}
		m := rt.tls.Current()
		if m.Mode() == certs.VerifyNone {
			log.Warn("TLS VERIFICATION IS OFF: anyone on the network path can impersonate Elasticsearch and read the credentials (ssl_verification_mode: none)", "route", rt.cfg.Name)
		}
		m.LogExpiry(log, rt.cfg.Name, cfg.ExpiryWarning.D())
		hosts := make([]string, 0, len(rt.cfg.Upstreams()))
		for _, u := range rt.cfg.Upstreams() {
			hosts = append(hosts, u.String())
		}
		log.Info("listening", "route", rt.cfg.Name, "listen", rt.ln.Addr().String(), "hosts", hosts,
			"auth", rt.cfg.AuthKind(), "ssl_verification_mode", string(m.Mode()))
		go func(rt *route) {
			if err := rt.srv.Serve(rt.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("route %q: serving: %w", rt.cfg.Name, err)
			}
		}(rt)
	}
	if ready != nil {
		ready(addrs)
	}

	var globalFiles []string
	if rl != nil {
		globalFiles = rl.files()
	}
	globalDigest := filesDigest(globalFiles)
	// reloadAll re-reads the configuration (file, keystore) and every
	// route's files; what cannot change without a restart is reported.
	reloadAll := func(why string) {
		globalDigest = filesDigest(globalFiles)
		if rl == nil {
			for _, rt := range routes {
				rt.reloadAndLog(log, why, cfg.ExpiryWarning.D())
			}
			return
		}
		ncfg, err := rl.load()
		if err != nil {
			for _, rt := range routes {
				rt.m.Reload(false)
			}
			log.Error("reload failed; keeping the previous material", "trigger", why, "err", err)
			return
		}
		if len(ncfg.Routes) != len(routes) {
			log.Warn("routes were added or removed: restart esgate to apply that; reloading the existing routes' files only", "trigger", why)
			for _, rt := range routes {
				rt.reloadAndLog(log, why, cfg.ExpiryWarning.D())
			}
			return
		}
		for i, rt := range routes {
			nr := &ncfg.Routes[i]
			if key := routeIdentityChanged(rt.built, nr); key != "" {
				log.Warn(key+" changed: restart esgate to apply it; reloading the route's files only", "route", rt.cfg.Name)
				rt.reloadAndLog(log, "config changed", cfg.ExpiryWarning.D())
				continue
			}
			if err := rt.tls.ReloadWith(nr.TLSOptions()); err != nil {
				rt.m.Reload(false)
				log.Error("reload failed; keeping the previous material", "route", rt.cfg.Name, "trigger", why, "err", err)
				continue
			}
			if err := rt.cred.ReloadWith(nr.CredentialLoader()); err != nil {
				rt.m.Reload(false)
				log.Error("reload failed; keeping the previous material", "route", rt.cfg.Name, "trigger", why, "err", err)
				continue
			}
			rt.m.Reload(true)
			rt.exportExpiry()
			added, removed := rt.proxy.SetUpstreams(nr.Upstreams())
			rt.cfg = nr
			rt.proxy.RewriteNodesHTTP(rt.cfg.NodesHTTP == "rewrite")
			rt.digest = filesDigest(nr.Files())
			rt.proxy.CloseIdleConnections()
			log.Info("reloaded", "route", rt.cfg.Name, "trigger", why, "auth", nr.AuthKind())
			if len(added)+len(removed) > 0 {
				log.Info("hosts changed", "route", rt.cfg.Name, "added", added, "removed", removed)
			}
			if keys := restartNeeded(rt.built, nr); len(keys) > 0 {
				log.Warn("settings changed that apply only at start: restart esgate to apply them", "route", rt.cfg.Name, "keys", keys)
			}
			rt.tls.Current().LogExpiry(log, rt.cfg.Name, cfg.ExpiryWarning.D())
		}
	}

	var tick <-chan time.Time
	if cfg.ReloadInterval > 0 {
		t := time.NewTicker(cfg.ReloadInterval.D())
		defer t.Stop()
		tick = t.C
	}

	// This goroutine owns signals and reloads: they happen one at a time, here.
	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-errc:
			runErr = err
			break loop
		case <-tick:
			if filesDigest(globalFiles) != globalDigest {
				reloadAll("config changed")
				continue
			}
			for _, rt := range routes {
				if filesDigest(rt.cfg.Files()) != rt.digest {
					rt.reloadAndLog(log, "files changed", cfg.ExpiryWarning.D())
				}
			}
		case s := <-sigs:
			if s == syscall.SIGHUP {
				reloadAll("SIGHUP")
				continue
			}
			log.Info("shutting down: draining in-flight requests", "signal", s.String(), "timeout", cfg.ShutdownTimeout.String())
			break loop
		}
	}

	sctx, scancel := context.WithTimeoutCause(context.Background(), cfg.ShutdownTimeout.D(),
		fmt.Errorf("shutdown_timeout %s exceeded", cfg.ShutdownTimeout))
	defer scancel()
	var wg sync.WaitGroup
	for _, rt := range routes {
		wg.Add(1)
		go func(rt *route) {
			defer wg.Done()
			if err := rt.srv.Shutdown(sctx); err != nil {
				log.Error("requests were still in flight at shutdown_timeout; closing them", "route", rt.cfg.Name, "err", context.Cause(sctx))
				rt.srv.Close()
			}
		}(rt)
	}
	wg.Wait()
	if status != nil {
		status.Close()
	}
	if runErr == nil {
		log.Info("stopped")
	}
	return runErr
}

// routeIdentityChanged names what makes a reloaded route a different one
// (its name, address or the API key manager), or returns "".
func routeIdentityChanged(old, nr *configs.Route) string {
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
// credentials (of any method) and hosts reload; these are set at start.
func restartNeeded(built, nr *configs.Route) []string {
	var keys []string
	diff := func(key string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			keys = append(keys, key)
		}
	}
	diff("custom_headers", built.CustomHeaders, nr.CustomHeaders)
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
	if built.APIKeyManagement {
		diff("api_key_name", built.APIKeyName, nr.APIKeyName)
		diff("api_key_expiration", built.APIKeyExpiration, nr.APIKeyExpiration)
		diff("api_key_renew_after", built.APIKeyRenewAfter, nr.APIKeyRenewAfter)
		diff("api_key_invalidate_delay", built.APIKeyInvalidateDelay, nr.APIKeyInvalidateDelay)
	}
	return keys
}
