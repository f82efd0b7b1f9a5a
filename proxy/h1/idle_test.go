package h1

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"testing"
	"time"
)

// idleHeapPerConn opens n keep-alive connections to addr, sends one
// request on each, reads its answer and leaves the connection open and
// quiet; it returns the heap the idle connections hold, per connection,
// both ends together (the client's end is a bare net.Conn).
func idleHeapPerConn(t *testing.T, addr string, n int) float64 {
	t.Helper()
	heap := func() uint64 {
		var m runtime.MemStats
		for range 3 { // sync.Pool's buffers go at the second collection
			runtime.GC()
		}
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for i := range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		fmt.Fprintf(c, "GET /%d HTTP/1.1\r\nHost: es\r\n\r\n", i)
		c.SetReadDeadline(time.Now().Add(60 * time.Second))
		res, err := http.ReadResponse(bufio.NewReaderSize(c, 256), nil)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	after := heap()
	return (float64(after) - float64(before)) / float64(n)
}

// TestIdleConnectionHoldsNoBuffers: a kept-alive connection waiting for
// its next request gives its 32 KiB read and 8 KiB write buffers back
// (h1), and the framing guard in front of net/http holds no buffer of its
// own while nothing is held back. With the buffers held, each idle
// connection costs over 40 KiB of heap.
func TestIdleConnectionHoldsNoBuffers(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 300 connections")
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("{}")) })
	addr, _, s, _ := servers(t, h)
	if got := idleHeapPerConn(t, addr, 300); got > 12<<10 {
		t.Errorf("h1: %.0f bytes of heap per idle connection, want under 12 KiB (its buffers are held)", got)
	} else {
		t.Logf("h1: %.0f bytes of heap per idle connection", got)
	}
	s.mu.Lock()
	n := len(s.conns)
	s.mu.Unlock()
	if n < 300 {
		t.Fatalf("h1 holds %d connections, want the 300 idle ones", n)
	}

	// net/http's own server keeps a 4 KiB reader and writer per idle
	// connection; the guard must add no 32 KiB of its own.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	std := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go std.Serve(guardListener{l})
	t.Cleanup(func() { std.Close() })
	if got := idleHeapPerConn(t, l.Addr().String(), 300); got > 20<<10 {
		t.Errorf("guarded net/http: %.0f bytes of heap per idle connection, want under 20 KiB (the guard holds a buffer)", got)
	} else {
		t.Logf("guarded net/http: %.0f bytes of heap per idle connection", got)
	}
}

// guardListener serves net/http's server through GuardFraming, as h1's
// handed-off connections are.
type guardListener struct{ net.Listener }

func (l guardListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return GuardFraming(c), nil
}
