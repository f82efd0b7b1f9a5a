package esserver

import (
	"io"
	"log"
	"net/http"
	"strings"
	"time"
)

// Fault is an injected misbehaviour, applied to authenticated requests
// whose path contains PathContains (all requests when empty).
type Fault struct {
	// PathContains selects requests, e.g. "_bulk".
	PathContains string
	// Count is how many requests to affect (0: every request until cleared).
	Count int
	// Delay is waited before answering (after reading the body).
	Delay time.Duration
	// Status answers the whole request with this status: 429 (indexing
	// pressure) and 503 (cluster block) use ES's bodies; others a generic one.
	Status int
	// CloseMidResponse sends the status line, headers and part of the body,
	// then closes the connection.
	CloseMidResponse bool
	// ItemStatus fails every ItemEvery-th bulk item with this status: 429
	// (es_rejected_execution_exception) or 403 (security_exception).
	ItemStatus int
	ItemEvery  int

	used int
}

// AddFault installs f. Faults are applied in the order added.
func (s *Server) AddFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// takeFault returns the first fault that matches r and counts its use.
func (s *Server) takeFault(r *http.Request, itemLevel bool) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if (f.ItemStatus != 0) != itemLevel || !strings.Contains(r.URL.Path, f.PathContains) {
			continue
		}
		f.used++
		if f.Count > 0 && f.used >= f.Count {
			s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
		}
		c := *f
		return &c
	}
	return nil
}

// applyFault answers r according to a request-level fault and reports
// whether it did.
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request) bool {
	f := s.takeFault(r, false)
	if f == nil {
		return false
	}
	if f.Delay > 0 {
		// Read the body first, as a busy node would, then wait.
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		select {
		case <-time.After(f.Delay):
		case <-r.Context().Done():
			return true
		}
	}
	switch {
	case f.CloseMidResponse:
		io.Copy(io.Discard, r.Body)
		w.Header().Set("X-elastic-product", "Elasticsearch")
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(200)
		w.Write([]byte(`{"took":1,"errors":false,"items":[`))
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
			}
		}
		return true
	case f.Status == 429:
		io.Copy(io.Discard, r.Body)
		reason := "rejected execution of coordinating operation [coordinating_and_primary_bytes=95396333, replica_bytes=0, all_bytes=95396333, coordinating_operation_bytes=22949230, max_coordinating_and_primary_bytes=107374182]"
		s.writeError(w, r, 429, "es_rejected_execution_exception", reason)
		return true
	case f.Status == 503:
		io.Copy(io.Discard, r.Body)
		s.writeError(w, r, 503, "cluster_block_exception", "blocked by: [SERVICE_UNAVAILABLE/1/state not recovered / initialized];")
		return true
	case f.Status != 0:
		io.Copy(io.Discard, r.Body)
		s.writeError(w, r, f.Status, "exception", "injected fault")
		return true
	}
	return false // delay only: handle normally
}

func nullLogger() *log.Logger { return log.New(io.Discard, "", 0) }
