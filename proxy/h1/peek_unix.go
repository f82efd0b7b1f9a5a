//go:build unix

package h1

import (
	"errors"
	"syscall"
)

// peekReadable reports whether the socket has bytes or an end to read,
// without reading them; false (nothing yet) makes the poller
// wait for the socket, honouring its deadline and Close.
func (c *conn) peekReadable(fd uintptr) bool {
	var b [1]byte
	_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return !errors.Is(err, syscall.EAGAIN)
}
