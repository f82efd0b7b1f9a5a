package keystore

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func init() { scryptLogN = 10 } // fast tests; the file records the cost it used

func TestRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "esgate.keystore")
	s, err := Create(p, []byte("pass-1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set("ES_PWD", "s3cr3t value with spaces\n"); err != nil {
		t.Fatal(err)
	}
	s.Set("api.key", "id:key")
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	raw, _ := os.ReadFile(p)
	if strings.Contains(string(raw), "s3cr3t") || strings.Contains(string(raw), "ES_PWD") {
		t.Error("plaintext in the file")
	}
	s2, err := Open(p, []byte("pass-1"))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := s2.Get("ES_PWD"); !ok || v != "s3cr3t value with spaces\n" {
		t.Errorf("got %q %v", v, ok)
	}
	if g := strings.Join(s2.Names(), ","); g != "ES_PWD,api.key" {
		t.Errorf("names %s", g)
	}
	if !s2.Remove("api.key") || s2.Remove("api.key") {
		t.Error("remove")
	}
	if _, err := Create(p, nil); !errors.Is(err, ErrExists) {
		t.Errorf("create over existing: %v", err)
	}
}

func TestWrongPasswordAndTampering(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ks")
	s, _ := Create(p, []byte("right"))
	s.Set("A", "b")
	s.Save()
	if _, err := Open(p, []byte("wrong")); !errors.Is(err, ErrWrongPassword) {
		t.Errorf("wrong password: %v", err)
	}
	if _, err := Open(p, nil); err == nil || !strings.Contains(err.Error(), "ESGATE_KEYSTORE_PASS") {
		t.Errorf("no password: %v", err)
	}
	raw, _ := os.ReadFile(p)
	// Flip one bit at every position past the magic: each must be caught.
	for i := len(magic); i < len(raw); i++ {
		bad := append([]byte{}, raw...)
		bad[i] ^= 0x01
		os.WriteFile(p, bad, 0o600)
		if _, err := Open(p, []byte("right")); err == nil {
			t.Fatalf("a flipped bit at offset %d went unnoticed", i)
		}
	}
	os.WriteFile(p, raw[:len(raw)-1], 0o600)
	if _, err := Open(p, []byte("right")); err == nil {
		t.Error("truncated file opened")
	}
	os.WriteFile(p, []byte("hosts: x\n"), 0o600)
	if _, err := Open(p, []byte("right")); !errors.Is(err, ErrNotKeystore) {
		t.Errorf("not a keystore: %v", err)
	}
}

func TestUnprotected(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ks")
	s, _ := Create(p, nil)
	s.Set("K", "v")
	s.Save()
	s2, err := Open(p, nil)
	if err != nil || s2.Protected() {
		t.Fatal(err)
	}
	if v, _ := s2.Get("K"); v != "v" {
		t.Errorf("got %q", v)
	}
	if err := s2.Set("1bad", "x"); !errors.Is(err, ErrBadName) {
		t.Errorf("bad name: %v", err)
	}
}
