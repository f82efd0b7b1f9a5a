package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math"
	"testing"
	"time"

	"github.com/esgate/esgate/proxy"
)

// slogAccessLine is the oracle: the line slog's own handler writes for
// the access record, as the access log wrote it before accessHandler.
func slogAccessLine(t *testing.T, json bool, at time.Time, a *proxy.AccessRecord) string {
	t.Helper()
	var buf bytes.Buffer
	var h slog.Handler = slog.NewTextHandler(&buf, nil)
	if json {
		h = slog.NewJSONHandler(&buf, nil)
	}
	l := slog.New(h).With("log", "access")
	rec := slog.NewRecord(at, slog.LevelInfo, "request", 0)
	rec.AddAttrs(a.Attrs(nil)...)
	if err := l.Handler().Handle(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func checkAccessLine(t *testing.T, at time.Time, a *proxy.AccessRecord) {
	t.Helper()
	for _, json := range []bool{false, true} {
		var got []byte
		var ok bool
		if json {
			got, ok = appendAccessJSON(nil, at, a)
		} else {
			got, ok = appendAccessText(nil, at, a)
		}
		if !ok {
			continue // left to slog
		}
		if want := slogAccessLine(t, json, at, a); string(got) != want {
			t.Fatalf("json %v:\n got  %s want %s", json, got, want)
		}
	}
}

var accessCases = []proxy.AccessRecord{
	{Route: "main", Method: "POST", Path: "/_bulk", Status: 200, BytesIn: 16737, BytesOut: 3300,
		DurationMS: 0.532, Upstream: "127.0.0.1:9200", UpstreamMS: 0.41, HasHead: true, HeadMS: 0.5,
		Bulk: true, Events: 125, Items: 125},
	{Route: "main", Method: "GET", Path: "/", Status: 499, DurationMS: 1234567.891, Aborted: true},
	{Route: "r", Method: "PUT", Path: "/logs-x/_doc/1", Status: 201, Client: "logstash-01", DurationMS: 1e-7, UpstreamMS: 2e21,
		Bulk: true, Events: -1, ItemErrors: 3},
	{Route: "with space", Method: "GET", Path: "/a=b", Status: 200},
	{Route: "main", Method: "GET", Path: "/caf\u00e9", Status: 200, Upstream: "[::1]:9200", DurationMS: math.Copysign(0, -1)},
	{Route: "main", Method: "GET", Path: `/q"\`, Status: 200, DurationMS: math.Inf(1)},
}

// TestAccessLineMatchesSlog: accessHandler's lines are slog's, text and
// JSON, for the common line and the edges (empty strings, values left
// to slog, floats with exponents, negative zero, infinity).
func TestAccessLineMatchesSlog(t *testing.T) {
	for _, zone := range []*time.Location{time.UTC, time.FixedZone("", 5*3600+30*60), time.FixedZone("", -7*3600)} {
		at := time.Date(2026, 12, 7, 0, 4, 26, 123456789, zone)
		for i := range accessCases {
			checkAccessLine(t, at, &accessCases[i])
		}
		checkAccessLine(t, at.Truncate(time.Second), &accessCases[0])
	}
	// The common line is written, not left to slog.
	if _, ok := appendAccessText(nil, time.Now(), &accessCases[0]); !ok {
		t.Error("text: the common line was left to slog")
	}
	if _, ok := appendAccessJSON(nil, time.Now(), &accessCases[0]); !ok {
		t.Error("json: the common line was left to slog")
	}
}

// TestAccessLogger: serve's logger (slog's handler in the log buffer)
// gets the fast access handler; any other logger (a With, a test's
// handler) keeps slog's, and both write the same line.
func TestAccessLogger(t *testing.T) {
	at := time.Date(2026, 12, 7, 0, 4, 26, 123456789, time.UTC)
	for _, json := range []bool{false, true} {
		var out bytes.Buffer
		lb := newLogBuffer(&out, time.Hour, 1<<20)
		var h slog.Handler = slog.NewTextHandler(lb, nil)
		if json {
			h = slog.NewJSONHandler(lb, nil)
		}
		log := slog.New(flushHandler{Handler: h, b: lb, stock: &stockHandler{json: json}})
		w, ok := accessLogger(log).Handler().(proxy.AccessWriter)
		if !ok {
			t.Fatalf("json %v: serve's logger has no fast access line", json)
		}
		if !w.WriteAccess(at, accessCases[0]) {
			t.Fatalf("json %v: the common line was left to slog", json)
		}
		lb.Flush()
		if want := slogAccessLine(t, json, at, &accessCases[0]); out.String() != want {
			t.Errorf("json %v: got %s want %s", json, out.String(), want)
		}
		if _, ok := accessLogger(log.With("x", 1)).Handler().(proxy.AccessWriter); ok {
			t.Errorf("json %v: a logger with attributes got the fast line", json)
		}
	}
	if _, ok := accessLogger(slog.New(slog.NewTextHandler(io.Discard, nil))).Handler().(proxy.AccessWriter); ok {
		t.Error("a plain slog logger got the fast line")
	}
}

// FuzzAccessLine: for any values, a line accessHandler writes is the
// line slog writes.
func FuzzAccessLine(f *testing.F) {
	for _, a := range accessCases {
		f.Add(a.Route, a.Method, a.Path, a.Upstream, a.Client, a.Status, a.BytesIn, a.DurationMS, a.UpstreamMS, a.HeadMS, a.Events, a.HasHead, a.Aborted, a.Bulk, int64(1733530000123456789))
	}
	f.Fuzz(func(t *testing.T, route, method, path, upstream, client string, status int, bytesIn int64,
		dur, up, head float64, events int64, hasHead, aborted, bulk bool, nanos int64) {
		a := proxy.AccessRecord{Route: route, Method: method, Path: path, Status: status, BytesIn: bytesIn, BytesOut: -bytesIn,
			DurationMS: dur, Upstream: upstream, UpstreamMS: up, HasHead: hasHead, HeadMS: head, Aborted: aborted,
			Client: client, Bulk: bulk, Events: events, Items: status, ItemErrors: int(events)}
		at := time.Unix(0, nanos).In(time.FixedZone("", int(nanos%50400)))
		if y := at.Year(); y < 0 || y > 9999 {
			return // slog reports an error for the year, outside the contract
		}
		checkAccessLine(t, at, &a)
	})
}

// BenchmarkAccessLine: the access line written by accessHandler and by
// slog's handler (the record account built before), text and JSON.
func BenchmarkAccessLine(b *testing.B) {
	a := &accessCases[0]
	for _, json := range []bool{false, true} {
		name := map[bool]string{false: "text", true: "json"}[json]
		lb := newLogBuffer(io.Discard, time.Hour, 64<<10)
		var h slog.Handler = slog.NewTextHandler(lb, nil)
		if json {
			h = slog.NewJSONHandler(lb, nil)
		}
		log := slog.New(flushHandler{Handler: h, b: lb, stock: &stockHandler{json: json}})
		fast := accessLogger(log).Handler().(proxy.AccessWriter)
		slow := log.With("log", "access").Handler()
		b.Run(name+"/esgate", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				fast.WriteAccess(time.Now(), *a)
			}
		})
		b.Run(name+"/slog", func(b *testing.B) {
			b.ReportAllocs()
			var buf [16]slog.Attr
			for b.Loop() {
				rec := slog.NewRecord(time.Now(), slog.LevelInfo, "request", 0)
				rec.AddAttrs(a.Attrs(buf[:0])...)
				slow.Handle(context.Background(), rec)
			}
		})
	}
}
