package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.yaml.in/yaml/v3"
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

	shard          string
	runID          string
	startAt        string
	verifyTarget   string
	barrierTimeout time.Duration
	interval       time.Duration
	plot           string

	metricsListen string
	metricsGrace  time.Duration
	resultsTarget string
}

// flagGroups are load's own flags in its help, by what they shape.
func (*loadFlags) flagGroups() []section {
	return []section{
		{"Load target", []string{"target", "verify", "verify-target"}},
		{"Load workload", []string{"batch-size", "batch-bytes", "event-size", "action", "index", "gzip", "seed", "file"}},
		{"Load schedule", []string{"clients", "rate", "duration", "events", "warmup"}},
		{"Load sharding", []string{"shard", "run-id", "start-at", "barrier-timeout"}},
		{"Load output", []string{"output", "interval", "metrics-listen", "metrics-grace", "plot", "results-target"}},
	}
}

// reportFlags are the flags of load's own that load report uses (with
// the cluster, trust and credential flags, for --verify or
// --results-target through an https:// target); compareFlags, load
// compare's. Any other is refused rather than ignored.
var (
	reportFlags  = []string{"output", "verify", "verify-target", "target", "plot", "results-target"}
	compareFlags = []string{"output", "plot"}
)

// refuseFlags returns an error naming the first of load's own flags set
// in fs that sub does not take.
func refuseFlags(fs *flag.FlagSet, sub string, takes []string) error {
	own := map[string]bool{}
	for _, s := range (*loadFlags).flagGroups(nil) {
		for _, n := range s.names {
			own[n] = true
		}
	}
	var err error
	fs.Visit(func(f *flag.Flag) {
		if err == nil && (own[f.Name] || sub == "compare") && !slices.Contains(takes, f.Name) {
			err = fmt.Errorf("--%s is not a flag of esgate load %s, which takes --%s", f.Name, sub, strings.Join(takes, ", --"))
		}
	})
	return err
}

func (lf *loadFlags) flags(fs *flag.FlagSet) {
	fs.StringVar(&lf.target, "target", "http://127.0.0.1:9200", "where to send: esgate (http://) or a cluster (https://, with the cluster, trust and credential flags)")
	fs.IntVar(&lf.clients, "clients", 4, "concurrent connections")
	fs.Float64Var(&lf.rate, "rate", 0, "open loop: events per second, latency measured from the scheduled send time (default 0: closed loop)")
	fs.DurationVar(&lf.duration, "duration", 0, "how long to measure (default 10s unless --events is set)")
	fs.Int64Var(&lf.events, "events", 0, "stop after at most this many events (default 0: no limit)")
	fs.DurationVar(&lf.warmup, "warmup", 0, "unmeasured warm-up before the run")
	fs.BoolVar(&lf.verify, "verify", false, "check through _count that every acknowledged event arrived")
	fs.StringVar(&lf.output, "output", "text", "text, json, or records: interval records (counters and full HdrHistograms, one JSON line every --interval and a final one) for esgate load report")
	fs.IntVar(&lf.wo.BatchSize, "batch-size", 125, "events per bulk request (Logstash's pipeline.batch.size)")
	fs.IntVar(&lf.wo.BatchBytes, "batch-bytes", 0, "also end a batch at this many bytes (default 0: by count only)")
	fs.IntVar(&lf.wo.EventSize, "event-size", 300, "mean message length in bytes (log-normal)")
	fs.StringVar(&lf.wo.Action, "action", "create", "create or index")
	fs.StringVar(&lf.wo.Index, "index", "logstash-load", "index or data stream")
	fs.IntVar(&lf.wo.Gzip, "gzip", 1, "gzip level for request bodies, 0 for none (Logstash's default is 1)")
	fs.Uint64Var(&lf.wo.Seed, "seed", 1, "seed for the generated events")
	fs.StringVar(&lf.wo.File, "file", "", "replay this NDJSON file (bulk pairs or one document per line) instead of generating")
	fs.StringVar(&lf.shard, "shard", "", "run shard I of N of the test (I/N; I defaults to $JOB_COMPLETION_INDEX, as in --shard /4): --rate, --clients, --events and the batches are the whole test's, split (default: the whole test)")
	fs.StringVar(&lf.runID, "run-id", "", "the test's id, the same for every shard: names the start barrier's documents, the records and the metrics (default: from --start-at; needed with --shard N>1 otherwise; else run-ID, ID this process's random id)")
	fs.StringVar(&lf.startAt, "start-at", "", "start (the warm-up) at this RFC 3339 time instead of at the start barrier (default: the barrier, with --shard N>1)")
	fs.StringVar(&lf.verifyTarget, "verify-target", "", "read _count, and the start barrier's documents, through this URL, such as esgate's read route (default: the read route of --config's esgate config, else --target; if --target may not read, the read route of ./esgate.secrets)")
	fs.DurationVar(&lf.barrierTimeout, "barrier-timeout", 5*time.Minute, "how long a shard waits at the start barrier for the others")
	fs.DurationVar(&lf.interval, "interval", 5*time.Second, "time between interval records (--output records)")
	fs.StringVar(&lf.metricsListen, "metrics-listen", "", "serve the run's Prometheus metrics (esgate_load_*, labelled run_id and shard) at http://ADDR/metrics while it runs (default none)")
	fs.DurationVar(&lf.metricsGrace, "metrics-grace", 15*time.Second, "keep --metrics-listen up this long after the run, so that the last scrape sees the final counts: at least the scrape interval")
	fs.StringVar(&lf.plot, "plot", "", "load report: also draw latency over time per shard into this SVG file; load compare: both runs' latency distributions (default none)")
	fs.StringVar(&lf.resultsTarget, "results-target", "", "load report: also write the merged report as one document into this index through esgate, as in http://127.0.0.1:9200/esgate-load-results (default none)")
}

// loadCmd implements `esgate load`: a bulk traffic generator. Against an
// http:// target (esgate) it needs nothing else; against an https://
// cluster it takes the cluster, trust and credential flags and uses
// esgate's own transport.
func loadCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "report" {
		return loadReportCmd(ctx, args[1:], os.Stdin, stdout, stderr)
	}
	if len(args) > 0 && args[0] == "compare" {
		return loadCompareCmd(args[1:], stdout, stderr)
	}
	lf := &loadFlags{}
	fs, fl, code, ok := lookupCommand("load").parseFlags(lf, args, stdout, stderr)
	if !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "error: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return exitUsage
	}
	fail := func(code int, err error) int {
		fmt.Fprintf(stderr, "error: %s\n", err)
		return code
	}
	wo := lf.wo
	if err := lf.checkTargets(); err != nil {
		return fail(exitUsage, err)
	}
	switch {
	case wo.Action != "create" && wo.Action != "index":
		return fail(exitUsage, fmt.Errorf("--action: want create or index, got %q", wo.Action))
	case lf.output != "text" && lf.output != "json" && lf.output != "records":
		return fail(exitUsage, fmt.Errorf("--output: want text, json or records, got %q", lf.output))
	case wo.Gzip < 0 || wo.Gzip > 9:
		return fail(exitUsage, fmt.Errorf("--gzip: want 0 to 9, got %d", wo.Gzip))
	case lf.clients <= 0:
		return fail(exitUsage, errors.New("--clients: must be positive"))
	case lf.interval <= 0:
		return fail(exitUsage, errors.New("--interval: must be positive"))
	}
	shard, err := shardSpec(lf.shard, os.Getenv("JOB_COMPLETION_INDEX"))
	if err != nil {
		return fail(exitUsage, fmt.Errorf("--shard: %w", err))
	}
	var startAt time.Time
	if lf.startAt != "" {
		if startAt, err = time.Parse(time.RFC3339Nano, lf.startAt); err != nil {
			return fail(exitUsage, fmt.Errorf("--start-at: want an RFC 3339 time such as 2026-12-03T18:00:00Z, got %q", lf.startAt))
		}
	}
	run := lf.runID
	if run == "" && !startAt.IsZero() {
		run = "start-" + startAt.UTC().Format("20060102t150405")
	}
	if run == "" && shard.N > 1 {
		return fail(exitUsage, errors.New("--run-id: needed with --shard N>1 and no --start-at, the same for every shard (deploy/kubernetes/load uses the Job's controller-uid)"))
	}
	instanceID := make([]byte, 8)
	rand.Read(instanceID)
	instance := hex.EncodeToString(instanceID)
	if run == "" {
		run = "run-" + instance // one process is the whole test
	}
	if shard.N > 1 && int64(lf.clients) < int64(shard.N) {
		return fail(exitUsage, fmt.Errorf("--clients: %d clients cannot be split between %d shards", lf.clients, shard.N))
	}
	// The metrics are served from the start, before the workload is
	// generated (most of a second of CPU), so that a shard is seen at once,
	// with zero counts, also while it waits at the barrier. They stay up
	// for --metrics-grace after a run, not after a usage error found
	// before it (grace is set once the workload is built).
	var metrics *load.Metrics
	var grace time.Duration
	if lf.metricsListen != "" {
		reg := prometheus.NewRegistry()
		metrics = load.NewMetrics(reg, run, shard.I)
		stop, err := serveMetrics(lf.metricsListen, reg)
		if err != nil {
			return fail(exitFailed, fmt.Errorf("--metrics-listen: %w", err))
		}
		defer func() { stop(ctx, grace) }()
	}
	client, closeClient, err := loadClient(lf.target, fl)
	if err != nil {
		return fail(exitUsage, err)
	}
	defer closeClient()
	readClient, readTarget := client, lf.target
	if lf.verifyTarget != "" {
		readTarget = lf.verifyTarget
		c, closeRead, err := loadClient(lf.verifyTarget, fl)
		if err != nil {
			return fail(exitUsage, fmt.Errorf("--verify-target: %w", err))
		}
		defer closeRead()
		readClient = c
	} else if u, ok := readRouteOf(fl.ConfigFile); fl.ConfigFile != "" && ok {
		// --config names an esgate config with a read route (bootstrap's
		// esgate.secrets): _count and the barrier read through it.
		readTarget = u
		readClient = &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: 5 * time.Minute}
	}

	// This shard's part of the test.
	wo.Seed = shard.Seed(lf.wo.Seed)
	batches, err := load.Batches(wo, 64*shard.N)
	if err != nil {
		return fail(exitUsage, err)
	}
	if shard.N > 1 {
		var mine []load.Batch
		for k := shard.I; k < len(batches); k += shard.N {
			mine = append(mine, batches[k])
		}
		batches = mine
	}
	grace = lf.metricsGrace
	if startAt.IsZero() && shard.N > 1 { // else --start-at is the barrier
		b := load.Barrier{Client: client, Target: lf.target, ReadClient: readClient, ReadTarget: readTarget,
			Index: wo.Index + "-barrier", Run: run, Shard: shard, Timeout: lf.barrierTimeout}
		fmt.Fprintf(stderr, "shard %d/%d of run %q: waiting at the start barrier (%s)\n", shard.I, shard.N, run, b.Index)
		if startAt, err = b.Wait(ctx); err != nil {
			return fail(exitFailed, err)
		}
	}
	var before *int64
	if lf.verify {
		n, err := load.Count(ctx, readClient, readTarget, wo.Index)
		if errors.Is(err, load.ErrReadRefused) && readTarget == lf.target {
			// Behind bootstrap's publish route, which may only write: count
			// through the read route of the esgate config (--config, or
			// bootstrap's esgate.secrets here).
			path := fl.ConfigFile
			if path == "" {
				path = "esgate.secrets"
			}
			if u, ok := readRouteOf(path); ok {
				fmt.Fprintf(stderr, "counting through %s's read route %s (the target may not read %s)\n", path, u, wo.Index)
				readTarget, readClient = u, &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: 5 * time.Minute}
				n, err = load.Count(ctx, readClient, readTarget, wo.Index)
			}
		}
		if err != nil {
			return fail(exitFailed, fmt.Errorf("%w (give --verify-target URL, a route that may read it, such as bootstrap's read route, or --config with the esgate config that has one)", err))
		}
		before = &n
	}
	opts := load.Options{Target: lf.target, Client: client, Clients: int(shard.Part(int64(lf.clients))), Rate: lf.rate,
		Duration: lf.duration, Events: shard.Part(lf.events), Warmup: lf.warmup, Batches: batches, Gzip: wo.Gzip > 0,
		Shard: shard, Start: startAt, Interval: lf.interval, Run: run, Instance: instance, CountBefore: before, Metrics: metrics,
		Params: load.Params{Target: lf.target, Rate: lf.rate, Clients: lf.clients, Events: lf.events, Duration: durString(lf.duration),
			Warmup: durString(lf.warmup), BatchSize: lf.wo.BatchSize, EventSize: lf.wo.EventSize, Action: lf.wo.Action,
			Index: lf.wo.Index, Gzip: lf.wo.Gzip, Seed: lf.wo.Seed, File: lf.wo.File}}
	if lf.output == "records" {
		var mu sync.Mutex
		enc := json.NewEncoder(stdout)
		opts.OnRecord = func(r load.Record) {
			mu.Lock()
			defer mu.Unlock()
			enc.Encode(r)
		}
	}
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) && lf.output == "text" {
		opts.Progress = func(s load.Snapshot) { fmt.Fprint(stderr, "\r"+progressLine(s)) }
	}
	res, err := load.Run(ctx, opts)
	if opts.Progress != nil {
		fmt.Fprint(stderr, "\r\033[K")
	}
	if err != nil {
		return fail(exitFailed, err)
	}
	if lf.verify && shard.N > 1 {
		fmt.Fprintf(stderr, "shard %d/%d: --verify checks the whole test: esgate load report --verify on every shard's records\n", shard.I, shard.N)
	} else if lf.verify {
		v, err := load.Verify(ctx, readClient, readTarget, wo.Index, *before, res.Events+res.WarmupEvents)
		if err != nil {
			return fail(exitFailed, err)
		}
		res.Verified = v
	}
	switch lf.output {
	case "json":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(res)
	case "records":
		fmt.Fprint(stderr, res.Text())
	default:
		fmt.Fprint(stdout, res.Text())
	}
	if res.Verified != nil && !res.Verified.OK {
		return exitFailed
	}
	return exitOK
}

// progressLine is the live progress display of a run on a terminal:
// elapsed time, events acknowledged, their rate, the p99 latency of the
// last second, and errors, in one line of fixed layout.
func progressLine(s load.Snapshot) string {
	rate := 0.0
	if secs := s.Elapsed.Seconds(); secs > 0 {
		rate = float64(s.Events) / secs
	}
	return fmt.Sprintf("%5.0fs  %10d events  %8.0f events/s  p99 %7.1f ms  %d errors   ",
		s.Elapsed.Seconds(), s.Events, rate, float64(s.P99.Microseconds())/1000, s.Errors)
}

// serveMetrics serves reg at http://addr/metrics. stop keeps serving for
// grace (or until ctx ends), so that the last scrape sees the final
// counts, then closes the listener.
func serveMetrics(addr string, reg *prometheus.Registry) (stop func(ctx context.Context, grace time.Duration), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	return func(ctx context.Context, grace time.Duration) {
		if grace > 0 {
			t := time.NewTimer(grace)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		<-done
	}, nil
}

// loadCompareCmd implements `esgate load compare A B`: two runs' merged
// reports side by side.
func loadCompareCmd(args []string, stdout, stderr io.Writer) int {
	lf := &loadFlags{}
	fs, _, code, ok := lookupCommand("load").parseFlags(lf, args, stdout, stderr)
	if !ok {
		return code
	}
	fail := func(code int, err error) int {
		fmt.Fprintf(stderr, "error: %s\n", err)
		return code
	}
	if err := refuseFlags(fs, "compare", compareFlags); err != nil {
		return fail(exitUsage, err)
	}
	if fs.NArg() != 2 {
		return fail(exitUsage, errors.New("esgate load compare: name two runs' records (files or directories): A B"))
	}
	if lf.output != "text" && lf.output != "json" {
		return fail(exitUsage, fmt.Errorf("--output: want text or json, got %q", lf.output))
	}
	var runs [2]*load.Merged
	for i, p := range fs.Args() {
		recs, err := load.ReadRecordPaths([]string{p}, nil)
		if err != nil {
			return fail(exitFailed, fmt.Errorf("%s: %w", p, err))
		}
		if runs[i], err = load.MergeRun(recs); err != nil {
			return fail(exitFailed, fmt.Errorf("%s: %w", p, err))
		}
	}
	cmp := load.Compare(runs[0], runs[1])
	if lf.plot != "" {
		var svg bytes.Buffer
		if err := load.PlotDistributions(&svg, runs[0], runs[1]); err != nil {
			return fail(exitFailed, fmt.Errorf("--plot: %w", err))
		}
		if err := os.WriteFile(lf.plot, svg.Bytes(), 0o644); err != nil {
			return fail(exitFailed, fmt.Errorf("--plot: %w", err))
		}
	}
	if lf.output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(cmp)
	} else {
		fmt.Fprint(stdout, cmp.Text())
	}
	return exitOK
}

// loadReportCmd implements `esgate load report FILE|DIR|-...`: every
// shard's interval records merged into one report.
func loadReportCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	lf := &loadFlags{}
	fs, fl, code, ok := lookupCommand("load").parseFlags(lf, args, stdout, stderr)
	if !ok {
		return code
	}
	fail := func(code int, err error) int {
		fmt.Fprintf(stderr, "error: %s\n", err)
		return code
	}
	if err := refuseFlags(fs, "report", reportFlags); err != nil {
		return fail(exitUsage, err)
	}
	if fs.NArg() == 0 {
		return fail(exitUsage, errors.New("esgate load report: name the records: files, directories, or - for standard input"))
	}
	if lf.output != "text" && lf.output != "json" {
		return fail(exitUsage, fmt.Errorf("--output: want text or json, got %q", lf.output))
	}
	if lf.verify { // the targets are used only to verify
		if err := lf.checkTargets(); err != nil {
			return fail(exitUsage, err)
		}
	}
	var resultsBase, resultsIndex string
	if lf.resultsTarget != "" {
		var err error
		if resultsBase, resultsIndex, err = load.ResultsIndexURL(lf.resultsTarget); err != nil {
			return fail(exitUsage, fmt.Errorf("--results-target: %w", err))
		}
	}
	recs, err := load.ReadRecordPaths(fs.Args(), stdin)
	if err != nil {
		return fail(exitFailed, err)
	}
	merged, err := load.MergeRun(recs)
	if err != nil {
		return fail(exitFailed, err)
	}
	res, before := merged.Result, merged.CountBefore
	if lf.plot != "" {
		var svg bytes.Buffer
		if err := load.PlotSVG(&svg, recs); err != nil {
			return fail(exitFailed, fmt.Errorf("--plot: %w", err))
		}
		if err := os.WriteFile(lf.plot, svg.Bytes(), 0o644); err != nil {
			return fail(exitFailed, fmt.Errorf("--plot: %w", err))
		}
	}
	if lf.verify {
		if before == nil {
			return fail(exitFailed, errors.New("--verify: no shard counted the index before the run (run the shards with --verify)"))
		}
		target := lf.target
		if lf.verifyTarget != "" {
			target = lf.verifyTarget
		}
		client, closeClient, err := loadClient(target, fl)
		if err != nil {
			return fail(exitUsage, err)
		}
		defer closeClient()
		idx := recs[0].Params.Index
		if res.Verified, err = load.Verify(ctx, client, target, idx, *before, res.Events+res.WarmupEvents); err != nil {
			return fail(exitFailed, err)
		}
	}
	if lf.resultsTarget != "" {
		base, index := resultsBase, resultsIndex
		client, closeClient, err := loadClient(base, fl)
		if err != nil {
			return fail(exitUsage, fmt.Errorf("--results-target: %w", err))
		}
		defer closeClient()
		if err := load.WriteResults(ctx, client, base, index, merged.Doc()); err != nil {
			return fail(exitFailed, fmt.Errorf("--results-target: %w", err))
		}
	}
	if lf.output == "json" {
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

// shardSpec reads --shard: "I/N", or "/N" with I from JOB_COMPLETION_INDEX
// (a Kubernetes Indexed Job's); "" is the whole test.
func shardSpec(spec, jobIndex string) (load.Shard, error) {
	if spec == "" {
		return load.Shard{I: 0, N: 1}, nil
	}
	if strings.HasPrefix(spec, "/") {
		if jobIndex == "" {
			return load.Shard{}, fmt.Errorf("%q takes I from JOB_COMPLETION_INDEX, which is not set: give I/N", spec)
		}
		spec = jobIndex + spec
	}
	return load.ParseShard(spec)
}

func durString(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

// checkTargets refuses a --target or --verify-target that is not an
// http:// or https:// URL with a host: nothing else can be sent to, and
// without the check every request would fail as a transport error.
func (lf *loadFlags) checkTargets() error {
	for _, t := range []struct{ flag, url string }{{"target", lf.target}, {"verify-target", lf.verifyTarget}} {
		if t.url == "" && t.flag == "verify-target" {
			continue
		}
		u, err := url.Parse(t.url)
		switch {
		case err == nil && u.User != nil:
			// Never echoed: the URL holds a password.
			return fmt.Errorf("--%s: a URL with a user name or password (%s); give the credential with the credential flags (--api-key, --user with --password-file), or send through esgate, which adds it", t.flag, u.Redacted())
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			got := strconv.Quote(t.url)
			if strings.Contains(t.url, "@") { // it may hold a password
				got = "a URL that does not parse"
			}
			return fmt.Errorf("--%s: want http://HOST:PORT (esgate) or https://HOST:PORT (a cluster, with the cluster, trust and credential flags), got %s", t.flag, got)
		}
	}
	return nil
}

// loadClient is the client for target: plain HTTP to esgate, or esgate's
// own transport with the credential and trust flags to a cluster.
func loadClient(target string, fl *configs.Flags) (*http.Client, func(), error) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true}, Timeout: 5 * time.Minute}
	if !strings.HasPrefix(target, "https://") {
		return client, func() {}, nil
	}
	lookup, err := secretLookup(fl)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := configs.Load(fl, lookup)
	if err == nil && len(cfg.Routes) == 1 && len(cfg.Routes[0].Hosts) == 0 && cfg.Routes[0].CloudID == "" {
		cfg.Routes[0].Hosts = []string{target}
	}
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		return nil, nil, err
	}
	rt, err := buildRoute(&cfg.Routes[0])
	if err != nil {
		return nil, nil, err
	}
	return &http.Client{Transport: rt.OwnTransport(), Timeout: 5 * time.Minute}, rt.Close, nil
}

// readRouteOf returns the URL of the plain-HTTP route with the read policy
// in the esgate config at path (such as bootstrap's esgate.secrets).
func readRouteOf(path string) (string, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", false
	}
	var doc struct {
		Routes []struct {
			Listen string `yaml:"listen"`
			Policy string `yaml:"policy"`
		} `yaml:"routes"`
	}
	if yaml.Unmarshal(b, &doc) != nil {
		return "", false
	}
	for _, r := range doc.Routes {
		if r.Policy == "read" && r.Listen != "" && !strings.HasPrefix(r.Listen, "unix:") {
			return "http://" + r.Listen, true
		}
	}
	return "", false
}
