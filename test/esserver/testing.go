package esserver

import (
	"path/filepath"
	"testing"
)

// StartT starts a server for a test or benchmark, closes it when tb ends,
// and writes its CA certificate to a temporary file whose path it returns.
func StartT(tb testing.TB, opts Options) (*Server, string) {
	tb.Helper()
	s, err := Start(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	ca := filepath.Join(tb.TempDir(), "http_ca.crt")
	if err := s.WriteCA(ca); err != nil {
		tb.Fatal(err)
	}
	return s, ca
}
