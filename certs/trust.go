package certs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"
)

// VerificationMode says how much of the presented chain is checked, with
// the values of Logstash's ssl_verification_mode.
type VerificationMode string

const (
	// VerifyFull checks the chain, the validity dates and the host name. The default.
	VerifyFull VerificationMode = "full"
	// VerifyCertificate checks the chain and dates but not the host name.
	VerifyCertificate VerificationMode = "certificate"
	// VerifyNone checks nothing. Anyone on the path can read the credentials.
	VerifyNone VerificationMode = "none"
)

// Options says where a route's TLS material comes from. Paths are read by
// Load and again by every Reload.
type Options struct {
	// CAFiles are PEM files or bundles of trusted CAs (ssl_certificate_authorities).
	// With neither CAFiles nor Fingerprints the system roots are used.
	CAFiles []string
	// Fingerprints are SHA-256 digests of CA certificates (ca_trusted_fingerprint):
	// a presented certificate with one of them becomes a trust anchor.
	Fingerprints [][32]byte
	// Mode is the ssl_verification_mode (default full).
	Mode VerificationMode
	// ServerName overrides the name sent in SNI and checked in full mode
	// (default: the host of each upstream URL).
	ServerName string
	// MinVersion and MaxVersion bound the TLS version (default TLS 1.2 to 1.3).
	MinVersion, MaxVersion uint16
	// CipherSuites restricts TLS 1.2 suites (default: Go's secure list).
	CipherSuites []uint16
	// CertFile, KeyFile and KeyPassphrase name the PKI client certificate.
	CertFile, KeyFile, KeyPassphrase string
	// KeystorePath, KeystorePassword and KeystoreType (jks or pkcs12)
	// name a Java or PKCS#12 keystore holding the PKI client certificate.
	KeystorePath, KeystorePassword, KeystoreType string
	// TruststorePath, TruststorePassword and TruststoreType name a Java or
	// PKCS#12 truststore of CAs, trusted in addition to CAFiles.
	TruststorePath, TruststorePassword, TruststoreType string
}

// Material is one immutable, loaded generation of a route's TLS material.
// It must never be mutated after it is published.
type Material struct {
	opts       Options
	roots      *x509.CertPool // nil: system roots
	clientCert *tls.Certificate
	// CAs are the certificates read from CAFiles, for expiry reporting.
	CAs      []*x509.Certificate
	loadedAt time.Time

	configs sync.Map // server name -> *tls.Config
	session tls.ClientSessionCache
}

// Load reads the files named in opts and returns the material, or an error
// that names what is wrong with which file.
func Load(opts Options) (*Material, error) {
	if opts.Mode == "" {
		opts.Mode = VerifyFull
	}
	if opts.MinVersion == 0 {
		opts.MinVersion = tls.VersionTLS12
	}
	if opts.MaxVersion == 0 {
		opts.MaxVersion = tls.VersionTLS13
	}
	m := &Material{opts: opts, loadedAt: time.Now(), session: tls.NewLRUClientSessionCache(64)}
	if len(opts.CAFiles) > 0 {
		m.roots = x509.NewCertPool()
		for _, f := range opts.CAFiles {
			cas, err := CertificatesFromPEMFile(f)
			if err != nil {
				return nil, err
			}
			for _, c := range cas {
				m.roots.AddCert(c)
			}
			m.CAs = append(m.CAs, cas...)
		}
	}
	if opts.TruststorePath != "" {
		cas, err := CertificatesFromTruststore(opts.TruststorePath, opts.TruststorePassword, opts.TruststoreType)
		if err != nil {
			return nil, err
		}
		if m.roots == nil {
			m.roots = x509.NewCertPool()
		}
		for _, c := range cas {
			m.roots.AddCert(c)
		}
		m.CAs = append(m.CAs, cas...)
	}
	if opts.KeystorePath != "" {
		c, err := CertificateFromKeystore(opts.KeystorePath, opts.KeystorePassword, opts.KeystoreType)
		if err != nil {
			return nil, fmt.Errorf("loading client certificate: %w", err)
		}
		m.clientCert = c
	}
	if opts.CertFile != "" {
		c, err := CertificateFromPEMFiles(opts.CertFile, opts.KeyFile, opts.KeyPassphrase)
		if err != nil {
			return nil, fmt.Errorf("loading client certificate %q: %w", opts.CertFile, err)
		}
		m.clientCert = c
	}
	return m, nil
}

// Same reports whether m and o hold the same material: the same options
// and the same CA and client certificates, as a reload of unchanged files
// loads. A route keeps its material (and so its pooled connections and
// TLS sessions) across such a reload.
func (m *Material) Same(o *Material) bool {
	if m == o {
		return true
	}
	if m == nil || o == nil || !reflect.DeepEqual(m.opts, o.opts) || len(m.CAs) != len(o.CAs) {
		return false
	}
	for i := range m.CAs {
		if !m.CAs[i].Equal(o.CAs[i]) {
			return false
		}
	}
	a, b := m.clientCert, o.clientCert
	if a == nil || b == nil {
		return a == b
	}
	// A key that changed without its certificate does not load: the
	// chain is enough.
	return slices.EqualFunc(a.Certificate, b.Certificate, bytes.Equal)
}

// CertificatesFromPEMFile reads every CERTIFICATE block of a PEM file or bundle.
func CertificatesFromPEMFile(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading CA file: %w", err)
	}
	var out []*x509.Certificate
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing CA file %q: %w", path, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("parsing CA file %q: %w", path, ErrNoCACerts)
	}
	return out, nil
}

// ClientCertificate returns the PKI client certificate, or nil.
func (m *Material) ClientCertificate() *tls.Certificate { return m.clientCert }

// Mode returns the effective verification mode.
func (m *Material) Mode() VerificationMode { return m.opts.Mode }

// ClientConfig returns the TLS configuration for dialing host (a host name
// or IP, without port). Configurations are cached per name and shared; the
// caller must not modify them.
func (m *Material) ClientConfig(host string) *tls.Config {
	name := host
	if m.opts.ServerName != "" {
		name = m.opts.ServerName
	}
	if c, ok := m.configs.Load(name); ok {
		return c.(*tls.Config)
	}
	cfg := &tls.Config{
		ServerName: name,
		MinVersion: m.opts.MinVersion,
		MaxVersion: m.opts.MaxVersion,
		// Verification is done in VerifyConnection so that all modes,
		// fingerprints included, report the presented chain the same way.
		InsecureSkipVerify: true, //nolint:gosec
		VerifyConnection: func(cs tls.ConnectionState) error {
			return m.Verify(cs.PeerCertificates, name)
		},
		ClientSessionCache: m.session,
		// Bulk forwarding wants full 16 KiB records from the first byte;
		// Go's default starts small after idle to help interactive latency.
		DynamicRecordSizingDisabled: true,
		// Elasticsearch speaks HTTP/1.1 only.
		NextProtos: []string{"http/1.1"},
	}
	if len(m.opts.CipherSuites) > 0 {
		cfg.CipherSuites = m.opts.CipherSuites
	}
	if m.clientCert != nil {
		cert := m.clientCert
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	c, _ := m.configs.LoadOrStore(name, cfg)
	return c.(*tls.Config)
}

// Verify checks a presented chain (leaf first) against the material.
func (m *Material) Verify(chain []*x509.Certificate, serverName string) error {
	if m.opts.Mode == VerifyNone {
		return nil
	}
	if len(chain) == 0 {
		return &VerificationError{Reason: "the server presented no certificate", Hint: "check that hosts point at Elasticsearch's HTTPS port"}
	}
	roots := m.roots
	if len(m.opts.Fingerprints) > 0 {
		var pinned *x509.Certificate
		for _, c := range chain {
			if m.pinned(c) {
				pinned = c
				break
			}
		}
		switch {
		case pinned != nil:
			if roots == nil {
				roots = x509.NewCertPool()
			} else {
				roots = roots.Clone()
			}
			roots.AddCert(pinned)
		case roots == nil:
			return newVerificationError(chain, serverName, errFingerprintMismatch)
		}
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	opts := x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if m.opts.Mode == VerifyFull {
		opts.DNSName = serverName
	}
	if _, err := chain[0].Verify(opts); err != nil {
		return newVerificationError(chain, serverName, err)
	}
	return nil
}

func (m *Material) pinned(c *x509.Certificate) bool {
	fp := sha256.Sum256(c.Raw)
	for _, want := range m.opts.Fingerprints {
		if fp == want {
			return true
		}
	}
	return false
}

var errFingerprintMismatch = errors.New("no presented certificate matches ca_trusted_fingerprint")

// VerificationError reports why a presented chain was refused, what it held,
// and which setting fixes it.
type VerificationError struct {
	Reason string
	// Chain describes the presented certificates, leaf first.
	Chain []string
	// TopFingerprint is the SHA-256 of the last presented certificate (the CA
	// for an ES 8 node), in the form ca_trusted_fingerprint takes.
	TopFingerprint string
	Hint           string
	Err            error
}

func (e *VerificationError) Error() string {
	var b strings.Builder
	b.WriteString(e.Reason)
	if len(e.Chain) > 0 {
		b.WriteString(" (presented chain: ")
		b.WriteString(strings.Join(e.Chain, " <- "))
		b.WriteString(")")
	}
	if e.Hint != "" {
		b.WriteString(": ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

func (e *VerificationError) Unwrap() error { return e.Err }

// Fingerprint returns the hex SHA-256 of a certificate's DER bytes, as
// Elasticsearch prints it for its auto-generated CA.
func Fingerprint(c *x509.Certificate) string {
	s := sha256.Sum256(c.Raw)
	return hex.EncodeToString(s[:])
}

func newVerificationError(chain []*x509.Certificate, serverName string, err error) *VerificationError {
	e := &VerificationError{Err: err}
	for _, c := range chain {
		e.Chain = append(e.Chain, fmt.Sprintf("subject %q issuer %q sha256 %s", c.Subject.String(), c.Issuer.String(), Fingerprint(c)))
	}
	e.TopFingerprint = Fingerprint(chain[len(chain)-1])
	var (
		unknown  x509.UnknownAuthorityError
		hostErr  x509.HostnameError
		invalid  x509.CertificateInvalidError
		leaf     = chain[0]
		trustFix = "set ssl_certificate_authorities to the cluster's CA file, or ca_trusted_fingerprint to its SHA-256 fingerprint (the top presented certificate's is " + e.TopFingerprint + ")"
	)
	switch {
	case errors.Is(err, errFingerprintMismatch):
		e.Reason = "x509: " + err.Error()
		e.Hint = "check ca_trusted_fingerprint (the top presented certificate's is " + e.TopFingerprint + "), or set ssl_certificate_authorities"
	case errors.As(err, &unknown):
		e.Reason = "x509: certificate signed by unknown authority"
		e.Hint = trustFix
	case errors.As(err, &hostErr):
		names := append([]string{}, leaf.DNSNames...)
		for _, ip := range leaf.IPAddresses {
			names = append(names, ip.String())
		}
		e.Reason = fmt.Sprintf("x509: certificate is not valid for %q (it is valid for %v)", serverName, names)
		e.Hint = "connect by one of those names, set ssl_server_name, or use ssl_verification_mode: certificate"
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		e.Reason = fmt.Sprintf("x509: certificate %q has expired or is not yet valid (valid %s to %s)", invalid.Cert.Subject.String(),
			invalid.Cert.NotBefore.UTC().Format(time.RFC3339), invalid.Cert.NotAfter.UTC().Format(time.RFC3339))
		e.Hint = "renew the cluster's certificate, or check this machine's clock"
	default:
		e.Reason = err.Error()
		e.Hint = trustFix
	}
	return e
}

// LogExpiry logs when each loaded certificate expires, warning within horizon.
func (m *Material) LogExpiry(log *slog.Logger, route string, horizon time.Duration) {
	report := func(kind string, c *x509.Certificate) {
		left := time.Until(c.NotAfter)
		lvl := slog.LevelInfo
		if left < horizon {
			lvl = slog.LevelWarn
		}
		log.Log(context.Background(), lvl, "certificate expiry", "route", route, "kind", kind, "subject", c.Subject.String(),
			"not_after", c.NotAfter.UTC().Format(time.RFC3339), "days_left", int(left.Hours()/24))
	}
	for _, c := range m.CAs {
		report("ca", c)
	}
	if m.clientCert != nil && m.clientCert.Leaf != nil {
		report("client", m.clientCert.Leaf)
	}
}

// ParseFingerprint accepts 64 hex digits, with or without ':' separators,
// in either case.
func ParseFingerprint(s string) ([32]byte, error) {
	var out [32]byte
	clean := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), ":", ""))
	if len(clean) != 64 {
		return out, fmt.Errorf("want 64 hex digits (SHA-256 of the CA certificate), got %d characters", len(clean))
	}
	if _, err := hex.Decode(out[:], []byte(clean)); err != nil {
		return out, fmt.Errorf("want 64 hex digits: %w", err)
	}
	return out, nil
}

// ParseProtocols maps Logstash's ssl_supported_protocols names to a version range.
func ParseProtocols(names []string) (min, max uint16, err error) {
	for _, n := range names {
		var v uint16
		switch strings.TrimSpace(n) {
		case "TLSv1.1":
			v = tls.VersionTLS11
		case "TLSv1.2":
			v = tls.VersionTLS12
		case "TLSv1.3":
			v = tls.VersionTLS13
		default:
			return 0, 0, fmt.Errorf("unknown protocol %q (want TLSv1.1, TLSv1.2 or TLSv1.3)", n)
		}
		if min == 0 || v < min {
			min = v
		}
		if v > max {
			max = v
		}
	}
	return min, max, nil
}

// ParseCipherSuites maps IANA suite names (as Logstash and Go name them) to IDs.
func ParseCipherSuites(names []string) ([]uint16, error) {
	known := map[string]uint16{}
	for _, s := range tls.CipherSuites() {
		known[s.Name] = s.ID
	}
	for _, s := range tls.InsecureCipherSuites() {
		known[s.Name] = s.ID
	}
	var out []uint16
	for _, n := range names {
		id, ok := known[strings.TrimSpace(n)]
		if !ok {
			return nil, fmt.Errorf("unknown cipher suite %q", n)
		}
		out = append(out, id)
	}
	return out, nil
}

// HostOnly strips a port from host:port.
func HostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.Trim(hostport, "[]")
}
