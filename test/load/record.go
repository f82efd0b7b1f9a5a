package load

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// RecordFormat names the interval records' format and its version; a
// change that an older `esgate load report` would misread gets a new one.
const RecordFormat = "esgate-load/1"

// Shard is one process's part of a sharded test: I of N, from 0.
type Shard struct{ I, N int }

// ParseShard reads "I/N" (0 <= I < N).
func ParseShard(s string) (Shard, error) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return Shard{}, fmt.Errorf("want I/N with 0 <= I < N (such as 0/4), got %q", s)
	}
	return Shard{i, n}, nil
}

// Part is this shard's part of a whole split as evenly as can be: the
// first whole%N shards take one more.
func (s Shard) Part(whole int64) int64 {
	p := whole / int64(s.N)
	if int64(s.I) < whole%int64(s.N) {
		p++
	}
	return p
}

// Seed derives this shard's seed from the test's (splitmix64), so that
// shards generate different events and a rerun the same ones.
func (s Shard) Seed(seed uint64) uint64 {
	if s.N <= 1 {
		return seed
	}
	z := seed + uint64(s.I+1)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Params are the test's parameters, the same in every shard's records:
// shards whose parameters differ are not parts of one test.
type Params struct {
	Target    string  `json:"target"`
	Rate      float64 `json:"rate"` // events/s, the whole test's; 0: closed loop
	Clients   int     `json:"clients"`
	Events    int64   `json:"events,omitempty"`
	Duration  string  `json:"duration,omitempty"`
	Warmup    string  `json:"warmup,omitempty"`
	BatchSize int     `json:"batch_size"`
	EventSize int     `json:"event_size"`
	Action    string  `json:"action"`
	Index     string  `json:"index"`
	Gzip      int     `json:"gzip"`
	Seed      uint64  `json:"seed"`
	File      string  `json:"file,omitempty"`
}

// Counters are a record's counts.
type Counters struct {
	Requests        int64            `json:"requests"`
	Events          int64            `json:"events"`
	FailedEvents    int64            `json:"failed_events"`
	Errors          int64            `json:"errors"`
	TransportErrors int64            `json:"transport_errors"`
	Rejected429     int64            `json:"rejected_429"`
	DroppedSends    int64            `json:"dropped_sends"`
	RawBytes        int64            `json:"bytes_raw"`
	WireBytes       int64            `json:"bytes_wire"`
	Statuses        map[string]int64 `json:"http_status"`
	ItemErrors      map[string]int64 `json:"item_errors"`
}

// Record is one interval of one shard's measured run: its counters and
// its full latency and service-time histograms, so that any set of
// records merges exactly. One JSON object per line.
type Record struct {
	Format   string `json:"format"`
	Run      string `json:"run"`
	Shard    int    `json:"shard"`
	Shards   int    `json:"shards"`
	Instance string `json:"instance"` // one process: two for a shard is a duplicate
	Seq      int    `json:"seq"`
	Final    bool   `json:"final"`
	// PlannedStart is when the measured run was to start (the barrier's
	// start plus the warm-up), the same for every shard; MeasuredStart is
	// when this shard's did.
	PlannedStart  time.Time `json:"planned_start"`
	MeasuredStart time.Time `json:"measured_start"`
	Start         time.Time `json:"start"`
	End           time.Time `json:"end"`
	Params        Params    `json:"params"`
	// ShardRate is this shard's open-loop rate in events/s.
	ShardRate float64 `json:"shard_rate,omitempty"`
	Counters
	// CountBefore is the index's _count before the run, taken after every
	// shard was ready (a verifying shard's records).
	CountBefore *int64 `json:"count_before,omitempty"`
	// WarmupEvents, in the final record, were acknowledged in the warm-up.
	WarmupEvents int64            `json:"warmup_events,omitempty"`
	Latency      EncodedHistogram `json:"latency"`
	ServiceTime  EncodedHistogram `json:"service_time"`
}

func (r *recorder) record(t *tally, from, to time.Time, seq int, final bool) Record {
	var warm int64
	if final {
		warm = r.warm
	}
	return Record{WarmupEvents: warm,
		Format: RecordFormat, Run: r.o.Run, Shard: r.o.Shard.I, Shards: r.o.Shard.N, Instance: r.o.Instance,
		Seq: seq, Final: final, PlannedStart: r.planned, MeasuredStart: r.start, Start: from, End: to,
		Params: r.o.Params, ShardRate: r.o.Rate / float64(r.o.Shard.N),
		Counters: Counters{Requests: t.requests, Events: t.events, FailedEvents: t.failedEvents, Errors: t.errors,
			TransportErrors: t.transport, Rejected429: t.rejected, DroppedSends: t.dropped, RawBytes: t.raw, WireBytes: t.wire,
			Statuses: t.statuses, ItemErrors: t.items},
		Latency: t.latency.Encode(), ServiceTime: t.service.Encode(), CountBefore: r.o.CountBefore,
	}
}

func (r *Record) tally() (*tally, error) {
	lat, err := r.Latency.Decode()
	if err != nil {
		return nil, fmt.Errorf("shard %d record %d latency: %w", r.Shard, r.Seq, err)
	}
	svc, err := r.ServiceTime.Decode()
	if err != nil {
		return nil, fmt.Errorf("shard %d record %d service time: %w", r.Shard, r.Seq, err)
	}
	t := newTally()
	t.latency, t.service = *lat, *svc
	c := r.Counters
	t.requests, t.events, t.failedEvents, t.errors = c.Requests, c.Events, c.FailedEvents, c.Errors
	t.transport, t.rejected, t.dropped, t.raw, t.wire = c.TransportErrors, c.Rejected429, c.DroppedSends, c.RawBytes, c.WireBytes
	for k, v := range c.Statuses {
		t.statuses[k] += v
	}
	for k, v := range c.ItemErrors {
		t.items[k] += v
	}
	return t, nil
}

// ReadRecords reads the records in r, one JSON object per line. Lines
// that are not records (a log line, a text report) are skipped, so that
// `kubectl logs` output can be fed as it is; a line that says it is a
// record of another format is an error.
func ReadRecords(r io.Reader, name string) ([]Record, error) {
	var out []Record
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if i := bytes.IndexByte(b, '{'); i > 0 && bytes.Contains(b[:i], []byte(" ")) {
			b = b[i:] // a `kubectl logs --prefix` prefix
		}
		if !bytes.HasPrefix(b, []byte(`{"format":`)) {
			continue
		}
		var rec Record
		if err := json.Unmarshal(b, &rec); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", name, line, err)
		}
		if rec.Format != RecordFormat {
			return nil, fmt.Errorf("%s line %d: records of format %q; this esgate reads %q", name, line, rec.Format, RecordFormat)
		}
		out = append(out, rec)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

// ReadRecordPaths reads records from files, from every file in a
// directory, or from standard input ("-").
func ReadRecordPaths(paths []string, stdin io.Reader) ([]Record, error) {
	var all []Record
	read := func(name string, r io.Reader) error {
		recs, err := ReadRecords(r, name)
		all = append(all, recs...)
		return err
	}
	for _, p := range paths {
		if p == "-" {
			if err := read("standard input", stdin); err != nil {
				return nil, err
			}
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		files := []string{p}
		if st.IsDir() {
			ents, err := os.ReadDir(p)
			if err != nil {
				return nil, err
			}
			files = files[:0]
			for _, e := range ents {
				if !e.IsDir() {
					files = append(files, p+string(os.PathSeparator)+e.Name())
				}
			}
		}
		for _, f := range files {
			fh, err := os.Open(f)
			if err != nil {
				return nil, err
			}
			err = read(f, fh)
			fh.Close()
			if err != nil {
				return nil, err
			}
		}
	}
	if len(all) == 0 {
		return nil, errors.New("no records found (esgate load --output records writes them)")
	}
	return all, nil
}

// ShardReport is one shard's part of a merged report.
type ShardReport struct {
	Shard          int     `json:"shard"`
	StartSkewMs    float64 `json:"start_skew_ms"` // measured start − planned start
	TargetRate     float64 `json:"target_rate,omitempty"`
	AchievedRate   float64 `json:"achieved_rate"` // acknowledged events/s over its measured run
	Events         int64   `json:"events"`
	Requests       int64   `json:"requests"`
	DroppedSends   int64   `json:"dropped_sends"`
	MeasuredSecond float64 `json:"seconds"`
}

// Window is the common measured window of a merged report: from the
// latest shard's measured start to the earliest shard's end.
type Window struct {
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	Records int       `json:"records"` // interval records inside it, all shards
}

// Merge merges every shard's records into one report. It refuses records
// of several runs, shards missing or appearing twice (two processes for
// one index), shards without a final record, and shards whose parameters
// or histogram parameters differ. Counts are the whole run's, so that
// they can be checked against _count; rates and percentiles come from the
// interval records inside the common window (an interval counts if at
// least half of it is inside), each shard's rate over its own covered
// time, summed. countBefore is the index's count before the run, from a
// verifying shard, if any.
func Merge(recs []Record) (res *Result, countBefore *int64, err error) {
	m, err := MergeRun(recs)
	if err != nil {
		return nil, nil, err
	}
	return m.Result, m.CountBefore, nil
}

// Merged is one run's records merged: its report, and the latency
// histogram of the common window that the report's percentiles come from.
type Merged struct {
	Params      Params
	Result      *Result
	Latency     *Histogram
	CountBefore *int64
}

// MergeRun is Merge, with the merged latency histogram.
func MergeRun(recs []Record) (*Merged, error) {
	res, lat, countBefore, err := merge(recs)
	if err != nil {
		return nil, err
	}
	return &Merged{Params: recs[0].Params, Result: res, Latency: lat, CountBefore: countBefore}, nil
}

func merge(recs []Record) (res *Result, latency *Histogram, countBefore *int64, err error) {
	byShard := map[int][]Record{}
	runs, instances := map[string]bool{}, map[int]map[string]bool{}
	n := 0
	for _, r := range recs {
		runs[r.Run] = true
		if n == 0 {
			n = r.Shards
		}
		if r.Shards != n {
			return nil, nil, nil, fmt.Errorf("records for %d and for %d shards: not one test", n, r.Shards)
		}
		if r.Shard < 0 || r.Shard >= n {
			return nil, nil, nil, fmt.Errorf("a record of shard %d of %d", r.Shard, n)
		}
		byShard[r.Shard] = append(byShard[r.Shard], r)
		if instances[r.Shard] == nil {
			instances[r.Shard] = map[string]bool{}
		}
		instances[r.Shard][r.Instance] = true
	}
	if len(runs) > 1 {
		var ids []string
		for id := range runs {
			ids = append(ids, strconv.Quote(id))
		}
		sort.Strings(ids)
		return nil, nil, nil, fmt.Errorf("records of %d runs (%s): merge one run's at a time", len(ids), strings.Join(ids, ", "))
	}
	var missing, twice []string
	for i := range n {
		switch {
		case len(byShard[i]) == 0:
			missing = append(missing, strconv.Itoa(i))
		case len(instances[i]) > 1:
			twice = append(twice, strconv.Itoa(i))
		}
	}
	if len(missing) > 0 {
		return nil, nil, nil, fmt.Errorf("shards %s of %d have no records: the merged report would undercount", strings.Join(missing, ", "), n)
	}
	if len(twice) > 0 {
		return nil, nil, nil, fmt.Errorf("shards %s come from more than one process (a retried pod, or two runs with one --run-id): keep one process's records per shard", strings.Join(twice, ", "))
	}
	var w Window
	finals := make([]*Record, n)
	for i := range n {
		rs := byShard[i]
		sort.Slice(rs, func(a, b int) bool { return rs[a].Seq < rs[b].Seq })
		last := &rs[len(rs)-1]
		if !last.Final {
			return nil, nil, nil, fmt.Errorf("shard %d has no final record (still running, or stopped before the end)", i)
		}
		if last.Params != rs[0].Params || last.Params != byShard[0][0].Params {
			return nil, nil, nil, fmt.Errorf("shard %d's parameters differ from shard 0's (%+v against %+v): not one test", i, last.Params, byShard[0][0].Params)
		}
		for j, r := range rs {
			if r.Seq != j {
				return nil, nil, nil, fmt.Errorf("shard %d: record %d is missing", i, j)
			}
		}
		finals[i] = last
		if i == 0 || rs[0].MeasuredStart.After(w.Start) {
			w.Start = rs[0].MeasuredStart
		}
		if i == 0 || last.End.Before(w.End) {
			w.End = last.End
		}
	}
	if !w.End.After(w.Start) {
		return nil, nil, nil, errors.New("the shards' measured runs do not overlap: no common window (were they started together?)")
	}
	whole, windowed := newTally(), newTally()
	var shards []ShardReport
	rate := 0.0
	for i := range n {
		var covered time.Duration
		var events int64
		sh := newTally()
		for _, r := range byShard[i] {
			t, err := r.tally()
			if err != nil {
				return nil, nil, nil, err
			}
			sh.merge(t)
			span := r.End.Sub(r.Start)
			inside := minTime(r.End, w.End).Sub(maxTime(r.Start, w.Start))
			if span > 0 && inside >= span/2 {
				windowed.merge(t)
				covered += span
				events += t.events
				w.Records++
			}
		}
		whole.merge(sh)
		if covered > 0 {
			rate += float64(events) / covered.Seconds()
		}
		f := finals[i]
		secs := f.End.Sub(byShard[i][0].MeasuredStart).Seconds()
		shards = append(shards, ShardReport{Shard: i, StartSkewMs: float64(byShard[i][0].MeasuredStart.Sub(f.PlannedStart).Microseconds()) / 1000,
			TargetRate: f.ShardRate, AchievedRate: float64(sh.events) / secs, Events: sh.events, Requests: sh.requests,
			DroppedSends: sh.dropped, MeasuredSecond: math.Round(secs*1000) / 1000})
	}
	secs := w.End.Sub(w.Start).Seconds()
	res = whole.result(secs, byShard[0][0].Params.Rate)
	res.Latency, res.ServiceTime = percentiles(&windowed.latency), percentiles(&windowed.service)
	res.EventsPerSec = rate
	res.RequestsPerSec = float64(windowed.requests) / secs
	res.RawMBPerSec = float64(windowed.raw) / 1e6 / secs
	res.Shards, res.Window = shards, &w
	for _, f := range finals {
		res.WarmupEvents += f.WarmupEvents
	}
	for _, f := range finals {
		if f.CountBefore != nil {
			countBefore = f.CountBefore
			break
		}
	}
	res.Run = byShard[0][0].Run
	return res, &windowed.latency, countBefore, nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
