package main

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// signalWriter records writes and signals each one.
type signalWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	wrote chan struct{}
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.buf.Write(p)
	w.mu.Unlock()
	select {
	case w.wrote <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (w *signalWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func TestLogBuffer(t *testing.T) {
	// The interval's flush, alone.
	tw := &signalWriter{wrote: make(chan struct{}, 1)}
	tb := newLogBuffer(tw, 10*time.Millisecond, 4096)
	slog.New(slog.NewTextHandler(tb, nil)).Info("request", "path", "/_bulk")
	select {
	case <-tw.wrote:
	case <-time.After(10 * time.Second):
		t.Fatal("the info line was never flushed")
	}
	if !strings.Contains(tw.String(), "path=/_bulk") {
		t.Fatalf("flushed %q", tw.String())
	}

	// The rest with an interval that never comes.
	w := &signalWriter{wrote: make(chan struct{}, 1)}
	lb := newLogBuffer(w, time.Hour, 4096)
	log := slog.New(flushHandler{Handler: slog.NewTextHandler(lb, nil), b: lb})
	log.Info("request", "path", "/_bulk")
	if got := w.String(); got != "" {
		t.Fatalf("an info line was written at once (%q): it must wait in the buffer", got)
	}
	log.Info("second")
	log.Warn("host marked dead")
	if got := w.String(); !strings.Contains(got, "msg=second") || !strings.Contains(got, "host marked dead") {
		t.Fatalf("a warning must flush itself and what came before it; written: %q", got)
	}

	big := strings.Repeat("x", 5000)
	log.Info("big", "v", big)
	if !strings.Contains(w.String(), big) {
		t.Fatal("a full buffer must be written at once")
	}

	log.Info("last")
	lb.Close()
	if !strings.Contains(w.String(), "msg=last") {
		t.Fatal("Close must flush")
	}
	log.Info("after close")
	if !strings.Contains(w.String(), "after close") {
		t.Fatal("after Close, lines go straight through")
	}
}
