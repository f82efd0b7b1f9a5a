package main

import (
	"encoding/json"
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/esgate/esgate/proxy/route"
)

// statusHandler serves the status listener: /metrics, /healthz (the
// process is alive), /readyz (every route has a live host that accepts its
// credentials) and, if asked, /debug/pprof/. It never forwards anything.
func statusHandler(reg *prometheus.Registry, routes []*route.Route, withPprof bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		type state struct {
			Ready  bool   `json:"ready"`
			Reason string `json:"reason,omitempty"`
		}
		out := struct {
			Ready  bool             `json:"ready"`
			Routes map[string]state `json:"routes"`
		}{Ready: true, Routes: map[string]state{}}
		for _, rt := range routes {
			ok, why := rt.Ready()
			out.Routes[rt.Name()] = state{ok, why}
			out.Ready = out.Ready && ok
		}
		w.Header().Set("Content-Type", "application/json")
		if !out.Ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		json.NewEncoder(w).Encode(out)
	})
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		// Not /debug/pprof/cmdline: the command line may hold an inline
		// --password or --api-key. (pprof.Index answers it 404.)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}
