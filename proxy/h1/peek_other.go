//go:build !unix

package h1

// clientGone cannot peek without blocking here: a client that went away
// is found when its answer is written.
func (c *conn) clientGone() bool { return false }

// peekReadable cannot tell without reading here: waitIdle returns at
// once and an idle connection keeps its buffers.
func (c *conn) peekReadable(fd uintptr) bool { return true }
