package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/esgate/esgate/configs"
	"github.com/esgate/esgate/test/load"
)

// loadCmd implements `esgate load`: a bulk traffic generator. Against an
// http:// target (esgate) it needs nothing else; against an https://
// cluster it takes serve's credential and trust flags and uses esgate's
// own transport.
// loadFlags are load's own flags.
type loadFlags struct {
	target   string
	clients  int
	rate     float64
	duration time.Duration
	events   int64
	warmup   time.Duration
	verify   bool
	output   string
	wo       load.WorkloadOptions
}

func (lf *loadFlags) flags(fs *flag.FlagSet) {
	fs.StringVar(&lf.target, "target", "http://127.0.0.1:9200", "where to send: esgate (http://) or a cluster (https://, with the cluster, trust and credential flags)")
	fs.IntVar(&lf.clients, "clients", 4, "concurrent connections")
	fs.Float64Var(&lf.rate, "rate", 0, "open loop: events per second, latency measured from the scheduled send time (default 0: closed loop)")
	fs.DurationVar(&lf.duration, "duration", 0, "how long to measure (default 10s unless --events is set)")
	fs.Int64Var(&lf.events, "events", 0, "stop after at most this many events (default 0: no limit)")
	fs.DurationVar(&lf.warmup, "warmup", 0, "unmeasured warm-up before the run")
	fs.BoolVar(&lf.verify, "verify", false, "check through _count that every acknowledged event arrived")
	fs.StringVar(&lf.output, "output", "text", "text or json")
	fs.IntVar(&lf.wo.BatchSize, "batch-size", 125, "events per bulk request (Logstash's pipeline.batch.size)")
	fs.IntVar(&lf.wo.BatchBytes, "batch-bytes", 0, "also end a batch at this many bytes (default 0: by count only)")
	fs.IntVar(&lf.wo.EventSize, "event-size", 300, "mean message length in bytes (log-normal)")
	fs.StringVar(&lf.wo.Action, "action", "create", "create or index")
	fs.StringVar(&lf.wo.Index, "index", "logstash-load", "index or data stream")
	fs.IntVar(&lf.wo.Gzip, "gzip", 1, "gzip level for request bodies, 0 for none (Logstash's default is 1)")
	fs.Uint64Var(&lf.wo.Seed, "seed", 1, "seed for the generated events")
	fs.StringVar(&lf.wo.File, "file", "", "replay this NDJSON file (bulk pairs or one document per line) instead of generating")
}

// loadCmd implements `esgate load`: a bulk traffic generator. Against an
// http:// target (esgate) it needs nothing else; against an https://
// cluster it takes the cluster, trust and credential flags and uses
// esgate's own transport.
func loadCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	lf := &loadFlags{}
	fs, fl, code, ok := lookupCommand("load").parseFlags(lf, args, stdout, stderr)
	if !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "error: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return exitUsage
	}
	var (
		target, clients, rate, duration = &lf.target, &lf.clients, &lf.rate, &lf.duration
		events, warmup, verify, output  = &lf.events, &lf.warmup, &lf.verify, &lf.output
		wo                              = lf.wo
	)
	fail := func(code int, err error) int {
		fmt.Fprintf(stderr, "error: %s\n", err)
		return code
	}
	switch {
	case wo.Action != "create" && wo.Action != "index":
		return fail(exitUsage, fmt.Errorf("--action: want create or index, got %q", wo.Action))
	case *output != "text" && *output != "json":
		return fail(exitUsage, fmt.Errorf("--output: want text or json, got %q", *output))
	case wo.Gzip < 0 || wo.Gzip > 9:
		return fail(exitUsage, fmt.Errorf("--gzip: want 0 to 9, got %d", wo.Gzip))
	case *clients <= 0:
		return fail(exitUsage, errors.New("--clients: must be positive"))
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *clients, DisableCompression: true}, Timeout: 5 * time.Minute}
	if strings.HasPrefix(*target, "https://") {
		// A secured cluster: esgate's own transport, credential and trust.
		lookup, err := secretLookup(fl)
		if err != nil {
			return fail(exitUsage, err)
		}
		cfg, err := configs.Load(fl, lookup)
		if err == nil && len(cfg.Routes) == 1 && len(cfg.Routes[0].Hosts) == 0 && cfg.Routes[0].CloudID == "" {
			cfg.Routes[0].Hosts = []string{*target}
		}
		if err == nil {
			err = cfg.Validate()
		}
		if err != nil {
			return fail(exitUsage, err)
		}
		rt, err := buildRoute(&cfg.Routes[0])
		if err != nil {
			return fail(exitFailed, err)
		}
		defer rt.Close()
		client = &http.Client{Transport: rt.OwnTransport(), Timeout: 5 * time.Minute}
	}
	batches, err := load.Batches(wo, 64)
	if err != nil {
		return fail(exitUsage, err)
	}
	var before int64
	if *verify {
		if before, err = load.Count(ctx, client, *target, wo.Index); err != nil {
			return fail(exitFailed, err)
		}
	}
	opts := load.Options{Target: *target, Client: client, Clients: *clients, Rate: *rate, Duration: *duration,
		Events: *events, Warmup: *warmup, Batches: batches, Gzip: wo.Gzip > 0}
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) && *output == "text" {
		opts.Progress = func(s load.Snapshot) {
			fmt.Fprintf(stderr, "\r%5.0fs  %8.0f events/s  %7.1f MB/s wire  %d errors  p99 %.1f ms   ",
				s.Elapsed.Seconds(), float64(s.Events)/s.Elapsed.Seconds(), float64(s.WireBytes)/1e6/s.Elapsed.Seconds(), s.Errors,
				float64(s.P99.Microseconds())/1000)
		}
	}
	res, err := load.Run(ctx, opts)
	if opts.Progress != nil {
		fmt.Fprint(stderr, "\r\033[K")
	}
	if err != nil {
		return fail(exitFailed, err)
	}
	if *verify {
		v, err := load.Verify(ctx, client, *target, wo.Index, before, res.Events)
		if err != nil {
			return fail(exitFailed, err)
		}
		res.Verified = v
	}
	if *output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(res)
	} else {
		fmt.Fprint(stdout, res.Text())
	}
	if res.Verified != nil && !res.Verified.OK {
		return exitFailed
	}
	return exitOK
}
