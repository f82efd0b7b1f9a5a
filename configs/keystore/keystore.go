package keystore

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/scrypt"
)

// File layout (all integers big-endian):
//
//	magic "ESGATEKS" | version 1 | flags (bit 0: password-protected)
//	| scrypt log2(N) | r | p | salt (16) | nonce (24) | sealed JSON
//
// The header up to the nonce is the AEAD's additional data, so changing
// any byte of the file makes Open fail.
const (
	magic      = "ESGATEKS"
	version    = 1
	flagPasswd = 1
	saltLen    = 16
	headerLen  = len(magic) + 1 + 1 + 1 + 4 + 4 + saltLen
)

// Default scrypt cost: N=2^15, r=8, p=1 (32 MiB, ~0.1 s), the parameters
// scrypt's authors recommend for interactive use.
var (
	scryptLogN byte   = 15
	scryptR    uint32 = 8
	scryptP    uint32 = 1
)

// Errors.
var (
	ErrWrongPassword = errors.New("cannot open keystore: wrong password, or the file was modified")
	ErrNotKeystore   = errors.New("not an esgate keystore")
	ErrExists        = errors.New("keystore already exists")
	ErrBadName       = errors.New("setting names are letters, digits, '_', '.' and '-', starting with a letter or '_'")
)

var nameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// Store is an opened keystore.
type Store struct {
	path      string
	password  []byte
	protected bool
	values    map[string]string
}

// Create makes a new, empty keystore at path with mode 0600. An empty
// password makes an unprotected keystore.
func Create(path string, password []byte) (*Store, error) {
	if _, err := os.Stat(path); err == nil {
		return nil, fmt.Errorf("%w: %s", ErrExists, path)
	}
	s := &Store{path: path, password: password, protected: len(password) > 0, values: map[string]string{}}
	return s, s.Save()
}

// Open reads and decrypts the keystore at path.
func Open(path string, password []byte) (*Store, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading keystore: %w", err)
	}
	if len(b) < headerLen+chacha20poly1305.NonceSizeX+chacha20poly1305.Overhead || string(b[:len(magic)]) != magic {
		return nil, fmt.Errorf("%s: %w", path, ErrNotKeystore)
	}
	h := b[len(magic):]
	if h[0] != version {
		return nil, fmt.Errorf("%s: unsupported keystore version %d", path, h[0])
	}
	protected := h[1]&flagPasswd != 0
	if protected && len(password) == 0 {
		return nil, fmt.Errorf("keystore %s is password-protected: set ESGATE_KEYSTORE_PASS", path)
	}
	if !protected {
		password = nil
	}
	logN, r, p := h[2], binary.BigEndian.Uint32(h[3:7]), binary.BigEndian.Uint32(h[7:11])
	salt := h[11 : 11+saltLen]
	if logN < 10 || logN > 22 || r == 0 || r > 32 || p == 0 || p > 16 {
		return nil, fmt.Errorf("%s: %w (bad key derivation parameters)", path, ErrNotKeystore)
	}
	key, err := scrypt.Key(password, salt, 1<<logN, int(r), int(p), chacha20poly1305.KeySize)
	if err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, err
	}
	nonce := b[headerLen : headerLen+chacha20poly1305.NonceSizeX]
	plain, err := aead.Open(nil, nonce, b[headerLen+chacha20poly1305.NonceSizeX:], b[:headerLen])
	if err != nil {
		return nil, ErrWrongPassword
	}
	s := &Store{path: path, password: password, protected: protected, values: map[string]string{}}
	if err := json.Unmarshal(plain, &s.values); err != nil {
		return nil, fmt.Errorf("%s: %w", path, ErrNotKeystore)
	}
	return s, nil
}

// Save writes the keystore atomically with mode 0600, with a fresh salt
// and nonce.
func (s *Store) Save() error {
	plain, err := json.Marshal(s.values)
	if err != nil {
		return err
	}
	var hdr bytes.Buffer
	hdr.WriteString(magic)
	hdr.WriteByte(version)
	var flags byte
	if s.protected {
		flags |= flagPasswd
	}
	hdr.WriteByte(flags)
	hdr.WriteByte(scryptLogN)
	binary.Write(&hdr, binary.BigEndian, scryptR)
	binary.Write(&hdr, binary.BigEndian, scryptP)
	salt := make([]byte, saltLen)
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	if _, err := rand.Read(salt); err != nil {
		return err
	}
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	hdr.Write(salt)
	key, err := scrypt.Key(s.password, salt, 1<<scryptLogN, int(scryptR), int(scryptP), chacha20poly1305.KeySize)
	if err != nil {
		return err
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return err
	}
	out := append(append([]byte{}, hdr.Bytes()...), nonce...)
	out = aead.Seal(out, nonce, plain, hdr.Bytes())
	tmp, err := os.CreateTemp(filepath.Dir(s.path), ".esgate-keystore-*")
	if err != nil {
		return fmt.Errorf("writing keystore: %w", err)
	}
	defer os.Remove(tmp.Name())
	err = tmp.Chmod(0o600)
	if err == nil {
		_, err = tmp.Write(out)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing keystore: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.path); err != nil {
		return fmt.Errorf("writing keystore: %w", err)
	}
	return nil
}

// Protected reports whether the keystore has a password.
func (s *Store) Protected() bool { return s.protected }

// Get returns a value.
func (s *Store) Get(name string) (string, bool) {
	v, ok := s.values[name]
	return v, ok
}

// Set adds or replaces a value (call Save to persist).
func (s *Store) Set(name, value string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%q: %w", name, ErrBadName)
	}
	s.values[name] = value
	return nil
}

// Remove deletes a value and reports whether it existed.
func (s *Store) Remove(name string) bool {
	_, ok := s.values[name]
	delete(s.values, name)
	return ok
}

// Names lists the setting names, sorted.
func (s *Store) Names() []string {
	out := make([]string, 0, len(s.values))
	for k := range s.values {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Exists reports whether a keystore file is at path.
func Exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}
