//go:build unix

package h1

import (
	"errors"
	"syscall"
)

// clientGone peeks at the socket without blocking: the client's FIN or
// reset, or an error, means it went away. Unread request bytes do not.
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

// peekReadable reports whether the socket has bytes or an end to read,
// without reading them; false (nothing yet) makes the poller
// wait for the socket, honouring its deadline and Close.
func (c *conn) peekReadable(fd uintptr) bool {
	var b [1]byte
	_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return !errors.Is(err, syscall.EAGAIN)
}
