package esserver

import (
	"path/filepath"
	"testing"
)

// StartT starts a server for a test or benchmark, closes it when tb ends,
// and writes its CA certificate to a temporary file whose path it returns.
// Its passwords are hashed with bcrypt4 unless opts.PasswordHashing says
// otherwise: nothing a client sees depends on the cost, and bcrypt10 takes
// close to a second of CPU a hash under -race, and minutes on a busy machine.
func StartT(tb testing.TB, opts Options) (*Server, string) {
	tb.Helper()
	if opts.PasswordHashing == "" {
		opts.PasswordHashing = "bcrypt4"
	}
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
