package load

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestAnswersThatListFewerItems: a 200 whose bulk answer lists fewer
// items than the request had actions acknowledges only those listed; the
// rest are reported as their own item error, not as a silent success.
func TestAnswersThatListFewerItems(t *testing.T) {
	batch := Batch{Raw: []byte("{\"create\":{}}\n{}\n{\"create\":{}}\n{}\n"), Events: 2}
	batch.Wire = batch.Raw
	for _, tc := range []struct {
		answer         string
		acked, missing int64
	}{
		{`{"took":1,"errors":false,"items":[]}`, 0, 2},
		{`{"took":1,"errors":false,"items":[{"create":{"status":201}}]}`, 1, 1},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, tc.answer)
		}))
		defer srv.Close()
		res, err := Run(context.Background(), Options{Target: srv.URL, Client: srv.Client(), Clients: 1,
			Events: 10, Batches: []Batch{batch}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Requests == 0 || res.Errors != res.Requests {
			t.Errorf("%q: %d errors in %d requests", tc.answer, res.Errors, res.Requests)
		}
		if got := res.ItemErrors[missingItems]; got != tc.missing*res.Requests || res.Events != tc.acked*res.Requests {
			t.Errorf("%q: %d acknowledged, %d reported %q, for %d requests", tc.answer, res.Events, got, missingItems, res.Requests)
		}
	}
}

// TestShardScheduleAndRecords: shard 1 of 2 at the whole test's rate of
// one batch per 100 ms sends its batches at start + (2k+1)·100 ms, never
// earlier, so at most 5 in a second; its interval records are numbered
// from 0, end with the final one, and add up to the run's result.
func TestShardScheduleAndRecords(t *testing.T) {
	batch := Batch{Raw: []byte("{\"create\":{}}\n{}\n"), Events: 10}
	batch.Wire = batch.Raw
	var mu sync.Mutex
	var arrivals []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrivals = append(arrivals, time.Now())
		mu.Unlock()
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"took":1,"errors":false,"items":[`+strings.Repeat(`{"create":{"status":201}},`, 9)+`{"create":{"status":201}}]}`)
	}))
	defer srv.Close()
	start := time.Now().Add(200 * time.Millisecond)
	var recs []Record
	var recMu sync.Mutex
	res, err := Run(context.Background(), Options{Target: srv.URL, Client: srv.Client(), Clients: 2, Rate: 100,
		Duration: time.Second, Batches: []Batch{batch}, Shard: Shard{1, 2}, Start: start, Interval: 300 * time.Millisecond,
		Run: "r", Instance: "i", OnRecord: func(r Record) {
			recMu.Lock()
			recs = append(recs, r)
			recMu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(arrivals) == 0 || len(arrivals) > 5 || res.Requests != int64(len(arrivals)) {
		t.Fatalf("%d requests arrived, result %d; want 1 to 5", len(arrivals), res.Requests)
	}
	if first := arrivals[0].Sub(start); first < 100*time.Millisecond {
		t.Errorf("the first batch arrived %v after the start; shard 1 of 2 sends at 100 ms", first)
	}
	var requests, events int64
	for i, r := range recs {
		if r.Seq != i || r.Final != (i == len(recs)-1) || r.Shard != 1 || r.Shards != 2 || r.ShardRate != 50 {
			t.Errorf("record %d: seq %d final %v shard %d/%d rate %v", i, r.Seq, r.Final, r.Shard, r.Shards, r.ShardRate)
		}
		requests += r.Requests
		events += r.Events
	}
	if len(recs) < 2 || requests != res.Requests || events != res.Events || res.Events != 10*res.Requests {
		t.Errorf("%d records with %d requests and %d events; the result has %d and %d", len(recs), requests, events, res.Requests, res.Events)
	}
}

// TestDueSendsAreNeverForgotten: in an open loop whose one client is held
// by a slow target past the end of the run, the sends that fell due
// meanwhile were never sent; they are counted as dropped, not forgotten.
// The schedule is one send per 10 ms over 2 s, so at most 201 are due.
func TestDueSendsAreNeverForgotten(t *testing.T) {
	batch := Batch{Raw: []byte("{\"create\":{}}\n{}\n"), Events: 1}
	batch.Wire = batch.Raw
	start := time.Now().Add(100 * time.Millisecond)
	const run = 2 * time.Second
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		time.Sleep(time.Until(start.Add(run + 100*time.Millisecond))) // answer after the run
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"took":1,"errors":false,"items":[{"create":{"status":201}}]}`)
	}))
	defer srv.Close()
	res, err := Run(context.Background(), Options{Target: srv.URL, Client: srv.Client(), Clients: 1, Rate: 100,
		Duration: run, Batches: []Batch{batch}, Start: start})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 1 || res.DroppedSends < 1 || res.Requests+res.DroppedSends > 201 {
		t.Errorf("%d requests, %d dropped sends: want 1 request and the other due sends (at most 200) dropped", res.Requests, res.DroppedSends)
	}
	t.Logf("%d dropped", res.DroppedSends)
}
