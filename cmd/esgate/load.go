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
	"github.com/esgate/esgate/load"
)

// loadCmd implements `esgate load`: a bulk traffic generator. Against an
// http:// target (esgate) it needs nothing else; against an https://
// cluster it takes serve's credential and trust flags and uses esgate's
// own transport.
func loadCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("esgate load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fl := configs.RegisterFlags(fs)
	var (
		target   = fs.String("target", "http://127.0.0.1:9200", "where to send: esgate (http://) or a cluster (https://, with the credential and trust flags)")
		clients  = fs.Int("clients", 4, "concurrent connections")
		rate     = fs.Float64("rate", 0, "open loop: events per second, latency measured from the scheduled send time (default 0: closed loop)")
		duration = fs.Duration("duration", 0, "how long to measure (default 10s unless --events is set)")
		events   = fs.Int64("events", 0, "stop after at most this many events")
		warmup   = fs.Duration("warmup", 0, "unmeasured warm-up before the run")
		verify   = fs.Bool("verify", false, "check through _count that every acknowledged event arrived")
		output   = fs.String("output", "text", "text or json")
		wo       load.WorkloadOptions
	)
	fs.IntVar(&wo.BatchSize, "batch-size", 125, "events per bulk request (Logstash's pipeline.batch.size)")
	fs.IntVar(&wo.BatchBytes, "batch-bytes", 0, "also end a batch at this many bytes")
	fs.IntVar(&wo.EventSize, "event-size", 300, "mean message length in bytes (log-normal)")
	fs.StringVar(&wo.Action, "action", "create", "create or index")
	fs.StringVar(&wo.Index, "index", "logstash-load", "index or data stream")
	fs.IntVar(&wo.Gzip, "gzip", 1, "gzip level for request bodies, 0 for none (Logstash's default is 1)")
	fs.Uint64Var(&wo.Seed, "seed", 1, "seed for the generated events")
	fs.StringVar(&wo.File, "file", "", "replay this NDJSON file (bulk pairs or one document per line) instead of generating")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
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
