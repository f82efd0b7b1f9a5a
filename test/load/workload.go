package load

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"time"
)

// Batch is one ready-to-send bulk request body.
type Batch struct {
	Raw    []byte // NDJSON
	Wire   []byte // what is sent (gzip when enabled, else Raw)
	Events int
}

// WorkloadOptions shape the generated requests.
type WorkloadOptions struct {
	// BatchSize is events per request (default 125, Logstash's batch).
	BatchSize int
	// BatchBytes, if set, closes a batch once its NDJSON reaches this size.
	BatchBytes int
	// EventSize is the mean size of an event's message field in bytes
	// (default 300); lengths follow a log-normal distribution around it.
	EventSize int
	// Action is create (default) or index.
	Action string
	// Index is the target index or data stream (default logstash-load).
	Index string
	// Gzip is the compression level, 0 for none (default 1, as Logstash).
	Gzip int
	// Seed makes the generated events deterministic.
	Seed uint64
	// File replays an NDJSON file instead: either bulk action/source pairs
	// or one document per line (then actions are added).
	File string
}

func (o *WorkloadOptions) defaults() {
	if o.BatchSize <= 0 {
		o.BatchSize = 125
	}
	if o.EventSize <= 0 {
		o.EventSize = 300
	}
	if o.Action == "" {
		o.Action = "create"
	}
	if o.Index == "" {
		o.Index = "logstash-load"
	}
}

// Batches builds n distinct batches to cycle through while the load runs.
func Batches(o WorkloadOptions, n int) ([]Batch, error) {
	o.defaults()
	var docs [][]byte
	if o.File != "" {
		var err error
		if docs, err = readNDJSON(o.File, o); err != nil {
			return nil, err
		}
	}
	r := rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	action := []byte(fmt.Sprintf(`{"%s":{"_index":%q}}`, o.Action, o.Index))
	var out []Batch
	di := 0
	seq := 0
	for len(out) < n {
		var buf bytes.Buffer
		events := 0
		for events < o.BatchSize && (o.BatchBytes == 0 || buf.Len() < o.BatchBytes) {
			if docs != nil {
				if di >= len(docs) {
					if events == 0 && len(out) > 0 {
						return out, nil // the file is exhausted: cycle what we have
					}
					di = 0
				}
				buf.Write(docs[di])
				di++
			} else {
				buf.Write(action)
				buf.WriteByte('\n')
				buf.Write(Event(r, seq, o.EventSize))
				buf.WriteByte('\n')
				seq++
			}
			events++
		}
		b := Batch{Raw: buf.Bytes(), Events: events}
		b.Wire = b.Raw
		if o.Gzip > 0 {
			var z bytes.Buffer
			zw, err := gzip.NewWriterLevel(&z, o.Gzip)
			if err != nil {
				return nil, fmt.Errorf("--gzip: %w", err)
			}
			zw.Write(b.Raw)
			zw.Close()
			b.Wire = z.Bytes()
		}
		out = append(out, b)
	}
	return out, nil
}

// readNDJSON returns action+source line pairs (each ending in \n).
func readNDJSON(path string, o WorkloadOptions) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--file: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var lines [][]byte
	for sc.Scan() {
		if l := bytes.TrimSpace(sc.Bytes()); len(l) > 0 {
			lines = append(lines, append([]byte{}, l...))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--file: %w", err)
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("--file: %s has no lines", path)
	}
	isAction := func(l []byte) bool {
		var m map[string]json.RawMessage
		if json.Unmarshal(l, &m) != nil || len(m) != 1 {
			return false
		}
		for k := range m {
			return k == "index" || k == "create" || k == "update" || k == "delete"
		}
		return false
	}
	var docs [][]byte
	if isAction(lines[0]) {
		for i := 0; i < len(lines); i++ {
			pair := append(append([]byte{}, lines[i]...), '\n')
			if !strings.Contains(string(lines[i]), `"delete"`) && i+1 < len(lines) {
				i++
				pair = append(append(pair, lines[i]...), '\n')
			}
			docs = append(docs, pair)
		}
		return docs, nil
	}
	action := fmt.Sprintf(`{"%s":{"_index":%q}}`+"\n", o.Action, o.Index)
	for _, l := range lines {
		docs = append(docs, append(append([]byte(action), l...), '\n'))
	}
	return docs, nil
}

var (
	hostNames = []string{"web-01", "web-02", "api-01", "api-02", "worker-07", "edge-3"}
	urlPaths  = []string{"/", "/cart", "/checkout", "/api/v1/orders", "/api/v1/items/42", "/login", "/static/app.js", "/search?q=shoes"}
	statuses  = []int{200, 200, 200, 200, 200, 201, 204, 301, 304, 404, 500, 503}
	agents    = []string{"Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0", "curl/8.5.0", "Go-http-client/1.1",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15"}
	words = strings.Fields("request served upstream timeout cache miss hit user session token order item payment " +
		"retry backend latency shard index query filter route handler worker queue commit flush")
)

// Event renders one ECS-style access-log event as Logstash emits it; the
// message length is log-normal with the given mean.
func Event(r *rand.Rand, seq, meanLen int) []byte {
	ts := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC).Add(time.Duration(seq) * 7 * time.Millisecond)
	ip := fmt.Sprintf("10.%d.%d.%d", r.IntN(256), r.IntN(256), r.IntN(256))
	method := []string{"GET", "GET", "GET", "POST", "PUT", "DELETE"}[r.IntN(6)]
	path := urlPaths[r.IntN(len(urlPaths))]
	status := statuses[r.IntN(len(statuses))]
	size := 200 + r.IntN(40000)
	agent := agents[r.IntN(len(agents))]
	// Log-normal with sigma 0.6 and the requested mean.
	const sigma = 0.6
	mu := math.Log(float64(meanLen)) - sigma*sigma/2
	want := int(math.Exp(mu + sigma*r.NormFloat64()))
	var msg strings.Builder
	fmt.Fprintf(&msg, `%s - - [%s] "%s %s HTTP/1.1" %d %d "-" "%s"`, ip, ts.Format("02/Jan/2006:15:04:05 -0700"), method, path, status, size, agent)
	for msg.Len() < want {
		msg.WriteByte(' ')
		msg.WriteString(words[r.IntN(len(words))])
	}
	ev := map[string]any{
		"@timestamp": ts.Format(time.RFC3339Nano),
		"@version":   "1",
		"message":    msg.String(),
		"event":      map[string]any{"dataset": "nginx.access", "sequence": seq},
		"host":       map[string]any{"name": hostNames[r.IntN(len(hostNames))]},
		"log":        map[string]any{"file": map[string]any{"path": "/var/log/nginx/access.log"}},
		"http":       map[string]any{"request": map[string]any{"method": method}, "response": map[string]any{"status_code": status, "body": map[string]any{"bytes": size}}},
		"url":        map[string]any{"original": path},
		"source":     map[string]any{"address": ip},
		"user_agent": map[string]any{"original": agent},
		"tags":       []string{"beats_input_codec_plain_applied"},
	}
	b, _ := json.Marshal(ev)
	return b
}
