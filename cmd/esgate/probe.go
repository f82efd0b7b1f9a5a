package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// probeFlags are probe's flags.
type probeFlags struct {
	addr    string
	live    bool
	timeout time.Duration
	quiet   bool
}

func (pf *probeFlags) flags(fs *flag.FlagSet) {
	fs.StringVar(&pf.addr, "status-listen", "127.0.0.1:9201", "the status listener to ask (esgate's status_listen)")
	fs.BoolVar(&pf.live, "live", false, "ask /healthz (the process serves) instead of /readyz (the routes can forward)")
	fs.DurationVar(&pf.timeout, "timeout", 3*time.Second, "give up after this long")
	fs.BoolVar(&pf.quiet, "quiet", false, "print nothing")
}

// probeCmd asks a running esgate's status listener whether it is ready
// (/readyz: every route has a live host that accepts its credential) or,
// with --live, alive (/healthz). It exits 0 or 1, for exec probes and the
// image's HEALTHCHECK, where there is no curl.
func probeCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	pf := &probeFlags{}
	fs, _, code, ok := lookupCommand("probe").parseFlags(pf, args, stdout, stderr)
	if !ok {
		return code
	}
	addr, live, timeout, quiet := &pf.addr, &pf.live, &pf.timeout, &pf.quiet
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "error: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return exitUsage
	}
	if _, _, err := net.SplitHostPort(*addr); err != nil {
		fmt.Fprintf(stderr, "error: --status-listen: want host:port, got %q\n", *addr)
		return exitUsage
	}
	path := "/readyz"
	if *live {
		path = "/healthz"
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+*addr+path, nil)
	req.Header.Set("User-Agent", "esgate-probe/"+version)
	res, err := (&http.Client{Transport: &http.Transport{Proxy: nil}}).Do(req)
	if err != nil {
		if !*quiet {
			fmt.Fprintf(stderr, "not ready: asking %s%s: %v (is esgate running, with status_listen %s?)\n", *addr, path, err, *addr)
		}
		return exitFailed
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if res.StatusCode == http.StatusOK {
		if !*quiet {
			fmt.Fprintln(stdout, "ok")
		}
		return exitOK
	}
	if !*quiet {
		var r struct {
			Routes map[string]struct {
				Ready  bool   `json:"ready"`
				Reason string `json:"reason"`
			} `json:"routes"`
		}
		reasons := []string{}
		if json.Unmarshal(body, &r) == nil {
			for name, s := range r.Routes {
				if !s.Ready {
					reasons = append(reasons, fmt.Sprintf("route %q: %s", name, s.Reason))
				}
			}
		}
		if len(reasons) == 0 {
			reasons = append(reasons, res.Status)
		}
		fmt.Fprintf(stderr, "not ready: %s\n", strings.Join(reasons, "; "))
	}
	return exitFailed
}
