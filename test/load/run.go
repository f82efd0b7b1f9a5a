package load

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/esgate/esgate/proxy/esproto"
)

// Options shape a run. Zero values take the documented defaults.
type Options struct {
	// Target is the base URL (default http://127.0.0.1:9200).
	Target string
	// Client sends the requests (it adds credentials for direct targets).
	Client *http.Client
	// Clients is the number of concurrent connections (default 4).
	Clients int
	// Rate is the open-loop rate in events/s; 0 runs closed-loop.
	Rate float64
	// Duration bounds the measured run (default 10s unless Events is set).
	Duration time.Duration
	// Events stops after this many events were sent.
	Events int64
	// Warmup runs unmeasured first.
	Warmup time.Duration
	// Batches are cycled through.
	Batches []Batch
	// Gzip says the batches' Wire form is gzip.
	Gzip bool
	// Progress, if set, is called about every second with a snapshot.
	Progress func(Snapshot)

	// Shard is this process's part of a sharded test (zero: the whole
	// test). In open loop, Rate is the whole test's: shard I of N sends
	// its k-th batch at start + (k·N + I)·interval, interval being the
	// whole test's time between batches, so the shards interleave.
	Shard Shard
	// Start is when the warm-up (then the run) begins, the same instant
	// for every shard (zero: now).
	Start time.Time
	// Interval is how often OnRecord gets a record (default 5s).
	Interval time.Duration
	// OnRecord, if set, receives an interval record every Interval and a
	// final one at the end (Record.Final), each with that interval's
	// counters and histograms.
	OnRecord func(Record)
	// Run, Instance and Params go into every record: the test's id, this
	// process's, and the test's parameters, which merged shards must share.
	Run, Instance string
	Params        Params
	// CountBefore, if set, is the index's _count before the run, for the
	// records (load report --verify).
	CountBefore *int64
	// Metrics, if set, count the measured run live (NewMetrics).
	Metrics *Metrics
}

// Snapshot is a live view of a run.
type Snapshot struct {
	Elapsed        time.Duration
	Events, Errors int64
	WireBytes      int64
	P99            time.Duration
}

// Result is a run's report.
type Result struct {
	// Run is the run's id, in a merged report.
	Run            string           `json:"run,omitempty"`
	Events         int64            `json:"events"`
	Requests       int64            `json:"requests"`
	Seconds        float64          `json:"seconds"`
	EventsPerSec   float64          `json:"events_per_sec"`
	RequestsPerSec float64          `json:"requests_per_sec"`
	RawBytes       int64            `json:"bytes_raw"`
	WireBytes      int64            `json:"bytes_wire"`
	RawMBPerSec    float64          `json:"raw_mb_per_sec"`
	Errors         int64            `json:"errors"`
	Latency        Percentiles      `json:"latency_ms"`
	ServiceTime    Percentiles      `json:"service_time_ms"`
	Statuses       map[string]int64 `json:"http_status"`
	ItemErrors     map[string]int64 `json:"item_errors"`
	Rejected429    int64            `json:"rejected_429"`
	FailedEvents   int64            `json:"failed_events"`
	TransportErrs  int64            `json:"transport_errors"`
	OpenLoop       bool             `json:"open_loop"`
	TargetRate     float64          `json:"target_rate,omitempty"`
	// DroppedSends are open-loop sends that were scheduled but never
	// sent: the target was so far behind that the schedule queue was full
	// (k6's dropped_iterations). They are in no latency or throughput.
	DroppedSends int64 `json:"dropped_sends"`
	// WarmupEvents were acknowledged in the unmeasured warm-up: in no
	// other figure, but in the index (--verify counts them).
	WarmupEvents int64         `json:"warmup_events"`
	Verified     *Verification `json:"verified,omitempty"`
	// Shards, for a merged report: each shard's part.
	Shards []ShardReport `json:"shards,omitempty"`
	// Window, for a merged report: the common measured window the rates
	// and percentiles come from (counts are the whole run's).
	Window *Window `json:"window,omitempty"`
}

// Percentiles in milliseconds.
type Percentiles struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

// ms is d in milliseconds, to the microsecond.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func percentiles(h *Histogram) Percentiles {
	return Percentiles{ms(h.Quantile(.5)), ms(h.Quantile(.9)), ms(h.Quantile(.99)), ms(h.Quantile(.999)), ms(h.Max())}
}

// worker-local tallies, merged at the end.
type tally struct {
	latency, service Histogram
	events, requests int64
	raw, wire        int64
	errors           int64
	failedEvents     int64
	transport        int64
	rejected         int64
	statuses         map[string]int64
	items            map[string]int64
	dropped          int64
	status           int // the last answer's HTTP status (0: none), for Metrics
}

func newTally() *tally { return &tally{statuses: map[string]int64{}, items: map[string]int64{}} }

func (t *tally) merge(o *tally) {
	t.latency.Merge(&o.latency)
	t.service.Merge(&o.service)
	t.addCounters(o)
}

// observe adds one request: its counters (in o, whose histograms are
// not used) and its latency and service time.
func (t *tally) observe(o *tally, latency, service time.Duration) {
	t.addCounters(o)
	t.latency.Record(latency)
	t.service.Record(service)
}

// reset empties the counters, keeping the maps.
func (t *tally) reset() {
	st, it := t.statuses, t.items
	clear(st)
	clear(it)
	*t = tally{statuses: st, items: it}
}

func (t *tally) addCounters(o *tally) {
	t.events += o.events
	t.requests += o.requests
	t.raw += o.raw
	t.wire += o.wire
	t.errors += o.errors
	t.failedEvents += o.failedEvents
	t.transport += o.transport
	t.rejected += o.rejected
	t.dropped += o.dropped
	for k, v := range o.statuses {
		t.statuses[k] += v
	}
	for k, v := range o.items {
		t.items[k] += v
	}
}

// result renders a tally measured over seconds.
func (t *tally) result(seconds float64, rate float64) *Result {
	return &Result{
		Events: t.events, Requests: t.requests, Seconds: seconds,
		EventsPerSec: float64(t.events) / seconds, RequestsPerSec: float64(t.requests) / seconds,
		RawBytes: t.raw, WireBytes: t.wire, RawMBPerSec: float64(t.raw) / 1e6 / seconds,
		Errors: t.errors, Latency: percentiles(&t.latency), ServiceTime: percentiles(&t.service),
		Statuses: t.statuses, ItemErrors: t.items, Rejected429: t.rejected,
		FailedEvents: t.failedEvents, TransportErrs: t.transport,
		OpenLoop: rate > 0, TargetRate: rate, DroppedSends: t.dropped,
	}
}

// Run sends load until the duration or event budget is used up.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Target == "" {
		o.Target = "http://127.0.0.1:9200"
	}
	if o.Clients <= 0 {
		o.Clients = 4
	}
	if o.Duration <= 0 && o.Events <= 0 {
		o.Duration = 10 * time.Second
	}
	if o.Shard.N <= 0 {
		o.Shard = Shard{0, 1}
	}
	if o.Interval <= 0 {
		o.Interval = 5 * time.Second
	}
	if len(o.Batches) == 0 {
		return nil, errors.New("no batches to send")
	}
	if o.Client == nil {
		o.Client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.Clients, DisableCompression: true}}
	}
	url := strings.TrimSuffix(o.Target, "/") + "/_bulk"
	if d := time.Until(o.Start); d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	var warm int64 // events acknowledged in the warm-up
	planned := o.Start
	if planned.IsZero() {
		planned = time.Now()
	}
	if o.Warmup > 0 {
		wctx, cancel := context.WithDeadline(ctx, planned.Add(o.Warmup))
		warm = runPhase(wctx, o, url, planned, nil, 0, nil).events
		cancel()
	}
	planned = planned.Add(o.Warmup)
	if o.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, planned.Add(o.Duration))
		defer cancel()
	}
	rec := &recorder{o: o, planned: planned, window: newTally(), warm: warm}
	rec.start = time.Now()
	rec.from = rec.start
	o.Metrics.started(rec.start, o.Rate/float64(o.Shard.N))
	total := runPhase(ctx, o, url, planned, o.Progress, o.Events, rec)
	end := time.Now()
	o.Metrics.ended(end)
	res := total.result(end.Sub(rec.start).Seconds(), o.Rate)
	res.WarmupEvents = warm
	return res, nil
}

// recorder gathers the measured phase's current interval, handed to
// OnRecord every Interval (runPhase keeps the whole run's tally).
type recorder struct {
	o              Options
	planned, start time.Time
	mu             sync.Mutex
	from           time.Time // the current interval's start
	seq            int
	window         *tally
	warm           int64
}

func (r *recorder) observe(t *tally, latency, service time.Duration) {
	r.mu.Lock()
	r.window.observe(t, latency, service)
	r.mu.Unlock()
}

func (r *recorder) drop(n int64) {
	r.mu.Lock()
	r.window.dropped += n
	r.mu.Unlock()
}

// flush ends the current interval and hands its record on.
func (r *recorder) flush(final bool) {
	r.mu.Lock()
	w, from, seq := r.window, r.from, r.seq
	now := time.Now()
	r.window, r.from = newTally(), now
	r.seq++
	r.mu.Unlock()
	if r.o.OnRecord != nil {
		r.o.OnRecord(r.record(w, from, now, seq, final))
	}
}

// runPhase runs the workers until ctx ends or budget events were sent;
// t0 is the open-loop schedule's origin. It returns the phase's tally.
func runPhase(ctx context.Context, o Options, url string, t0 time.Time, progress func(Snapshot), budget int64, rec *recorder) *tally {
	var sent atomic.Int64 // events handed out, for the budget
	var next atomic.Int64 // batch cursor
	take := func() (*Batch, bool) {
		b := &o.Batches[int(next.Add(1)-1)%len(o.Batches)]
		if budget > 0 && sent.Add(int64(b.Events)) > budget {
			return nil, false
		}
		return b, true
	}
	total := newTally()
	var totalMu sync.Mutex
	var dropped atomic.Int64
	// Open loop: a scheduler emits send times; latency counts from them.
	var schedule chan time.Time
	schedCtx, stopSchedule := context.WithCancel(ctx)
	defer stopSchedule()
	schedDone := make(chan struct{})
	if o.Rate > 0 {
		schedule = make(chan time.Time, 1<<16)
		go func() {
			defer close(schedDone)
			defer close(schedule)
			ctx := schedCtx
			perBatch := float64(o.Batches[0].Events)
			interval := time.Duration(perBatch / o.Rate * float64(time.Second))
			n, i := int64(o.Shard.N), int64(o.Shard.I)
			for k := int64(0); ; k++ {
				at := t0.Add(time.Duration(k*n+i) * interval)
				if d := time.Until(at); d > 0 {
					select {
					case <-time.After(d):
					case <-ctx.Done():
						return
					}
				}
				select {
				case schedule <- at:
				case <-ctx.Done():
					return
				default:
					// The queue is full: the target is far behind. The send
					// is dropped, and counted, rather than queued without
					// bound; so is every send already due, at once, so that
					// an overloaded schedule does not spin.
					missed := int64(1)
					if step := time.Duration(n) * interval; step > 0 {
						if behind := int64(time.Since(at) / step); behind > 0 {
							missed += behind
							k += behind
						}
					}
					dropped.Add(missed)
					if rec != nil {
						rec.drop(missed)
						o.Metrics.drop(missed * int64(perBatch))
					}
				}
			}
		}()
	}
	var live struct {
		events, errors, wire atomic.Int64
	}
	var liveHist sync.Mutex
	var recent Histogram
	var wg sync.WaitGroup
	for range o.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := newTally()
			defer func() {
				totalMu.Lock()
				total.merge(t)
				totalMu.Unlock()
			}()
			one := newTally()
			for ctx.Err() == nil {
				scheduled := time.Now()
				if schedule != nil {
					var ok bool
					select {
					case scheduled, ok = <-schedule:
						if !ok {
							return
						}
					case <-ctx.Done():
						return
					}
				}
				b, ok := take()
				if !ok {
					return
				}
				startSend := time.Now()
				// A request once sent is always finished and counted, even
				// past the end of the run: otherwise an event could be
				// indexed without being acknowledged, and --verify would
				// rightly complain.
				one.reset()
				ok = send(context.WithoutCancel(ctx), o, url, b, one)
				end := time.Now()
				one.requests++
				one.raw += int64(len(b.Raw))
				one.wire += int64(len(b.Wire))
				t.observe(one, end.Sub(scheduled), end.Sub(startSend))
				if rec != nil {
					rec.observe(one, end.Sub(scheduled), end.Sub(startSend))
					o.Metrics.observe(one, end.Sub(scheduled))
				}
				live.wire.Add(int64(len(b.Wire)))
				if ok {
					live.events.Add(int64(b.Events))
				} else {
					live.errors.Add(1)
				}
				if progress != nil {
					liveHist.Lock()
					recent.Record(end.Sub(scheduled))
					liveHist.Unlock()
				}
			}
		}()
	}
	done := make(chan struct{})
	var tickers sync.WaitGroup
	every := func(d time.Duration, f func()) {
		tickers.Add(1)
		go func() {
			defer tickers.Done()
			tk := time.NewTicker(d)
			defer tk.Stop()
			for {
				select {
				case <-done:
					return
				case <-tk.C:
					f()
				}
			}
		}()
	}
	if progress != nil {
		start := time.Now()
		every(time.Second, func() {
			liveHist.Lock()
			p99 := recent.Quantile(.99)
			recent = Histogram{}
			liveHist.Unlock()
			progress(Snapshot{Elapsed: time.Since(start), Events: live.events.Load(), Errors: live.errors.Load(), WireBytes: live.wire.Load(), P99: p99})
		})
	}
	if rec != nil {
		every(o.Interval, func() { rec.flush(false) })
	}
	wg.Wait()
	// The scheduler stops with the workers (a phase may end by its budget
	// before its time). Sends it scheduled that no worker took when the
	// run's time ended are dropped too: they were due, and never sent.
	stopSchedule()
	if schedule != nil {
		<-schedDone
		if ctx.Err() != nil {
			var left int64
			for range schedule {
				left++
			}
			dropped.Add(left)
			if rec != nil && left > 0 {
				rec.drop(left)
				o.Metrics.drop(left * int64(o.Batches[0].Events))
			}
		}
	}
	close(done)
	tickers.Wait()
	if rec != nil {
		rec.flush(true)
	}
	total.dropped = dropped.Load()
	return total
}

// send posts one batch and tallies its outcome; it reports whether every
// event was acknowledged.
func send(ctx context.Context, o Options, url string, b *Batch, t *tally) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b.Wire))
	if err != nil {
		t.transport++
		t.errors++
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Elastic-Event-Count", strconv.Itoa(b.Events))
	req.Header.Set("X-Elastic-Uncompressed-Request-Length", strconv.Itoa(len(b.Raw)))
	req.Header.Set("User-Agent", "esgate-load")
	if o.Gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	res, err := o.Client.Do(req)
	if err != nil {
		t.status = 0
		if ctx.Err() == nil {
			t.transport++
			t.errors++
			t.statuses["transport_error"]++
		}
		return false
	}
	body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	res.Body.Close()
	t.statuses[strconv.Itoa(res.StatusCode)]++
	t.status = res.StatusCode
	if res.StatusCode != http.StatusOK {
		t.errors++
		t.failedEvents += int64(b.Events)
		if res.StatusCode == http.StatusTooManyRequests {
			t.rejected += int64(b.Events)
		}
		return false
	}
	counts, err := esproto.BulkItems(body)
	if err != nil {
		t.errors++
		t.failedEvents += int64(b.Events)
		return false
	}
	okEvents, listed := int64(0), int64(0)
	for k, n := range counts {
		listed += int64(n)
		if k.Status >= 200 && k.Status < 300 {
			okEvents += int64(n)
			continue
		}
		key := fmt.Sprintf("%d %s", k.Status, k.ErrorType)
		t.items[key] += int64(n)
		t.failedEvents += int64(n)
		if k.Status == http.StatusTooManyRequests {
			t.rejected += int64(n)
		}
	}
	if missing := int64(b.Events) - listed; missing > 0 {
		// A 200 whose answer lists fewer items than the request had
		// actions: those events were not acknowledged (Elasticsearch
		// always lists one item per action).
		t.items[missingItems] += missing
		t.failedEvents += missing
	}
	t.events += okEvents
	if okEvents != int64(b.Events) {
		t.errors++
		return false
	}
	return true
}

// missingItems is the item_errors key of events a 200 answer did not list.
const missingItems = "200 not listed in the answer"

// Verification compares what was acknowledged with what _count finds.
type Verification struct {
	Before       int64 `json:"before"`
	After        int64 `json:"after"`
	Acknowledged int64 `json:"acknowledged"`
	OK           bool  `json:"ok"`
}

// Verify refreshes the index and checks that the count grew by exactly
// acknowledged events.
func Verify(ctx context.Context, c *http.Client, target, index string, before, acknowledged int64) (*Verification, error) {
	after, err := Count(ctx, c, target, index)
	if err != nil {
		return nil, err
	}
	return &Verification{Before: before, After: after, Acknowledged: acknowledged, OK: after-before == acknowledged}, nil
}

// ErrReadRefused is Count's error when the target may not read the index
// (a 401 or 403: an ingest route's policy, or a key without read).
var ErrReadRefused = errors.New("--verify needs read access to the index")

// Count refreshes index and returns its document count (0 if it does not exist).
func Count(ctx context.Context, c *http.Client, target, index string) (int64, error) {
	base := strings.TrimSuffix(target, "/") + "/" + index
	if req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/_refresh", nil); err == nil {
		if res, err := c.Do(req); err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/_count", nil)
	if err != nil {
		return 0, err
	}
	res, err := c.Do(req)
	if err != nil {
		return 0, fmt.Errorf("counting %s: %w", index, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode == http.StatusNotFound {
		return 0, nil
	}
	if res.StatusCode == http.StatusForbidden || res.StatusCode == http.StatusUnauthorized {
		return 0, fmt.Errorf("counting %s: %s %s: %w", index, res.Status, b, ErrReadRefused)
	}
	if res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("counting %s: %s %s (--verify needs read access to the index)", index, res.Status, b)
	}
	var v struct{ Count int64 }
	if err := json.Unmarshal(b, &v); err != nil {
		return 0, fmt.Errorf("counting %s: %w", index, err)
	}
	return v.Count, nil
}

// Text renders a human report.
func (r *Result) Text() string {
	var b strings.Builder
	mode := "closed loop"
	if r.OpenLoop {
		mode = fmt.Sprintf("open loop at %.0f events/s", r.TargetRate)
	}
	fmt.Fprintf(&b, "esgate load: %s, %.1fs\n", mode, r.Seconds)
	fmt.Fprintf(&b, "  events      %d acknowledged (%.0f events/s), %d failed\n", r.Events, r.EventsPerSec, r.FailedEvents)
	fmt.Fprintf(&b, "  requests    %d (%.1f/s), %d errors, %d transport errors\n", r.Requests, r.RequestsPerSec, r.Errors, r.TransportErrs)
	fmt.Fprintf(&b, "  bytes       %.1f MB raw (%.1f MB/s), %.1f MB on the wire\n", float64(r.RawBytes)/1e6, r.RawMBPerSec, float64(r.WireBytes)/1e6)
	p := func(name string, x Percentiles) {
		fmt.Fprintf(&b, "  %-11s p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f ms\n", name, x.P50, x.P90, x.P99, x.P999, x.Max)
	}
	p("latency", r.Latency)
	p("service", r.ServiceTime)
	var keys []string
	for k := range r.Statuses {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "  HTTP %s   %d\n", k, r.Statuses[k])
	}
	keys = keys[:0]
	for k := range r.ItemErrors {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "  item %s: %d\n", k, r.ItemErrors[k])
	}
	if r.Rejected429 > 0 {
		fmt.Fprintf(&b, "  rejected (429 es_rejected_execution_exception): %d events\n", r.Rejected429)
	}
	if r.DroppedSends > 0 {
		fmt.Fprintf(&b, "  dropped     %d scheduled sends never sent (the target was too far behind the schedule)\n", r.DroppedSends)
	}
	if r.WarmupEvents > 0 {
		fmt.Fprintf(&b, "  warm-up     %d events acknowledged before the measured run\n", r.WarmupEvents)
	}
	if w := r.Window; w != nil {
		fmt.Fprintf(&b, "  window      %s to %s (%d interval records): rates and percentiles; counts are the whole run's\n",
			w.Start.UTC().Format("15:04:05.000"), w.End.UTC().Format("15:04:05.000"), w.Records)
	}
	for _, s := range r.Shards {
		fmt.Fprintf(&b, "  shard %-4d  start skew %+.1f ms, target %.0f events/s, achieved %.0f events/s, %d events, %d dropped\n",
			s.Shard, s.StartSkewMs, s.TargetRate, s.AchievedRate, s.Events, s.DroppedSends)
	}
	if v := r.Verified; v != nil {
		status := "OK: every acknowledged event arrived"
		if !v.OK {
			status = fmt.Sprintf("MISMATCH: %d acknowledged but the count grew by %d", v.Acknowledged, v.After-v.Before)
		}
		fmt.Fprintf(&b, "  verify      _count %d -> %d: %s\n", v.Before, v.After, status)
	}
	return b.String()
}
