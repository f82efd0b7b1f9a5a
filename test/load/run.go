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
	Verified       *Verification    `json:"verified,omitempty"`
}

// Percentiles in milliseconds.
type Percentiles struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

func percentiles(h *Histogram) Percentiles {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
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
	if len(o.Batches) == 0 {
		return nil, errors.New("no batches to send")
	}
	if o.Client == nil {
		o.Client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.Clients, DisableCompression: true}}
	}
	url := strings.TrimSuffix(o.Target, "/") + "/_bulk"
	if o.Warmup > 0 {
		wctx, cancel := context.WithTimeout(ctx, o.Warmup)
		runPhase(wctx, o, url, nil, 0)
		cancel()
	}
	if o.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	}
	start := time.Now()
	tallies := runPhase(ctx, o, url, o.Progress, o.Events)
	elapsed := time.Since(start)

	total := &tally{statuses: map[string]int64{}, items: map[string]int64{}}
	for _, t := range tallies {
		total.latency.Merge(&t.latency)
		total.service.Merge(&t.service)
		total.events += t.events
		total.requests += t.requests
		total.raw += t.raw
		total.wire += t.wire
		total.errors += t.errors
		total.failedEvents += t.failedEvents
		total.transport += t.transport
		total.rejected += t.rejected
		for k, v := range t.statuses {
			total.statuses[k] += v
		}
		for k, v := range t.items {
			total.items[k] += v
		}
	}
	s := elapsed.Seconds()
	return &Result{
		Events: total.events, Requests: total.requests, Seconds: s,
		EventsPerSec: float64(total.events) / s, RequestsPerSec: float64(total.requests) / s,
		RawBytes: total.raw, WireBytes: total.wire, RawMBPerSec: float64(total.raw) / 1e6 / s,
		Errors: total.errors, Latency: percentiles(&total.latency), ServiceTime: percentiles(&total.service),
		Statuses: total.statuses, ItemErrors: total.items, Rejected429: total.rejected,
		FailedEvents: total.failedEvents, TransportErrs: total.transport,
		OpenLoop: o.Rate > 0, TargetRate: o.Rate,
	}, nil
}

// runPhase runs the workers until ctx ends or budget events were sent.
func runPhase(ctx context.Context, o Options, url string, progress func(Snapshot), budget int64) []*tally {
	var sent atomic.Int64 // events handed out, for the budget
	var next atomic.Int64 // batch cursor
	take := func() (*Batch, bool) {
		b := &o.Batches[int(next.Add(1)-1)%len(o.Batches)]
		if budget > 0 && sent.Add(int64(b.Events)) > budget {
			return nil, false
		}
		return b, true
	}
	// Open loop: a scheduler emits send times; latency counts from them.
	var schedule chan time.Time
	if o.Rate > 0 {
		schedule = make(chan time.Time, 1<<16)
		go func() {
			defer close(schedule)
			perBatch := float64(o.Batches[0].Events)
			interval := time.Duration(perBatch / o.Rate * float64(time.Second))
			t0 := time.Now()
			for i := int64(0); ; i++ {
				at := t0.Add(time.Duration(i) * interval)
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
					// The queue is full: the target is far behind; keep
					// scheduling (latency grows) without unbounded memory.
				}
			}
		}()
	}
	tallies := make([]*tally, o.Clients)
	var live struct {
		events, errors, wire atomic.Int64
	}
	var liveHist sync.Mutex
	var recent Histogram
	var wg sync.WaitGroup
	for w := range tallies {
		t := &tally{statuses: map[string]int64{}, items: map[string]int64{}}
		tallies[w] = t
		wg.Add(1)
		go func() {
			defer wg.Done()
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
				ok = send(context.WithoutCancel(ctx), o, url, b, t)
				end := time.Now()
				t.requests++
				t.raw += int64(len(b.Raw))
				t.wire += int64(len(b.Wire))
				t.service.Record(end.Sub(startSend))
				t.latency.Record(end.Sub(scheduled))
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
	if progress != nil {
		go func() {
			start := time.Now()
			tk := time.NewTicker(time.Second)
			defer tk.Stop()
			for {
				select {
				case <-done:
					return
				case <-tk.C:
					liveHist.Lock()
					p99 := recent.Quantile(.99)
					recent = Histogram{}
					liveHist.Unlock()
					progress(Snapshot{Elapsed: time.Since(start), Events: live.events.Load(), Errors: live.errors.Load(), WireBytes: live.wire.Load(), P99: p99})
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	return tallies
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
	Before, After, Acknowledged int64
	OK                          bool
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
	if v := r.Verified; v != nil {
		status := "OK: every acknowledged event arrived"
		if !v.OK {
			status = fmt.Sprintf("MISMATCH: %d acknowledged but the count grew by %d", v.Acknowledged, v.After-v.Before)
		}
		fmt.Fprintf(&b, "  verify      _count %d -> %d: %s\n", v.Before, v.After, status)
	}
	return b.String()
}
