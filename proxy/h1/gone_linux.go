package h1

import (
	"syscall"
	"unsafe"
)

// poll(2)'s events on Linux: the peer shut down its writing half
// (POLLRDHUP), both halves are down (POLLHUP), an error is pending
// (POLLERR), the descriptor is not open (POLLNVAL).
const (
	pollRDHUP = 0x2000
	pollHUP   = 0x10
	pollERR   = 0x8
	pollNVAL  = 0x20
)

// pollFd is struct pollfd.
type pollFd struct {
	fd      int32
	events  int16
	revents int16
}

// clientGone asks the socket, without blocking, whether the client shut
// down its end (poll's POLLRDHUP), was reset or failed. Unread bytes do
// not hide it: a TLS client that leaves sends its close_notify record,
// then its FIN, and a peek would see only the record.
func (c *conn) clientGone() bool {
	if c.sys == nil {
		return false
	}
	gone := false
	c.sys.Control(func(fd uintptr) {
		p := pollFd{fd: int32(fd), events: pollRDHUP}
		var ts syscall.Timespec // zero: do not wait, so the call is made raw (see peekReadable)
		n, _, errno := syscall.RawSyscall6(syscall.SYS_PPOLL, uintptr(unsafe.Pointer(&p)), 1, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
		if errno != 0 || n != 1 {
			return
		}
		gone = p.revents&(pollRDHUP|pollHUP|pollERR|pollNVAL) != 0
	})
	return gone
}
