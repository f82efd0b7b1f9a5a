//go:build !linux

package sockio

import "net"

// Wrap returns c: the raw calls are Linux's.
func Wrap(c net.Conn) net.Conn { return c }

// WrapListener returns l.
func WrapListener(l net.Listener) net.Listener { return l }
