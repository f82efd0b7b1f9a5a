package faultrelay

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Relay forwards connections from Addr to a target, with faults.
type Relay struct {
	// Addr is the relay's host:port on 127.0.0.1.
	Addr   string
	target string

	mu      sync.Mutex
	ln      net.Listener
	conns   map[*pair]struct{}
	stalled chan struct{} // closed while not stalled
	closed  bool
	wg      sync.WaitGroup

	trickle        atomic.Int64 // answer bytes per 10 ms, 0 off
	cutAfter       atomic.Int64 // where armed answers are cut
	accepted, cuts atomic.Int64
}

type pair struct {
	client, server net.Conn
	// closeNext: close once request bytes went through, before any
	// answer byte; cutNext: cut the next answer after cutAfter bytes.
	// Both are armed on live connections only, whose TLS handshake is
	// over, so that what they cut is HTTP, not the handshake.
	closeNext, requested, cutNext atomic.Bool
}

// Start listens on 127.0.0.1:0 and relays every connection to target.
func Start(target string) (*Relay, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &Relay{Addr: ln.Addr().String(), target: target, ln: ln, conns: map[*pair]struct{}{}, stalled: make(chan struct{})}
	close(r.stalled)
	r.serve(ln)
	return r, nil
}

func (r *Relay) serve(ln net.Listener) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.accepted.Add(1)
			go r.relay(c)
		}
	}()
}

func (r *Relay) relay(c net.Conn) {
	s, err := net.DialTimeout("tcp", r.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	p := &pair{client: c, server: s}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		c.Close()
		s.Close()
		return
	}
	r.conns[p] = struct{}{}
	r.mu.Unlock()
	done := make(chan bool, 2) // true: the source ended cleanly (half-close)
	go func() {                // the request direction
		done <- r.pump(s, c, func(n int) (int, bool) {
			if p.closeNext.Load() {
				p.requested.Store(true)
			}
			return n, false
		})
	}()
	go func() { // the answer direction
		cut := false
		left := int64(0) // bytes the cut answer may still send
		done <- r.pump(c, s, func(n int) (int, bool) {
			if p.closeNext.Load() && p.requested.Load() {
				r.cuts.Add(1)
				return 0, true // the request went through; no answer byte does
			}
			if !cut && p.cutNext.CompareAndSwap(true, false) {
				cut, left = true, r.cutAfter.Load()
			}
			if cut {
				if int64(n) >= left {
					r.cuts.Add(1)
					return int(left), true // the answer stops in the middle
				}
				left -= int64(n)
			}
			return n, false
		})
	}()
	if clean := <-done; clean {
		<-done // the other direction goes on after a half-close
	} else {
		r.forget(p)
		c.Close()
		s.Close()
		<-done
	}
	// Forgotten before the sockets close: a client that sees its
	// connection end never finds it still counted by Live.
	r.forget(p)
	c.Close()
	s.Close()
}

// forget takes p out of the live set (again is harmless).
func (r *Relay) forget(p *pair) {
	r.mu.Lock()
	delete(r.conns, p)
	r.mu.Unlock()
}

// pump copies from src to dst in chunks, through the stall gate and the
// trickle; allow, given a chunk's size, says how much of it to write and
// whether to stop after that (the connection is then closed). It reports
// whether src ended cleanly, which it passes on to dst as a half-close.
func (r *Relay) pump(dst, src net.Conn, allow func(n int) (write int, stop bool)) (clean bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			r.gate()
			w, stop := allow(n)
			if err := r.write(dst, buf[:w]); err != nil || stop {
				return false
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				if tc, ok := dst.(*net.TCPConn); ok {
					tc.CloseWrite()
				}
				return true
			}
			return false
		}
	}
}

func (r *Relay) write(dst net.Conn, b []byte) error {
	for len(b) > 0 {
		n := len(b)
		t := int(r.trickle.Load())
		if t > 0 && n > t {
			n = t
		}
		if _, err := dst.Write(b[:n]); err != nil {
			return err
		}
		b = b[n:]
		if t > 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	return nil
}

func (r *Relay) gate() {
	r.mu.Lock()
	ch := r.stalled
	r.mu.Unlock()
	<-ch
}

// Reset resets every live connection (RST to both sides) and returns how
// many there were.
func (r *Relay) Reset() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(r.conns)
	for p := range r.conns {
		delete(r.conns, p) // not live from here on, as its ends see
		for _, c := range []net.Conn{p.client, p.server} {
			if tc, ok := c.(*net.TCPConn); ok {
				tc.SetLinger(0)
			}
			c.Close()
		}
	}
	return n
}

// Refuse stops listening (new connections are refused) with on, and
// listens again on the same address without. Live connections go on.
func (r *Relay) Refuse(on bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if on {
		if r.ln != nil {
			r.ln.Close()
			r.ln = nil
		}
		return nil
	}
	if r.ln != nil || r.closed {
		return nil
	}
	ln, err := net.Listen("tcp", r.Addr)
	if err != nil {
		return err
	}
	r.ln = ln
	r.serve(ln)
	return nil
}

// Stall holds every byte in both directions while on: connections are
// accepted and stay open, and nothing moves.
func (r *Relay) Stall(on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.stalled: // not stalled
		if on {
			r.stalled = make(chan struct{})
		}
	default:
		if !on {
			close(r.stalled)
		}
	}
}

// Trickle sends answers at bytesPer10ms (0: at full speed).
func (r *Relay) Trickle(bytesPer10ms int) { r.trickle.Store(int64(bytesPer10ms)) }

// CutAnswers arms every live connection to cut its next answer after
// after bytes: the connection closes in the middle of the answer. It
// returns how many it armed.
func (r *Relay) CutAnswers(after int) int {
	r.cutAfter.Store(int64(after))
	r.mu.Lock()
	defer r.mu.Unlock()
	for p := range r.conns {
		p.cutNext.Store(true)
	}
	return len(r.conns)
}

// CloseAfterRequest arms every live connection to close once its next
// request went through, before any answer byte. It returns how many it
// armed.
func (r *Relay) CloseAfterRequest() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	for p := range r.conns {
		p.closeNext.Store(true)
	}
	return len(r.conns)
}

// Clear lifts every fault.
func (r *Relay) Clear() error {
	r.Stall(false)
	r.Trickle(0)
	r.mu.Lock()
	for p := range r.conns {
		p.cutNext.Store(false)
		p.closeNext.Store(false)
	}
	r.mu.Unlock()
	return r.Refuse(false)
}

// Live is the number of relayed connections open now.
func (r *Relay) Live() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.conns)
}

// Cuts is how many answers the relay cut or withheld so far.
func (r *Relay) Cuts() int64 { return r.cuts.Load() }

// Accepted is how many connections the relay accepted so far.
func (r *Relay) Accepted() int64 { return r.accepted.Load() }

// Close stops the relay and closes every connection.
func (r *Relay) Close() {
	r.mu.Lock()
	r.closed = true
	if r.ln != nil {
		r.ln.Close()
		r.ln = nil
	}
	r.mu.Unlock()
	r.Stall(false)
	r.Reset()
	r.wg.Wait()
}
