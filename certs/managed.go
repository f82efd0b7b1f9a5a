package certs

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	x509pkix "crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// ManagedConfig asks for a listener certificate that certmagic obtains
// and renews: from an ACME CA (a public one, or an internal one such as
// smallstep's), or issued by esgate's own internal CA, whose root is
// written for clients to trust (as Caddy's "tls internal").
type ManagedConfig struct {
	// Domains are the names on the certificate (listen_ssl_domains).
	Domains []string
	// Issuer is "acme" or "internal" (listen_ssl_issuer, default acme).
	Issuer string
	// ACMEDirectory is the ACME directory URL (listen_ssl_acme_directory,
	// default Let's Encrypt's).
	ACMEDirectory string
	// ACMEEmail is the ACME account's contact (listen_ssl_acme_email).
	ACMEEmail string
	// ACMERoots are CA files to trust for the ACME server itself
	// (listen_ssl_acme_ca_root), for internal ACME CAs.
	ACMERoots []string
	// Storage is where certificates, keys and the internal CA are kept
	// (listen_ssl_storage, default esgate-certs beside the working
	// directory).
	Storage string
}

// Enabled reports whether a managed certificate is asked for.
func (m ManagedConfig) Enabled() bool { return len(m.Domains) > 0 }

// Validate checks m without touching the network or the disk.
func (m ManagedConfig) Validate() error {
	if !m.Enabled() {
		return nil
	}
	switch m.Issuer {
	case "", "acme", "internal":
	default:
		return fmt.Errorf("listen_ssl_issuer: want acme or internal, got %q", m.Issuer)
	}
	return nil
}

// Managed is a running certmagic certificate manager.
type Managed struct {
	cfg   *certmagic.Config
	cache *certmagic.Cache
	// RootFile is the internal CA's root certificate for clients to trust
	// ("" with ACME).
	RootFile string
}

// acmeBackoff bounds the first certificate's retries (a variable so tests
// can shorten it).
var acmeTimeout = 2 * time.Minute

// StartManaged obtains the certificate (or loads it from storage) before
// returning, and renews it in the background until Stop.
func StartManaged(ctx context.Context, m ManagedConfig, log *zap.Logger) (*Managed, error) {
	if log == nil {
		log = zap.NewNop()
	}
	storage := m.Storage
	if storage == "" {
		storage = "esgate-certs"
	}
	if err := os.MkdirAll(storage, 0o700); err != nil {
		return nil, fmt.Errorf("listen_ssl_storage: %w", err)
	}
	mg := &Managed{}
	var magic *certmagic.Config
	mg.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return magic, nil },
		Logger:           log,
	})
	magic = certmagic.New(mg.cache, certmagic.Config{Storage: &certmagic.FileStorage{Path: storage}, Logger: log})
	switch m.Issuer {
	case "internal":
		iss, root, err := loadOrCreateInternalCA(storage)
		if err != nil {
			mg.cache.Stop()
			return nil, fmt.Errorf("listen_ssl_issuer internal: %w", err)
		}
		magic.Issuers = []certmagic.Issuer{iss}
		mg.RootFile = root
	default:
		tmpl := certmagic.ACMEIssuer{CA: m.ACMEDirectory, Email: m.ACMEEmail, Agreed: true, Logger: log}
		if tmpl.CA == "" {
			tmpl.CA = certmagic.LetsEncryptProductionCA
		}
		if len(m.ACMERoots) > 0 {
			pool := x509.NewCertPool()
			for _, f := range m.ACMERoots {
				b, err := os.ReadFile(f)
				if err != nil {
					mg.cache.Stop()
					return nil, fmt.Errorf("listen_ssl_acme_ca_root: %w", err)
				}
				if !pool.AppendCertsFromPEM(b) {
					mg.cache.Stop()
					return nil, fmt.Errorf("listen_ssl_acme_ca_root: %s holds no PEM certificate", f)
				}
			}
			tmpl.TrustedRoots = pool
		}
		magic.Issuers = []certmagic.Issuer{certmagic.NewACMEIssuer(magic, tmpl)}
	}
	mg.cfg = magic
	octx, cancel := context.WithTimeout(ctx, acmeTimeout)
	defer cancel()
	if err := magic.ManageSync(octx, m.Domains); err != nil {
		mg.cache.Stop()
		return nil, fmt.Errorf("obtaining the listener certificate for %v: %w", m.Domains, err)
	}
	return mg, nil
}

// GetCertificate serves the managed certificate in handshakes.
func (mg *Managed) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	return mg.cfg.GetCertificate(hello)
}

// Stop ends renewals.
func (mg *Managed) Stop() { mg.cache.Stop() }

// internalIssuer signs listener certificates with esgate's own CA.
type internalIssuer struct {
	ca  *x509.Certificate
	key crypto.Signer
}

func (i *internalIssuer) IssuerKey() string { return "esgate-internal" }

// Issue signs a certificate for the CSR's names, valid 7 days (certmagic
// renews it well before).
func (i *internalIssuer) Issue(_ context.Context, csr *x509.CertificateRequest) (*certmagic.IssuedCertificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: x509pkix.Name{CommonName: firstName(csr)},
		DNSNames: csr.DNSNames, IPAddresses: csr.IPAddresses,
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(7 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, i.ca, csr.PublicKey, i.key)
	if err != nil {
		return nil, err
	}
	chain := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: i.ca.Raw})...)
	return &certmagic.IssuedCertificate{Certificate: chain}, nil
}

func firstName(csr *x509.CertificateRequest) string {
	if len(csr.DNSNames) > 0 {
		return csr.DNSNames[0]
	}
	if len(csr.IPAddresses) > 0 {
		return csr.IPAddresses[0].String()
	}
	return csr.Subject.CommonName
}

// loadOrCreateInternalCA keeps esgate's CA in dir (key 0600); it returns
// the issuer and the root certificate's path.
func loadOrCreateInternalCA(dir string) (*internalIssuer, string, error) {
	certFile, keyFile := filepath.Join(dir, "esgate-internal-root.crt"), filepath.Join(dir, "esgate-internal-root.key")
	cb, cerr := os.ReadFile(certFile)
	kb, kerr := os.ReadFile(keyFile)
	if cerr == nil && kerr == nil {
		cblock, _ := pem.Decode(cb)
		kblock, _ := pem.Decode(kb)
		if cblock == nil || kblock == nil {
			return nil, "", fmt.Errorf("%s or %s is not PEM", certFile, keyFile)
		}
		ca, err := x509.ParseCertificate(cblock.Bytes)
		if err != nil {
			return nil, "", err
		}
		key, err := x509.ParseECPrivateKey(kblock.Bytes)
		if err != nil {
			return nil, "", err
		}
		return &internalIssuer{ca: ca, key: key}, certFile, nil
	}
	if !errors.Is(cerr, os.ErrNotExist) && cerr != nil {
		return nil, "", cerr
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, "", err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: x509pkix.Name{CommonName: "esgate internal root"},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, "", err
	}
	ca, _ := x509.ParseCertificate(der)
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, "", err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return nil, "", err
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, "", err
	}
	return &internalIssuer{ca: ca, key: key}, certFile, nil
}
