package faultrelay

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestFaults drives each fault through real sockets: a keep-alive HTTP
// client, the relay, an HTTP server.
func TestFaults(t *testing.T) {
	var served atomic.Int64
	body := strings.Repeat("x", 64<<10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		io.WriteString(w, body)
	}))
	defer srv.Close()
	r, err := Start(strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cli := &http.Client{Timeout: 2 * time.Second}
	get := func() (string, error) {
		res, err := cli.Get("http://" + r.Addr + "/")
		if err != nil {
			return "", err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		return string(b), err
	}
	ok := func(what string) {
		t.Helper()
		if b, err := get(); err != nil || b != body {
			t.Fatalf("%s: %d bytes, %v", what, len(b), err)
		}
	}
	// oneLive waits until the client's current connection is the only
	// one relayed: one the client gave up on (the stall) ends in the
	// relay only once the server's side has ended too.
	oneLive := func() {
		t.Helper()
		for start := time.Now(); r.Live() != 1; time.Sleep(time.Millisecond) {
			if time.Since(start) > time.Minute {
				t.Fatalf("live %d after a minute; want 1", r.Live())
			}
		}
	}
	ok("relayed")
	if r.Live() != 1 {
		t.Fatalf("live %d; want the client's keep-alive connection", r.Live())
	}

	if n := r.Reset(); n != 1 {
		t.Errorf("reset %d connections", n)
	}
	ok("after a reset, a new connection")

	r.Refuse(true)
	cli.CloseIdleConnections()
	if _, err := get(); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("refused: %v", err)
	}
	r.Refuse(false)
	ok("listening again")

	r.Stall(true)
	start := time.Now()
	if _, err := get(); err == nil || time.Since(start) < 2*time.Second {
		t.Errorf("stalled: %v after %v", err, time.Since(start))
	}
	r.Stall(false)
	ok("after the stall")

	r.Trickle(8 << 10) // 64 KiB at 8 KiB per 10 ms: about 80 ms
	start = time.Now()
	ok("trickled")
	if d := time.Since(start); d < 70*time.Millisecond {
		t.Errorf("trickled answer took %v", d)
	}
	r.Trickle(0)

	oneLive()
	if n := r.CutAnswers(1000); n != 1 {
		t.Fatalf("cut armed on %d connections", n)
	}
	if b, err := get(); !errors.Is(err, io.ErrUnexpectedEOF) || len(b) == 0 {
		t.Errorf("cut answer: %d bytes, %v; want part of the body and an unexpected EOF", len(b), err)
	}
	ok("after the cut")

	before := served.Load()
	oneLive()
	if n := r.CloseAfterRequest(); n != 1 {
		t.Fatalf("close-after-request armed on %d connections", n)
	}
	// A POST: net/http would retry an idempotent GET on a new connection.
	if res, err := cli.Post("http://"+r.Addr+"/", "application/json", strings.NewReader("{}")); err == nil {
		res.Body.Close()
		t.Error("closed before the answer, yet answered")
	}
	if served.Load() != before+1 {
		t.Errorf("the server saw %d requests; want the one whose answer was withheld", served.Load()-before)
	}
	if r.Cuts() != 2 {
		t.Errorf("cuts %d", r.Cuts())
	}
	r.Clear()
	ok("cleared")

	// Close ends every connection.
	r.Close()
	if _, err := net.DialTimeout("tcp", r.Addr, time.Second); err == nil {
		t.Error("closed relay still accepts")
	}
}
