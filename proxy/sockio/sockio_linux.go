package sockio

import (
	"io"
	"net"
	"sync"
	"syscall"
	"unsafe"
)

// Wrap returns c with raw-syscall Read and Write, or c itself when it has
// no socket (syscall.Conn). Deadlines, Close and addresses are c's: the
// raw calls wait in c's own poller entry, so deadlines and Close wake them
// as they wake c's own calls.
func Wrap(c net.Conn) net.Conn {
	if _, ok := c.(*Conn); ok {
		return c
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return c
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return c
	}
	w := &Conn{Conn: c, rc: rc}
	w.r.fn = w.r.read
	w.w.fn = w.w.write
	return w
}

// Conn is a socket connection with raw-syscall reads and writes.
type Conn struct {
	net.Conn
	rc syscall.RawConn
	r  op
	w  op
}

// op is one direction's state. The poller calls fn, built once, so that a
// read or write allocates nothing; mu keeps concurrent callers of the
// same direction apart (net.Conn allows them).
type op struct {
	mu  sync.Mutex
	fn  func(fd uintptr) bool
	buf []byte
	n   int
	err syscall.Errno
}

// read makes one read(2); false (EAGAIN) asks the poller to wait.
func (o *op) read(fd uintptr) bool {
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&o.buf[0])), uintptr(len(o.buf)))
		switch e {
		case 0:
			o.n = int(n)
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		o.err = e
		return true
	}
}

// write sends all of buf with sendto(2) (MSG_NOSIGNAL: a closed peer is
// an EPIPE error, not a signal), waiting in the poller when the socket's
// buffer is full.
func (o *op) write(fd uintptr) bool {
	for o.n < len(o.buf) {
		n, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&o.buf[o.n])), uintptr(len(o.buf)-o.n),
			syscall.MSG_NOSIGNAL, 0, 0)
		switch e {
		case 0:
			o.n += int(n)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			o.err = e
			return true
		}
	}
	return true
}

func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, err := c.call(&c.r, p, false)
	switch {
	case err != nil:
		return 0, c.opError("read", err)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

func (c *Conn) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, err := c.call(&c.w, p, true)
	if err != nil {
		return n, c.opError("write", err)
	}
	return n, nil
}

// call runs o's system call on p through the poller; it returns the bytes
// moved and the poller's error or the call's errno.
func (c *Conn) call(o *op, p []byte, write bool) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf, o.n, o.err = p, 0, 0
	var err error
	if write {
		err = c.rc.Write(o.fn)
	} else {
		err = c.rc.Read(o.fn)
	}
	n, errno := o.n, o.err
	o.buf = nil
	if err == nil && errno != 0 {
		err = errno
	}
	return n, err
}

// opError wraps err as package net does, so that errors.Is finds
// os.ErrDeadlineExceeded, net.ErrClosed and the errno through it. The
// raw calls' own errors (deadline, closed) come wrapped already, and are
// renamed rather than wrapped twice: a deadline in the past is how esgate
// probes a pooled connection after every answer.
func (c *Conn) opError(op string, err error) error {
	if oe, ok := err.(*net.OpError); ok {
		oe.Op = op
		return oe
	}
	return &net.OpError{Op: op, Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// SyscallConn gives the socket itself (for non-blocking probes).
func (c *Conn) SyscallConn() (syscall.RawConn, error) { return c.rc, nil }

// CloseWrite half-closes the connection when the socket can.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

// Unwrap returns the wrapped connection.
func (c *Conn) Unwrap() net.Conn { return c.Conn }

// WrapListener returns l with every accepted connection wrapped.
func WrapListener(l net.Listener) net.Listener { return listener{l} }

type listener struct{ net.Listener }

func (l listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return Wrap(c), nil
}
