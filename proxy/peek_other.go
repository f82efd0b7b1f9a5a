//go:build !unix

package proxy

import "net"

// hasInput cannot peek without blocking here; a connection the host closed
// is then found when the request fails, and retried when that is safe.
func hasInput(net.Conn) bool { return false }

type peeker struct{}

func (c *coalescingConn) initPeek() {}
