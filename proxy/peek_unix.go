//go:build unix

package proxy

import (
	"errors"
	"net"
	"syscall"
)

// hasInput reports whether anything is waiting on an idle connection:
// bytes, the host's close (FIN or RST), or an error. It is one
// non-blocking recv(MSG_PEEK) on the TCP socket below the TLS layer, so it
// neither consumes nor waits.
func hasInput(c net.Conn) bool {
	uc, ok := c.(upstreamConn)
	if !ok {
		return false
	}
	sc, ok := uc.raw.Conn.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	input := false
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// n == 0 with no error is the host's FIN.
		input = n > 0 || (n == 0 && rerr == nil) || (rerr != nil && !errors.Is(rerr, syscall.EAGAIN))
		return true
	})
	return input || err != nil
}
