package h1

import (
	"errors"
	"sync"
	"syscall"
	"time"
)

// parker holds a server's parked connections: idle keep-alive
// connections that wait for their next request with no goroutine, no
// buffers and no request state. One goroutine per server waits on an
// epoll instance of its own for their sockets to become readable (or
// hung up), and starts a goroutine that serves the connection on; it
// also closes those idle longer than IdleTimeout, once a second.
//
// A socket is in two epoll sets while parked, the runtime's (its
// net.Conn stays open and keeps its poll descriptor) and the parker's;
// Linux allows it. Events carry a registration id, never reused, not the
// descriptor: a late event finds no connection, or one no longer parked,
// and is dropped. A socket leaves the parker's set before its connection
// closes, so a descriptor number reused by a new socket is never in it
// by mistake.
type parker struct {
	s    *Server
	epfd int
	pipe [2]int // a pipe whose read end is in the set: wakes run at Shutdown

	mu     sync.Mutex
	next   uint64 // the last registration id (0 is the pipe)
	regs   map[uint64]*conn
	closed bool // run has ended: nothing parks any more
}

// Parking outcomes (parker.add).
const (
	parkNo     = iota // not parked: the connection is idle, its goroutine keeps it
	parkDone          // parked: the goroutine lets go
	parkClosed        // Shutdown closed it meanwhile: its goroutine closes it
)

// newParker makes a parker, or returns nil (connections then wait in
// their goroutine) if the kernel refuses an epoll instance.
func newParker(s *Server) *parker {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil
	}
	p := &parker{s: s, epfd: epfd, regs: map[uint64]*conn{}}
	if err := syscall.Pipe2(p.pipe[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		syscall.Close(epfd)
		return nil
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, p.pipe[0], &ev); err != nil {
		syscall.Close(epfd)
		syscall.Close(p.pipe[0])
		syscall.Close(p.pipe[1])
		return nil
	}
	return p
}

// add parks c, idle with nothing buffered or readable and holding no
// buffers or request state. until is when IdleTimeout closes it.
func (p *parker) add(c *conn, until int64) int {
	if p == nil {
		return parkNo
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return parkNo
	}
	if !c.state.CompareAndSwap(stateIdle, stateParked) {
		return parkClosed // Shutdown closed its socket
	}
	p.next++
	id := p.next
	c.parkID, c.idleUntil = id, until
	ev := syscall.EpollEvent{
		Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT,
		Fd:     int32(uint32(id)),
		Pad:    int32(uint32(id >> 32)),
	}
	var err error
	cerr := c.sys.Control(func(fd uintptr) {
		err = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
	})
	if cerr != nil || err != nil {
		// Closed meanwhile by Close (which then owns it), or refused:
		// the goroutine keeps it (and finds the close, if any).
		if c.state.CompareAndSwap(stateParked, stateIdle) {
			return parkNo
		}
		return parkDone
	}
	// An event may come at once (the socket became readable since the
	// peek): the waker must wait for the lock, so c is registered first.
	c.inEpoll = true
	p.regs[id] = c
	return parkDone
}

// remove takes c's socket out of the epoll set, if it is in it; c's
// owner calls it before closing c or serving it again.
func (p *parker) remove(c *conn) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.regs, c.parkID)
	if !c.inEpoll {
		return
	}
	c.inEpoll = false
	if p.closed {
		return // the set is gone with everything in it
	}
	// Control fails if c is closed already (Close), and the kernel has
	// then taken the socket out of the set itself; else it holds the
	// descriptor open while the set forgets it.
	c.sys.Control(func(fd uintptr) {
		syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(fd), nil)
	})
}

// take returns the connection registered as id and forgets it; nil if
// none (it was closed, or the event is late).
func (p *parker) take(id uint64) *conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.regs[id]
	delete(p.regs, id)
	return c
}

// count is how many connections are parked (tests).
func (p *parker) count() int {
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.regs)
}

// wake makes run look at stop now.
func (p *parker) wake() {
	if p != nil {
		syscall.Write(p.pipe[1], []byte{0})
	}
}

// run waits for parked sockets to become readable and serves their
// connections on, and closes those idle too long, until stop closes; it
// then closes the connections still parked.
func (p *parker) run(stop <-chan struct{}) {
	events := make([]syscall.EpollEvent, 128)
	var lastSweep time.Time
	for {
		select {
		case <-stop:
			p.end()
			return
		default:
		}
		// A second at most, so the idle sweep runs without a timer per
		// connection.
		n, err := syscall.EpollWait(p.epfd, events, 1000)
		if err != nil && !errors.Is(err, syscall.EINTR) {
			p.s.log().Error("waiting for idle connections", "err", err)
			n = 0
			time.Sleep(time.Second) // not a spin, whatever went wrong
		}
		for _, ev := range events[:max(n, 0)] {
			id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			if id == 0 {
				var b [16]byte
				syscall.Read(p.pipe[0], b[:])
				continue
			}
			if c := p.take(id); c != nil && c.state.CompareAndSwap(stateParked, stateIdle) {
				go c.resume()
			}
		}
		if p.s.IdleTimeout > 0 {
			if now := time.Now(); now.Sub(lastSweep) >= time.Second {
				lastSweep = now
				p.sweep(now.UnixNano())
			}
		}
	}
}

// sweep closes the connections parked past their IdleTimeout.
func (p *parker) sweep(now int64) {
	var old []*conn
	p.mu.Lock()
	for _, c := range p.regs {
		if c.idleUntil != 0 && c.idleUntil <= now {
			old = append(old, c)
		}
	}
	p.mu.Unlock()
	for _, c := range old {
		if c.state.CompareAndSwap(stateParked, stateClosed) {
			c.closeParked(false)
		}
	}
}

// end closes the connections still parked and the epoll set; nothing
// parks after it.
func (p *parker) end() {
	p.mu.Lock()
	p.closed = true
	left := make([]*conn, 0, len(p.regs))
	for _, c := range p.regs {
		left = append(left, c)
	}
	p.mu.Unlock()
	for _, c := range left {
		if c.state.CompareAndSwap(stateParked, stateClosed) {
			c.closeParked(false)
		}
	}
	syscall.Close(p.epfd)
	syscall.Close(p.pipe[0])
	syscall.Close(p.pipe[1])
}
