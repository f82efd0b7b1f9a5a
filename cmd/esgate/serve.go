package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/esgate/esgate/configs"
	"github.com/esgate/esgate/proxy/metrics"
	"github.com/esgate/esgate/proxy/route"
)

// buildRoute builds a quiet route for esgate's one-shot commands (check,
// bootstrap, load).
func buildRoute(r *configs.Route) (*route.Route, error) {
	return route.New(r, route.Options{UserAgent: "esgate/" + version})
}

// serve runs every route until ctx ends or SIGTERM/SIGINT, then drains
// in-flight requests for at most shutdown_timeout. SIGHUP reloads files.
// ready, if not nil, receives the listeners' addresses once serving.
func serve(ctx context.Context, cfg *configs.Config, log *slog.Logger, ready func([]net.Addr), rl *reloader) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mets := metrics.New(reg)
	ro := route.Options{Log: log, Metrics: mets, NoBulkMetrics: cfg.BulkMetrics == "off",
		UserAgent: "esgate/" + version, ExpiryWarning: cfg.ExpiryWarning.D()}
	if cfg.AccessLog == "on" {
		ro.AccessLog = accessLogger(log)
	}
	var routes []*route.Route
	defer func() {
		for _, rt := range routes {
			rt.Close()
		}
	}()
	for i := range cfg.Routes {
		rt, err := route.New(&cfg.Routes[i], ro)
		if err != nil {
			return err
		}
		routes = append(routes, rt)
	}
	var addrs []net.Addr
	for _, rt := range routes {
		addr, err := rt.Listen()
		if err != nil {
			return err
		}
		addrs = append(addrs, addr)
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
	for i, rt := range routes {
		if err := rt.Start(ctx); err != nil {
			return err
		}
		rc := rt.Config()
		hosts := make([]string, 0, len(rc.Upstreams()))
		for _, u := range rc.Upstreams() {
			hosts = append(hosts, u.String())
		}
		log.Info("listening", "route", rt.Name(), "listen", addrs[i].String(), "hosts", hosts,
			"auth", rc.AuthKind(), "ssl_verification_mode", string(rt.TLS().Mode()))
		go func() {
			if err := rt.Serve(); err != nil {
				errc <- err
			}
		}()
	}
	if ready != nil {
		ready(addrs)
	}
	if err := writeReadyFile(cfg.ReadyFile, routes, addrs); err != nil {
		return err
	}
	defer removeReadyFile(cfg.ReadyFile)
	// Every route listens: systemd (Type=notify) may start what depends
	// on esgate.
	if err := sdNotify("READY=1\nSTATUS=forwarding"); err != nil {
		log.Warn("telling systemd esgate is ready failed", "err", err)
	}

	var globalFiles []string
	if rl != nil {
		globalFiles = rl.files()
	}
	globalDigest := route.FilesDigest(globalFiles)
	// reloadAll re-reads the configuration (file, keystore, flags) and
	// reloads every route with it; each route applies its part whole or
	// keeps its old state whole.
	reloadAll := func(why string) {
		globalDigest = route.FilesDigest(globalFiles)
		if rl == nil {
			for _, rt := range routes {
				rt.Reload(nil, why)
			}
			return
		}
		ncfg, err := rl.load()
		if err != nil {
			for _, rt := range routes {
				ro.Metrics.Route(rt.Name()).Reload(false)
			}
			log.Error("reload failed; keeping the previous configuration and material", "trigger", why, "err", err)
			return
		}
		if len(ncfg.Routes) != len(routes) {
			log.Warn("routes were added or removed: restart esgate to apply that; reloading the existing routes' files only", "trigger", why)
			for _, rt := range routes {
				rt.Reload(nil, why)
			}
			return
		}
		for i, rt := range routes {
			rt.Reload(&ncfg.Routes[i], why)
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
			if route.FilesDigest(globalFiles) != globalDigest {
				reloadAll("config changed")
				continue
			}
			for _, rt := range routes {
				if rt.FilesChanged() {
					rt.Reload(nil, "files changed")
				}
			}
		case s := <-sigs:
			if s == syscall.SIGHUP {
				sdNotify("RELOADING=1")
				reloadAll("SIGHUP")
				sdNotify("READY=1")
				continue
			}
			log.Info("shutting down: draining in-flight requests", "signal", s.String(), "timeout", cfg.ShutdownTimeout.String())
			break loop
		}
	}

	sdNotify("STOPPING=1")
	sctx, scancel := context.WithTimeoutCause(context.Background(), cfg.ShutdownTimeout.D(),
		fmt.Errorf("shutdown_timeout %s exceeded", cfg.ShutdownTimeout))
	defer scancel()
	var wg sync.WaitGroup
	for _, rt := range routes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := rt.Shutdown(sctx); err != nil {
				log.Error("requests were still in flight at shutdown_timeout; closing them", "route", rt.Name(), "err", err)
			}
		}()
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
