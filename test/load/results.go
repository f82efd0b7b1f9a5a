package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// ResultsDoc is a merged run's report as one Elasticsearch document
// (esgate load report --results-target), as Rally's metrics store keeps
// its results: one per run, its _id the run id, so runs can be charted in
// Kibana. ResultsMapping is its mapping; docs/load-testing.md shows both.
type ResultsDoc struct {
	Timestamp      time.Time     `json:"@timestamp"` // the end of the common window
	RunID          string        `json:"run_id"`
	Shards         int           `json:"shards"`
	OpenLoop       bool          `json:"open_loop"`
	TargetRate     float64       `json:"target_rate"`
	Seconds        float64       `json:"seconds"`
	Events         int64         `json:"events"`
	FailedEvents   int64         `json:"failed_events"`
	WarmupEvents   int64         `json:"warmup_events"`
	DroppedSends   int64         `json:"dropped_sends"`
	Requests       int64         `json:"requests"`
	Errors         int64         `json:"errors"`
	TransportErrs  int64         `json:"transport_errors"`
	Rejected429    int64         `json:"rejected_429"`
	ErrorRate      float64       `json:"error_rate"`
	EventsPerSec   float64       `json:"events_per_sec"`
	RequestsPerSec float64       `json:"requests_per_sec"`
	RawBytes       int64         `json:"bytes_raw"`
	WireBytes      int64         `json:"bytes_wire"`
	Latency        Percentiles   `json:"latency_ms"`
	ServiceTime    Percentiles   `json:"service_time_ms"`
	Statuses       []StatusCount `json:"http_status"`
	ItemErrors     []ItemCount   `json:"item_errors"`
	Params         Params        `json:"params"`
	Verified       *Verification `json:"verified,omitempty"`
	WindowStart    time.Time     `json:"window_start"`
}

// StatusCount is the requests answered with one HTTP status
// ("transport_error": none).
type StatusCount struct {
	Status   string `json:"status"`
	Requests int64  `json:"requests"`
}

// ItemCount is the events refused with one bulk item status and error type.
type ItemCount struct {
	Error  string `json:"error"`
	Events int64  `json:"events"`
}

// ResultsMapping is ResultsDoc's mapping: put it in an index template
// for the results index before the first report (otherwise Elasticsearch
// maps the fields dynamically: run_id as text, the percentiles as float).
const ResultsMapping = `{
  "dynamic": "strict",
  "properties": {
    "@timestamp": {"type": "date"},
    "run_id": {"type": "keyword"},
    "shards": {"type": "integer"},
    "open_loop": {"type": "boolean"},
    "target_rate": {"type": "double"},
    "seconds": {"type": "double"},
    "events": {"type": "long"},
    "failed_events": {"type": "long"},
    "warmup_events": {"type": "long"},
    "dropped_sends": {"type": "long"},
    "requests": {"type": "long"},
    "errors": {"type": "long"},
    "transport_errors": {"type": "long"},
    "rejected_429": {"type": "long"},
    "error_rate": {"type": "double"},
    "events_per_sec": {"type": "double"},
    "requests_per_sec": {"type": "double"},
    "bytes_raw": {"type": "long"},
    "bytes_wire": {"type": "long"},
    "latency_ms": {"properties": {"p50": {"type": "double"}, "p90": {"type": "double"}, "p99": {"type": "double"}, "p999": {"type": "double"}, "max": {"type": "double"}}},
    "service_time_ms": {"properties": {"p50": {"type": "double"}, "p90": {"type": "double"}, "p99": {"type": "double"}, "p999": {"type": "double"}, "max": {"type": "double"}}},
    "http_status": {"type": "nested", "properties": {"status": {"type": "keyword"}, "requests": {"type": "long"}}},
    "item_errors": {"type": "nested", "properties": {"error": {"type": "keyword"}, "events": {"type": "long"}}},
    "params": {"properties": {
      "target": {"type": "keyword"}, "rate": {"type": "double"}, "clients": {"type": "integer"}, "events": {"type": "long"},
      "duration": {"type": "keyword"}, "warmup": {"type": "keyword"}, "batch_size": {"type": "integer"}, "event_size": {"type": "integer"},
      "action": {"type": "keyword"}, "index": {"type": "keyword"}, "gzip": {"type": "integer"}, "seed": {"type": "unsigned_long"}, "file": {"type": "keyword"}}},
    "verified": {"properties": {"before": {"type": "long"}, "after": {"type": "long"}, "acknowledged": {"type": "long"}, "ok": {"type": "boolean"}}},
    "window_start": {"type": "date"}
  }
}`

// Doc is m's results document.
func (m *Merged) Doc() ResultsDoc {
	r := m.Result
	d := ResultsDoc{RunID: r.Run, Shards: max(len(r.Shards), 1), OpenLoop: r.OpenLoop, TargetRate: r.TargetRate, Seconds: r.Seconds,
		Events: r.Events, FailedEvents: r.FailedEvents, WarmupEvents: r.WarmupEvents, DroppedSends: r.DroppedSends,
		Requests: r.Requests, Errors: r.Errors, TransportErrs: r.TransportErrs, Rejected429: r.Rejected429, ErrorRate: r.ErrorRate(),
		EventsPerSec: r.EventsPerSec, RequestsPerSec: r.RequestsPerSec, RawBytes: r.RawBytes, WireBytes: r.WireBytes,
		Latency: r.Latency, ServiceTime: r.ServiceTime, Params: m.Params, Verified: r.Verified,
		Statuses: []StatusCount{}, ItemErrors: []ItemCount{}}
	if w := r.Window; w != nil {
		d.Timestamp, d.WindowStart = w.End.UTC(), w.Start.UTC()
	}
	for k, v := range r.Statuses {
		d.Statuses = append(d.Statuses, StatusCount{k, v})
	}
	sort.Slice(d.Statuses, func(i, j int) bool { return d.Statuses[i].Status < d.Statuses[j].Status })
	for k, v := range r.ItemErrors {
		d.ItemErrors = append(d.ItemErrors, ItemCount{k, v})
	}
	sort.Slice(d.ItemErrors, func(i, j int) bool { return d.ItemErrors[i].Error < d.ItemErrors[j].Error })
	return d
}

// ResultsIndexURL splits --results-target's URL (http://host:port/index)
// into the base URL to send to and the index.
func ResultsIndexURL(target string) (base, index string, err error) {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", "", fmt.Errorf("want a URL such as http://127.0.0.1:9200/esgate-load-results, got %q", target)
	}
	p := strings.Trim(u.Path, "/")
	i := strings.LastIndexByte(p, '/')
	index = p[i+1:]
	if index == "" || strings.HasPrefix(index, "_") || u.RawQuery != "" {
		return "", "", fmt.Errorf("want a URL that ends in the index, such as http://127.0.0.1:9200/esgate-load-results, got %q", target)
	}
	u.Path = "/" + p[:max(i, 0)]
	return strings.TrimSuffix(u.String(), "/"), index, nil
}

// WriteResults writes the results document into index through base (a
// bulk create with the run id as _id: a run is written once; a second
// report of it is refused by Elasticsearch as a conflict, and said so).
func WriteResults(ctx context.Context, c *http.Client, base, index string, d ResultsDoc) error {
	doc, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return createOne(ctx, c, base+"/_bulk?refresh=wait_for", index, d.RunID, doc, "the results document",
		fmt.Sprintf("%s holds run %q's results already (delete that document to write them again)", index, d.RunID))
}

// createOne writes doc as index/id with a bulk create through url, once:
// a conflict (the document is there already) is an error saying
// conflict; what names the document in other errors.
func createOne(ctx context.Context, c *http.Client, url, index, id string, doc []byte, what, conflict string) error {
	action, _ := json.Marshal(map[string]any{"create": map[string]any{"_index": index, "_id": id}})
	body := append(append(append(action, '\n'), doc...), '\n')
	b := Barrier{}
	return b.do(ctx, c, http.MethodPost, url, body, func(res []byte) error {
		var v struct {
			Items []map[string]struct {
				Status int `json:"status"`
				Error  any `json:"error"`
			} `json:"items"`
		}
		if err := json.Unmarshal(res, &v); err != nil || len(v.Items) != 1 {
			return fmt.Errorf("an answer that is not a bulk answer: %.200s", res)
		}
		for _, it := range v.Items[0] {
			if it.Status == http.StatusConflict {
				return errors.New(conflict)
			}
			if it.Status/100 != 2 {
				return fmt.Errorf("writing %s: %d %v", what, it.Status, it.Error)
			}
		}
		return nil
	})
}
