// Package sockio owns how esgate reads and writes its sockets on Linux:
// Wrap returns a connection whose Read and Write are made as raw system
// calls on the non-blocking socket, waiting in the runtime's poller only
// when the socket would block.
//
// Why: Go's net package enters every read and write through the
// scheduler's syscall path. On loopback a write of a Logstash batch
// (16 KB) runs the receiver's TCP stack too and takes tens of
// microseconds; the runtime's monitor then hands the blocked thread's
// processor to another thread, and the two trade places again when the
// call returns. On the tiny-bulk benchmark those hand-offs (futex and
// nanosleep wake-ups) were a fifth of esgate's CPU. A non-blocking socket
// call never waits, so making it raw is safe: it is CPU work, like
// encrypting the same bytes.
//
// Elsewhere, and for connections that are not sockets, Wrap returns the
// connection unchanged.
package sockio
