package bootstrap

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"go.yaml.in/yaml/v3"
)

// KeySecret is a minted API key.
type KeySecret struct {
	ID         string `yaml:"id"`
	Name       string `yaml:"name"`
	Encoded    string `yaml:"encoded"`
	Expiration int64  `yaml:"expiration,omitempty"` // ms since the epoch
}

// Secrets is bootstrap's record of what it minted.
type Secrets struct {
	Passwords map[string]string    `yaml:"passwords,omitempty"`
	APIKeys   map[string]KeySecret `yaml:"api_keys,omitempty"`
}

// Connection is what the secrets file repeats from bootstrap's own flags so
// that `esgate serve --config <secrets file>` works on its own.
type Connection struct {
	Hosts                     []string
	CloudID                   string
	SSLCertificateAuthorities []string
	CATrustedFingerprint      string
	SSLVerificationMode       string
}

// ReadSecrets reads the bootstrap record of a secrets file; a missing file
// is an empty record.
func ReadSecrets(path string) (*Secrets, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Secrets{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading secrets file: %w", err)
	}
	var doc struct {
		Bootstrap Secrets `yaml:"bootstrap"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("parsing secrets file %s: %w", path, err)
	}
	return &doc.Bootstrap, nil
}

// listenPorts gives each key's route a port, so that one secrets file
// serves publishing, monitoring and management side by side.
// (9201 is the status listener's default.)
var listenPorts = map[string]int{"publish": 9200, "monitoring": 9202, "management": 9203, "read": 9204}

// routePolicy is the request policy of each key's route: the credential
// is lent only for what the key is for (see package policy).
var routePolicy = map[string]string{"publish": "ingest", "read": "read", "monitoring": "monitoring", "management": "management"}

// WriteSecrets writes the secrets file atomically with mode 0600: a config
// esgate serve reads directly (one route per API key) plus the bootstrap
// record, which serve ignores.
func WriteSecrets(path string, s *Secrets, conn Connection, now time.Time) error {
	type route struct {
		Name   string `yaml:"name"`
		Listen string `yaml:"listen"`
		APIKey string `yaml:"api_key"`
		Policy string `yaml:"policy"`
	}
	doc := struct {
		Hosts                     []string `yaml:"hosts,omitempty"`
		CloudID                   string   `yaml:"cloud_id,omitempty"`
		SSLCertificateAuthorities []string `yaml:"ssl_certificate_authorities,omitempty"`
		CATrustedFingerprint      string   `yaml:"ca_trusted_fingerprint,omitempty"`
		SSLVerificationMode       string   `yaml:"ssl_verification_mode,omitempty"`
		Routes                    []route  `yaml:"routes,omitempty"`
		Bootstrap                 *Secrets `yaml:"bootstrap"`
	}{Hosts: conn.Hosts, CloudID: conn.CloudID, SSLCertificateAuthorities: conn.SSLCertificateAuthorities,
		CATrustedFingerprint: conn.CATrustedFingerprint, SSLVerificationMode: conn.SSLVerificationMode, Bootstrap: s}
	purposes := make([]string, 0, len(s.APIKeys))
	for p := range s.APIKeys {
		purposes = append(purposes, p)
	}
	sort.Slice(purposes, func(i, j int) bool { return listenPorts[purposes[i]] < listenPorts[purposes[j]] })
	for _, p := range purposes {
		doc.Routes = append(doc.Routes, route{Name: p, Listen: fmt.Sprintf("127.0.0.1:%d", listenPorts[p]), APIKey: s.APIKeys[p].Encoded,
			Policy: routePolicy[p]})
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# Written by esgate bootstrap at %s. Keep it secret (mode 0600).\n", now.UTC().Format(time.RFC3339))
	fmt.Fprintf(&buf, "# Serve with: esgate serve --config %s\n", filepath.Base(path))
	fmt.Fprintf(&buf, "# Each API key gets a route on 127.0.0.1; \"bootstrap\" is bootstrap's record, which serve ignores.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".esgate-secrets-*")
	if err != nil {
		return fmt.Errorf("writing secrets file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("writing secrets file: %w", err)
	}
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("writing secrets file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("writing secrets file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing secrets file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing secrets file: %w", err)
	}
	return nil
}
