package token

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"
)

// fileSource reads a JWT from a file that something else rotates. The
// path is opened anew every time, so that the kubelet's swap of the
// ..data symlink (an atomic rename) is seen.
type fileSource struct {
	path string
	now  func() time.Time
}

func (s *fileSource) describe() string { return "bearer_token_file " + s.path }

func (s *fileSource) fetch(context.Context) (Token, error) {
	return ReadJWTFile(s.path, s.now)
}

// ReadJWTFile reads a token file and its claims. The error is ErrNotJWT
// (wrapped) when the file holds something else, or one without exp.
func ReadJWTFile(path string, now func() time.Time) (Token, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Token{}, fmt.Errorf("bearer_token_file: %w", err)
	}
	v := strings.TrimSpace(string(b))
	c, err := ParseClaims(v)
	if err != nil {
		return Token{}, fmt.Errorf("bearer_token_file %s: %w", path, err)
	}
	if c.Expiry.IsZero() {
		return Token{}, fmt.Errorf("bearer_token_file %s: the JWT has no exp: %w", path, ErrNotJWT)
	}
	issued := c.IssuedAt
	if issued.IsZero() || !issued.Before(c.Expiry) {
		issued = now()
	}
	return Token{Value: v, Issued: issued, Expiry: c.Expiry, Subject: c.Subject}, nil
}
