//go:build unix

package h1

import (
	"syscall"
	"unsafe"
)

// peekReadable reports whether the socket has bytes or an end to read,
// without reading them; false (nothing yet) makes the poller
// wait for the socket, honouring its deadline and Close.
//
// The peek is a raw system call: with MSG_DONTWAIT it never waits, and
// through the scheduler's syscall path it would wake the runtime's
// monitor once for every request that found esgate idle (the monitor
// sleeps while no processor runs, and entering a system call wakes it,
// at 20 µs intervals for the next millisecond).
func (c *conn) peekReadable(fd uintptr) bool {
	var b [1]byte
	_, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	return e != syscall.EAGAIN
}
