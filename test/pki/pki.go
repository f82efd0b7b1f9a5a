package pki

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"time"
)

// CA is a certificate authority.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// Leaf is an issued certificate with its key.
type Leaf struct {
	Cert  *x509.Certificate
	Key   crypto.Signer
	Chain []*x509.Certificate // issuers presented after the leaf
}

// Option changes a certificate template.
type Option func(*x509.Certificate)

// WithLifetime sets NotBefore/NotAfter relative to now.
func WithLifetime(notBefore, notAfter time.Duration) Option {
	return func(t *x509.Certificate) {
		t.NotBefore, t.NotAfter = time.Now().Add(notBefore), time.Now().Add(notAfter)
	}
}

// WithNames sets DNS names and IP addresses (strings that parse as IPs).
func WithNames(names ...string) Option {
	return func(t *x509.Certificate) {
		t.DNSNames, t.IPAddresses = nil, nil
		for _, n := range names {
			if ip := net.ParseIP(n); ip != nil {
				t.IPAddresses = append(t.IPAddresses, ip)
			} else {
				t.DNSNames = append(t.DNSNames, n)
			}
		}
	}
}

// Client makes the certificate a TLS client certificate.
func Client() Option {
	return func(t *x509.Certificate) { t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth} }
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}

// NewCA creates a self-signed CA with an ECDSA P-256 key.
func NewCA(cn string, opts ...Option) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	t := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(3 * 365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	for _, o := range opts {
		o(t)
	}
	der, err := x509.CreateCertificate(rand.Reader, t, t, key.Public(), key)
	if err != nil {
		return nil, err
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: c, Key: key}, nil
}

// Issue signs a leaf for cn. Server certificates (the default) are valid
// for localhost, 127.0.0.1 and ::1 unless WithNames says otherwise. keyType
// is "ec" (default) or "rsa".
func (ca *CA) Issue(cn, keyType string, opts ...Option) (*Leaf, error) {
	var key crypto.Signer
	var err error
	if keyType == "rsa" {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		return nil, err
	}
	t := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(2 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	WithNames("localhost", "127.0.0.1", "::1")(t)
	for _, o := range opts {
		o(t)
	}
	der, err := x509.CreateCertificate(rand.Reader, t, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, err
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Leaf{Cert: c, Key: key, Chain: []*x509.Certificate{ca.Cert}}, nil
}

// TLSCertificate returns the leaf and its chain for a tls.Config.
func (l *Leaf) TLSCertificate() tls.Certificate {
	tc := tls.Certificate{Certificate: [][]byte{l.Cert.Raw}, PrivateKey: l.Key, Leaf: l.Cert}
	for _, c := range l.Chain {
		tc.Certificate = append(tc.Certificate, c.Raw)
	}
	return tc
}

// CertPEM encodes a certificate.
func CertPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// CertPEM is the CA certificate in PEM.
func (ca *CA) CertPEM() []byte { return CertPEM(ca.Cert) }

// Fingerprint is the hex SHA-256 of the CA's DER, as ES 8 prints it.
func (ca *CA) Fingerprint() string {
	s := sha256.Sum256(ca.Cert.Raw)
	return hex.EncodeToString(s[:])
}

// KeyPEM encodes the leaf key as "pkcs8" (default), "pkcs1" (RSA only),
// "sec1" (EC only) or "pkcs8-encrypted" (PBES2, AES-256-CBC, PBKDF2-SHA256)
// with passphrase.
func (l *Leaf) KeyPEM(format, passphrase string) ([]byte, error) {
	switch format {
	case "pkcs1":
		return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(l.Key.(*rsa.PrivateKey))}), nil
	case "sec1":
		der, err := x509.MarshalECPrivateKey(l.Key.(*ecdsa.PrivateKey))
		if err != nil {
			return nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
	}
	der, err := x509.MarshalPKCS8PrivateKey(l.Key)
	if err != nil {
		return nil, err
	}
	if format == "pkcs8-encrypted" {
		if der, err = encryptPKCS8(der, passphrase); err != nil {
			return nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: der}), nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// WriteFiles writes the leaf (with chain) and key to certPath and keyPath.
func (l *Leaf) WriteFiles(certPath, keyPath, keyFormat, passphrase string) error {
	var certs []byte
	certs = append(certs, CertPEM(l.Cert)...)
	for _, c := range l.Chain {
		certs = append(certs, CertPEM(c)...)
	}
	if err := os.WriteFile(certPath, certs, 0o600); err != nil {
		return err
	}
	k, err := l.KeyPEM(keyFormat, passphrase)
	if err != nil {
		return err
	}
	return os.WriteFile(keyPath, k, 0o600)
}

type algo struct {
	Algorithm  asn1.ObjectIdentifier
	Parameters asn1.RawValue `asn1:"optional"`
}

func encryptPKCS8(der []byte, passphrase string) ([]byte, error) {
	salt := make([]byte, 16)
	iv := make([]byte, 16)
	rand.Read(salt)
	rand.Read(iv)
	const iter = 2048
	key, err := pbkdf2.Key(sha256.New, passphrase, salt, iter, 32)
	if err != nil {
		return nil, err
	}
	block, _ := aes.NewCipher(key)
	pad := 16 - len(der)%16
	plain := append(append([]byte{}, der...), make([]byte, pad)...)
	for i := len(der); i < len(plain); i++ {
		plain[i] = byte(pad)
	}
	out := make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(out, plain)

	prf, _ := asn1.Marshal(algo{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}, Parameters: asn1.NullRawValue})
	kdfParams, _ := asn1.Marshal(struct {
		Salt       []byte
		Iterations int
		KeyLength  int
		PRF        asn1.RawValue
	}{salt, iter, 32, asn1.RawValue{FullBytes: prf}})
	ivDER, _ := asn1.Marshal(iv)
	pbes2, _ := asn1.Marshal(struct {
		KDF    algo
		Scheme algo
	}{
		algo{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}, asn1.RawValue{FullBytes: kdfParams}},
		algo{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}, asn1.RawValue{FullBytes: ivDER}},
	})
	return asn1.Marshal(struct {
		Algo algo
		Data []byte
	}{algo{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}, asn1.RawValue{FullBytes: pbes2}}, out})
}
