//go:build !linux

package h1

// parker parks idle connections on Linux only; elsewhere an idle
// connection waits in its goroutine (waitIdle), without its buffers.
type parker struct{}

const (
	parkNo = iota
	parkDone
	parkClosed
)

func newParker(*Server) *parker        { return nil }
func (p *parker) add(*conn, int64) int { return parkNo }
func (p *parker) remove(*conn)         {}
func (p *parker) count() int           { return 0 }
func (p *parker) wake()                {}
func (p *parker) run(<-chan struct{})  {}
