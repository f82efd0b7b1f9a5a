package sockio

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// pair returns two connected sockets of network ("tcp" or "unix"), each
// wrapped or not.
func pair(t *testing.T, network string, wrap bool) (client, server net.Conn) {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = filepath.Join(t.TempDir(), "s")
	}
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if wrap {
		l = WrapListener(l)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c
	}()
	c, err := net.Dial(network, l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		t.Fatal("accept failed")
	}
	if wrap {
		c = Wrap(c)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c, s
}

func TestWrapIsRaw(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("raw calls are Linux's")
	}
	c, s := pair(t, "tcp", true)
	if _, ok := c.(*Conn); !ok {
		t.Fatalf("Wrap(TCP conn) = %T", c)
	}
	if _, ok := s.(*Conn); !ok {
		t.Fatalf("WrapListener's Accept = %T", s)
	}
	if Wrap(c) != c {
		t.Fatal("wrapping twice wraps again")
	}
	p1, p2 := net.Pipe()
	defer p1.Close()
	defer p2.Close()
	if Wrap(p1) != p1 {
		t.Fatal("a connection without a socket must come back unchanged")
	}
}

// TestStreamBothWays moves 16 MiB each way at once, far more than the
// socket buffers hold, so that writes and reads wait in the poller.
func TestStreamBothWays(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			c, s := pair(t, network, true)
			a := make([]byte, 16<<20)
			b := make([]byte, 16<<20)
			rand.Read(a)
			rand.Read(b)
			errc := make(chan error, 4)
			got := make(chan []byte, 2)
			send := func(conn net.Conn, p []byte) {
				_, err := conn.Write(p)
				errc <- err
			}
			recv := func(conn net.Conn, n int) {
				buf := make([]byte, n)
				_, err := io.ReadFull(conn, buf)
				errc <- err
				got <- buf
			}
			go send(c, a)
			go send(s, b)
			go recv(s, len(a))
			go recv(c, len(b))
			for range 4 {
				if err := <-errc; err != nil {
					t.Fatal(err)
				}
			}
			x, y := <-got, <-got
			if !(bytes.Equal(x, a) && bytes.Equal(y, b)) && !(bytes.Equal(x, b) && bytes.Equal(y, a)) {
				t.Fatal("bytes changed on the way")
			}
		})
	}
}

// outcome classifies an error as callers of a net.Conn test it.
func outcome(n int, err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, io.EOF):
		return "EOF"
	case errors.Is(err, os.ErrDeadlineExceeded):
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			return "deadline without Timeout()"
		}
		return "deadline"
	case errors.Is(err, net.ErrClosed):
		return "closed"
	case errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNRESET):
		var oe *net.OpError
		if !errors.As(err, &oe) {
			return "reset without *net.OpError"
		}
		return "reset"
	}
	return "other: " + err.Error()
}

// TestSameOutcomesAsNet runs each situation on a plain and a wrapped
// connection: callers (crypto/tls, net/http, esgate's timeouts) must see
// the same errors.
func TestSameOutcomesAsNet(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, c, s net.Conn) string
	}{
		{"read after peer wrote", func(t *testing.T, c, s net.Conn) string {
			s.Write([]byte("hello"))
			buf := make([]byte, 16)
			n, err := c.Read(buf)
			if err == nil && string(buf[:n]) != "hello" {
				return "wrong bytes " + string(buf[:n])
			}
			return outcome(n, err)
		}},
		{"read after peer closed", func(t *testing.T, c, s net.Conn) string {
			s.Close()
			return outcome(c.Read(make([]byte, 16)))
		}},
		{"read past deadline", func(t *testing.T, c, s net.Conn) string {
			c.SetReadDeadline(time.Now().Add(-time.Second))
			return outcome(c.Read(make([]byte, 16)))
		}},
		{"read until deadline", func(t *testing.T, c, s net.Conn) string {
			c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			return outcome(c.Read(make([]byte, 16)))
		}},
		{"read while closed", func(t *testing.T, c, s net.Conn) string {
			done := make(chan string)
			go func() { done <- outcome(c.Read(make([]byte, 16))) }()
			// Close wakes a read whether it is already waiting or not.
			c.Close()
			return <-done
		}},
		{"write past deadline", func(t *testing.T, c, s net.Conn) string {
			c.SetWriteDeadline(time.Now().Add(-time.Second))
			return outcome(c.Write([]byte("x")))
		}},
		{"write while the peer reads nothing", func(t *testing.T, c, s net.Conn) string {
			// A loaded machine (make test runs packages side by side, under
			// -race) can pass a short deadline before the first send, and
			// then both report 0 bytes; a longer deadline tries again, up
			// to one that only a hang misses (each try lasts its deadline:
			// the peer never reads).
			buf := make([]byte, 64<<20)
			for _, d := range []time.Duration{50 * time.Millisecond, 500 * time.Millisecond, 5 * time.Second, 30 * time.Second} {
				c.SetWriteDeadline(time.Now().Add(d))
				n, err := c.Write(buf)
				if n == 0 && errors.Is(err, os.ErrDeadlineExceeded) {
					continue
				}
				if n == 0 || n == len(buf) {
					return "a stalled write must report the bytes it wrote"
				}
				return outcome(n, err)
			}
			return "the write never started"
		}},
		{"write after the peer reset", func(t *testing.T, c, s net.Conn) string {
			s.(interface{ SetLinger(int) error }).SetLinger(0)
			s.Close()
			var err error
			for range 100 { // the reset arrives with the first write
				if _, err = c.Write([]byte("x")); err != nil {
					break
				}
				time.Sleep(time.Millisecond)
			}
			return outcome(0, err)
		}},
		{"write after close", func(t *testing.T, c, s net.Conn) string {
			c.Close()
			return outcome(c.Write([]byte("x")))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var want string
			for _, wrap := range []bool{false, true} {
				c, s := pair(t, "tcp", false)
				if wrap {
					c = Wrap(c)
				}
				var sUnwrapped net.Conn = s
				got := tc.run(t, c, sUnwrapped)
				if !wrap {
					want = got
					continue
				}
				if got != want {
					t.Fatalf("wrapped: %s; net: %s", got, want)
				}
			}
			t.Logf("both: %s", want)
		})
	}
}

func TestReadWriteAllocateNothing(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("raw calls are Linux's")
	}
	c, s := pair(t, "tcp", true)
	msg := make([]byte, 4096)
	buf := make([]byte, 4096)
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(s, buf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per write and read, want 0", allocs)
	}
}
