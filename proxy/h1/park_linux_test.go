package h1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// parkServer serves h with h1 on a loopback listener.
func parkServer(t *testing.T, idle time.Duration, h http.Handler) (*Server, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Handler: h, Fallback: &http.Server{Handler: h}, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: idle, ParkAfter: time.Nanosecond}
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return s, l.Addr().String()
}

// echo answers a request's path and body.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprintf(w, "%s %s", r.URL.Path, b)
})

// waitFor polls cond until it holds; the deadline only catches hangs.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// roundTrip sends a POST of body to path on c and checks the answer
// echoes both, byte for byte.
func roundTrip(t *testing.T, c net.Conn, br *bufio.Reader, path, body string) {
	t.Helper()
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: es\r\nContent-Length: %d\r\n\r\n%s", path, len(body), body)
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if want := path + " " + body; res.StatusCode != 200 || string(got) != want {
		t.Fatalf("answer %d %q, want 200 %q", res.StatusCode, got, want)
	}
}

// memInUse is the heap and stacks in use, after collections that empty
// sync.Pool.
func memInUse() (uint64, int) {
	var m runtime.MemStats
	for range 3 {
		runtime.GC()
	}
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse, runtime.NumGoroutine()
}

type idleClient struct {
	c  net.Conn
	br *bufio.Reader
}

// openIdle opens n connections, serves one request on each and waits
// until all are parked.
func openIdle(t *testing.T, s *Server, addr string, n int) []idleClient {
	t.Helper()
	cs := make([]idleClient, 0, n)
	t.Cleanup(func() {
		for _, c := range cs {
			c.c.Close()
		}
	})
	for i := range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, idleClient{c, bufio.NewReaderSize(c, 512)})
		roundTrip(t, c, cs[i].br, fmt.Sprintf("/first/%d", i), "x")
	}
	waitFor(t, fmt.Sprintf("%d parked connections", n), func() bool { return s.park.count() == n })
	return cs
}

// TestIdleConnectionsPark: a kept-alive connection waiting for its next
// request has no goroutine, no buffers and no request state (Linux): the
// goroutine count does not grow with the idle connections, and each costs
// under 4 KiB of heap and stack, both ends of the socket together (the
// server's conn and net.Conn with its addresses, the client's net.Conn
// and its 512-byte reader, map entries: 2.5 to 3 KiB measured, as
// HeapInuse counts whole spans; with a goroutine each, as before
// parking, 11.5 KiB). Each is then served its next request, byte for
// byte, and parks again.
func TestIdleConnectionsPark(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 500 connections")
	}
	const n = 500
	s, addr := parkServer(t, 0, echo)
	// Warm up: the pools, the parker's goroutine, a first connection.
	openIdle(t, s, addr, 1)[0].c.Close()
	waitFor(t, "the warm-up connection to go", func() bool { return s.conns0() })

	mem0, g0 := memInUse()
	cs := openIdle(t, s, addr, n)
	mem1, g1 := memInUse()
	per := (float64(mem1) - float64(mem0)) / n
	t.Logf("%d idle connections: %+d goroutines, %.0f bytes of heap and stack each", n, g1-g0, per)
	if g1-g0 > 10 {
		t.Errorf("%d idle connections added %d goroutines, want none (a few for the runtime)", n, g1-g0)
	}
	limit := 4096.0
	if raceEnabled {
		limit *= 3 // the race detector's shadow of each object
	}
	if per > limit {
		t.Errorf("%.0f bytes of heap and stack per idle connection, want under %.0f", per, limit)
	}

	for i, c := range cs {
		roundTrip(t, c.c, c.br, fmt.Sprintf("/next/%d", i), strings.Repeat("y", i))
	}
	waitFor(t, "the connections to park again", func() bool { return s.park.count() == n })
}

// conns0 reports whether the server holds no connection (tests).
func (s *Server) conns0() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns) == 0
}

// expectEOF waits for the server to close c.
func expectEOF(t *testing.T, c idleClient) {
	t.Helper()
	c.c.SetReadDeadline(time.Now().Add(60 * time.Second))
	b, err := c.br.ReadByte()
	if err == nil {
		t.Fatalf("read %q, want the connection closed", b)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the parked connection was not closed")
	}
}

// TestParkedIdleTimeout: IdleTimeout closes parked connections (the
// idle sweep), and the server forgets them.
func TestParkedIdleTimeout(t *testing.T) {
	s, addr := parkServer(t, time.Second, echo)
	for _, c := range openIdle(t, s, addr, 20) {
		expectEOF(t, c)
	}
	waitFor(t, "the server to forget the connections", s.conns0)
	if n := s.park.count(); n != 0 {
		t.Fatalf("%d connections still parked", n)
	}
}

// TestParkedShutdown: Shutdown closes parked connections at once and
// returns.
func TestParkedShutdown(t *testing.T) {
	s, addr := parkServer(t, 0, echo)
	cs := openIdle(t, s, addr, 50)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for _, c := range cs {
		expectEOF(t, c)
	}
	if !s.conns0() || s.park.count() != 0 {
		t.Fatal("connections left after Shutdown")
	}
}

// TestParkedClientCloses: a client that closes (FIN) or resets a parked
// connection leaves nothing behind: no connection, no registration, no
// goroutine.
func TestParkedClientCloses(t *testing.T) {
	s, addr := parkServer(t, 0, echo)
	openIdle(t, s, addr, 1)[0].c.Close()
	waitFor(t, "the warm-up connection to go", s.conns0)
	_, g0 := memInUse()
	cs := openIdle(t, s, addr, 40)
	for i, c := range cs {
		if i%2 == 1 {
			c.c.(*net.TCPConn).SetLinger(0) // a reset
		}
		c.c.Close()
	}
	waitFor(t, "the server to forget the connections", s.conns0)
	if n := s.park.count(); n != 0 {
		t.Fatalf("%d connections still parked", n)
	}
	waitFor(t, "the goroutines to end", func() bool { return runtime.NumGoroutine() <= g0+2 })
}

// TestParkedClose: Close closes parked and busy connections alike.
func TestParkedClose(t *testing.T) {
	s, addr := parkServer(t, 0, echo)
	cs := openIdle(t, s, addr, 20)
	s.Close()
	for _, c := range cs {
		expectEOF(t, c)
	}
	waitFor(t, "the server to forget the connections", s.conns0)
}

// TestBusyConnectionsDoNotPark: within ParkAfter a kept-alive connection
// waits for its next request in its own goroutine, so a client sending
// back to back (Logstash under load) never pays a park and a wake per
// request; its requests are served all the same.
func TestBusyConnectionsDoNotPark(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Handler: echo, Fallback: &http.Server{Handler: echo}, ReadHeaderTimeout: 30 * time.Second, ParkAfter: time.Hour}
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for i := range 50 {
		roundTrip(t, c, br, fmt.Sprintf("/busy/%d", i), strings.Repeat("z", i))
		if n := s.park.count(); n != 0 {
			t.Fatalf("after request %d: %d parked connections, want none within ParkAfter", i, n)
		}
	}
}
