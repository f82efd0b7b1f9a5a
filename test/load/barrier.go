package load

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Barrier starts the shards of a test together without a coordinator:
// each writes a ready document (a bulk create, which an ingest route
// allows) to Index through Target, then reads Index through ReadTarget
// until all N shards' documents are there. Every shard then computes the
// same start, Delay after the latest ready time, so the start needs no
// agreement beyond the documents.
type Barrier struct {
	// Client writes through Target, ReadClient reads through ReadTarget
	// (default Client).
	Client, ReadClient *http.Client
	// Target is where the load goes (the ready document is written
	// there); ReadTarget is where it can be read (default Target).
	Target, ReadTarget string
	// Index holds the ready documents (default "esgate-load-barrier"; esgate
	// load uses its index with "-barrier" appended, which the same
	// privileges cover).
	Index string
	Run   string
	Shard Shard
	// Timeout bounds the wait for the other shards (default 5m).
	Timeout time.Duration
	// Delay is the start's distance from the latest ready time (default
	// 3s): long enough for every shard to see the last document.
	Delay time.Duration
	// Poll is the time between reads (default 200ms).
	Poll time.Duration
}

// token is the run id as one lowercase alphanumeric word, which a query
// string query matches exactly whatever the field's analyzer.
func token(run string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(run) {
		if r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Wait writes this shard's ready document and returns the common start.
func (b Barrier) Wait(ctx context.Context) (time.Time, error) {
	if b.Index == "" {
		b.Index = "esgate-load-barrier"
	}
	if b.ReadTarget == "" {
		b.ReadTarget = b.Target
	}
	if b.ReadClient == nil {
		b.ReadClient = b.Client
	}
	if b.Timeout <= 0 {
		b.Timeout = 5 * time.Minute
	}
	if b.Delay <= 0 {
		b.Delay = 3 * time.Second
	}
	if b.Poll <= 0 {
		b.Poll = 200 * time.Millisecond
	}
	tok := token(b.Run)
	if tok == "" {
		return time.Time{}, fmt.Errorf("start barrier: the run id %q has no letters or digits", b.Run)
	}
	doc, _ := json.Marshal(map[string]any{"@timestamp": time.Now().UTC().Format(time.RFC3339Nano), "barrier": tok, "run": b.Run, "shard": b.Shard.I, "shards": b.Shard.N,
		"ready_at": time.Now().UTC().Format(time.RFC3339Nano)})
	if err := createOne(ctx, b.Client, strings.TrimSuffix(b.Target, "/")+"/_bulk", b.Index, fmt.Sprintf("%s-%d", tok, b.Shard.I), doc, "the ready document",
		fmt.Sprintf("shard %d of run %q is ready already: another process runs this shard, or the run id was used before (give each run its own --run-id)", b.Shard.I, b.Run)); err != nil {
		return time.Time{}, fmt.Errorf("start barrier: %w", err)
	}
	deadline := time.Now().Add(b.Timeout)
	search := strings.TrimSuffix(b.ReadTarget, "/") + "/" + b.Index + "/_search?size=" + strconv.Itoa(b.Shard.N+10) +
		"&q=" + url.QueryEscape("barrier:"+tok)
	refresh := strings.TrimSuffix(b.ReadTarget, "/") + "/" + b.Index + "/_refresh"
	for {
		b.do(ctx, b.ReadClient, http.MethodPost, refresh, nil, func([]byte) error { return nil })
		seen := map[int]time.Time{}
		err := b.do(ctx, b.ReadClient, http.MethodGet, search, nil, func(res []byte) error {
			var v struct {
				Hits struct {
					Hits []struct {
						Source struct {
							Run     string    `json:"run"`
							Shard   int       `json:"shard"`
							ReadyAt time.Time `json:"ready_at"`
						} `json:"_source"`
					} `json:"hits"`
				} `json:"hits"`
			}
			if err := json.Unmarshal(res, &v); err != nil {
				return fmt.Errorf("an answer that is not a search answer: %.200s", res)
			}
			for _, h := range v.Hits.Hits {
				if h.Source.Run == b.Run && h.Source.Shard >= 0 && h.Source.Shard < b.Shard.N {
					seen[h.Source.Shard] = h.Source.ReadyAt
				}
			}
			return nil
		})
		if err != nil {
			return time.Time{}, fmt.Errorf("start barrier: reading %s: %w (the barrier reads through --verify-target, or --target; without read access use --start-at)", b.Index, err)
		}
		if len(seen) == b.Shard.N {
			var latest time.Time
			for _, at := range seen {
				if at.After(latest) {
					latest = at
				}
			}
			return latest.Add(b.Delay), nil
		}
		if time.Now().After(deadline) {
			var missing []string
			for i := range b.Shard.N {
				if _, ok := seen[i]; !ok {
					missing = append(missing, strconv.Itoa(i))
				}
			}
			return time.Time{}, fmt.Errorf("start barrier: shards %s of %d never arrived within %v (run %q, index %s)", strings.Join(missing, ", "), b.Shard.N, b.Timeout, b.Run, b.Index)
		}
		select {
		case <-time.After(b.Poll):
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
}

func (b Barrier) do(ctx context.Context, c *http.Client, method, u string, body []byte, check func([]byte) error) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "esgate-load")
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s %.300s", method, u, res.Status, out)
	}
	return check(out)
}
