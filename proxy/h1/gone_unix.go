//go:build unix && !linux

package h1

import (
	"errors"
	"syscall"
)

// clientGone peeks at the socket without blocking: the client's FIN or
// reset, or an error, means it went away. Unread bytes hide a FIN here
// (Linux asks poll instead): a TLS client's close_notify record does.
func (c *conn) clientGone() bool {
	if c.sys == nil {
		return false
	}
	gone := false
	var b [1]byte
	c.sys.Control(func(fd uintptr) {
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		gone = (n == 0 && err == nil) || (err != nil && !errors.Is(err, syscall.EAGAIN))
	})
	return gone
}
