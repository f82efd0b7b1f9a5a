//go:build unix

package proxy

import (
	"net"
	"syscall"
	"unsafe"
)

// hasInput reports whether anything is waiting on an idle connection:
// bytes, the host's close (FIN or RST), or an error. It is one
// non-blocking recv(MSG_PEEK) on the TCP socket below the TLS layer, so it
// neither consumes nor waits.
func hasInput(c net.Conn) bool {
	if pc, ok := c.(pendingInputer); ok { // test connections
		return pc.pendingInput()
	}
	uc, ok := c.(upstreamConn)
	if !ok || uc.raw.sys == nil {
		return false
	}
	p := &uc.raw.peek
	if err := uc.raw.sys.Read(p.fn); err != nil {
		return true
	}
	return p.input
}

// peeker is a connection's probe, built once so that probing allocates
// nothing.
type peeker struct {
	fn    func(fd uintptr) bool
	buf   [1]byte
	input bool
}

// initPeek prepares the probe of a freshly dialed TCP connection.
func (c *coalescingConn) initPeek() {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	p := &c.peek
	p.fn = func(fd uintptr) bool {
		_, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&p.buf[0])), 1,
			syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
		// Bytes (n > 0), the host's FIN (n == 0) and errors are all input;
		// only EAGAIN is a quiet connection.
		p.input = e != syscall.EAGAIN
		return true
	}
	c.sys = rc
}

// pendingInputer is a connection that knows whether input is waiting
// without a socket to probe (the fuzz test's).
type pendingInputer interface{ pendingInput() bool }
