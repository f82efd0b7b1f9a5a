package main

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// logBuffer gathers serve's log lines and writes them to w at most every
// interval, when size bytes are waiting, or on Flush. A line per request
// (the access log) written on its own cost a write system call per
// request: a tenth of esgate's CPU on Logstash-sized bulks. Records at
// warn and above are written at once (flushHandler); info lines, the
// access log among them, may lag by up to interval. run flushes before it
// returns.
type logBuffer struct {
	w        io.Writer
	interval time.Duration
	size     int
	timer    *time.Timer

	mu     sync.Mutex // guards the fields below; never held across a write to w
	buf    []byte
	spare  []byte
	armed  bool
	closed bool

	wmu sync.Mutex // keeps flushes to w in order
}

func newLogBuffer(w io.Writer, interval time.Duration, size int) *logBuffer {
	b := &logBuffer{w: w, interval: interval, size: size}
	b.timer = time.AfterFunc(time.Hour, func() { b.Flush() })
	b.timer.Stop()
	return b
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return b.w.Write(p)
	}
	b.buf = append(b.buf, p...)
	full := len(b.buf) >= b.size
	if !full && !b.armed {
		b.armed = true
		b.timer.Reset(b.interval)
	}
	b.mu.Unlock()
	if full {
		b.Flush()
	}
	return len(p), nil
}

// Flush writes what is waiting.
func (b *logBuffer) Flush() error {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	b.mu.Lock()
	out := b.buf
	b.buf, b.spare = b.spare[:0], nil
	b.armed = false
	b.mu.Unlock()
	var err error
	if len(out) > 0 {
		_, err = b.w.Write(out)
	}
	b.mu.Lock()
	if b.spare == nil && cap(out) <= 1<<20 {
		b.spare = out[:0]
	}
	b.mu.Unlock()
	return err
}

// Close flushes and makes later writes go straight to w.
func (b *logBuffer) Close() error {
	b.timer.Stop()
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return b.Flush()
}

// flushHandler flushes its logBuffer after every record at warn or above,
// so that warnings and errors are never held back.
type flushHandler struct {
	slog.Handler
	b *logBuffer
	// stock is set while Handler is slog's own text or JSON handler
	// without attributes or groups, so that accessLogger may write the
	// access line for it (accessHandler).
	stock *stockHandler
}

// stockHandler is how the stock handler writes: JSON or text.
type stockHandler struct{ json bool }

func (h flushHandler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		h.b.Flush()
	}
	return err
}

func (h flushHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return flushHandler{Handler: h.Handler.WithAttrs(as), b: h.b}
}

func (h flushHandler) WithGroup(name string) slog.Handler {
	return flushHandler{Handler: h.Handler.WithGroup(name), b: h.b}
}
