package certs

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"os"
)

// CertificateFromPEMFiles loads a client certificate (with any intermediates
// that follow it in certFile) and its private key. The key may be PKCS#1
// ("RSA PRIVATE KEY"), PKCS#8 ("PRIVATE KEY"), SEC1 ("EC PRIVATE KEY"),
// PBES2-encrypted PKCS#8 ("ENCRYPTED PRIVATE KEY") or a legacy OpenSSL
// encrypted PEM; passphrase is used only for the encrypted forms.
func CertificateFromPEMFiles(certFile, keyFile, passphrase string) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("reading certificate file: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("reading key file: %w", err)
	}
	return CertificateFromPEM(certPEM, keyPEM, passphrase)
}

// CertificateFromPEM is CertificateFromPEMFiles on bytes.
func CertificateFromPEM(certPEM, keyPEM []byte, passphrase string) (*tls.Certificate, error) {
	var cert tls.Certificate
	for rest := certPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			cert.Certificate = append(cert.Certificate, b.Bytes)
		}
	}
	if len(cert.Certificate) == 0 {
		return nil, ErrNoCertificate
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("parsing certificate: %w", err)
	}
	cert.Leaf = leaf
	key, err := PrivateKeyFromPEM(keyPEM, passphrase)
	if err != nil {
		return nil, err
	}
	if !publicKeysEqual(leaf.PublicKey, key.Public()) {
		return nil, ErrKeyMismatch
	}
	cert.PrivateKey = key
	return &cert, nil
}

// PrivateKeyFromPEM parses the first private key in data, in any of the
// forms listed at CertificateFromPEMFiles.
func PrivateKeyFromPEM(data []byte, passphrase string) (crypto.Signer, error) {
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, ErrNoPrivateKey
		}
		der := b.Bytes
		switch {
		case b.Type == "ENCRYPTED PRIVATE KEY":
			if passphrase == "" {
				return nil, ErrPassphraseRequired
			}
			var err error
			if der, err = decryptPKCS8(der, []byte(passphrase)); err != nil {
				return nil, err
			}
			return parseKeyDER(der, "PRIVATE KEY")
		//lint:ignore SA1019 legacy OpenSSL encrypted PEM is still produced by common tooling; we only read it.
		case x509.IsEncryptedPEMBlock(b): //nolint:staticcheck
			if passphrase == "" {
				return nil, ErrPassphraseRequired
			}
			var err error
			//lint:ignore SA1019 see above.
			if der, err = x509.DecryptPEMBlock(b, []byte(passphrase)); err != nil { //nolint:staticcheck
				return nil, ErrWrongPassphrase
			}
			return parseKeyDER(der, b.Type)
		case b.Type == "PRIVATE KEY" || b.Type == "RSA PRIVATE KEY" || b.Type == "EC PRIVATE KEY":
			return parseKeyDER(der, b.Type)
		}
	}
}

func parseKeyDER(der []byte, typ string) (crypto.Signer, error) {
	var k any
	var err error
	switch typ {
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(der)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(der)
	default:
		k, err = x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			// Mislabelled blocks are common; try the other encodings.
			if k1, e1 := x509.ParsePKCS1PrivateKey(der); e1 == nil {
				k, err = k1, nil
			} else if k2, e2 := x509.ParseECPrivateKey(der); e2 == nil {
				k, err = k2, nil
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("parsing private key: %w", err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("parsing private key: unsupported key type %T", k)
	}
	return s, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	switch ak := a.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		return ak.(equaler).Equal(b)
	}
	return false
}

var (
	oidPBES2      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidHMACSHA1   = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	oidHMACSHA224 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 8}
	oidHMACSHA256 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidHMACSHA384 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 10}
	oidHMACSHA512 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 11}
	oidAES128CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	oidDESEDE3CBC = asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 7}
)

type encryptedPrivateKeyInfo struct {
	Algo pkix
	Data []byte
}

type pkix struct {
	Algorithm  asn1.ObjectIdentifier
	Parameters asn1.RawValue `asn1:"optional"`
}

type pbes2Params struct {
	KDF    pkix
	Scheme pkix
}

type pbkdf2Params struct {
	Salt       []byte
	Iterations int
	KeyLength  int  `asn1:"optional"`
	PRF        pkix `asn1:"optional"`
}

// decryptPKCS8 decrypts a PBES2 EncryptedPrivateKeyInfo (RFC 8018), the form
// `openssl pkcs8 -topk8 -v2 aes256` and Java's keytool produce.
//
// Why our own and not github.com/youmark/pkcs8: the part esgate needs is
// small (PBES2 with PBKDF2 and AES-CBC or 3DES-CBC, the forms OpenSSL 3
// and keytool write; scrypt-based PBES2 is refused with the conversion to
// use), it rests on the standard library's crypto/pbkdf2 and crypto/cipher
// with no new dependency, and it is tested against keys made by openssl in
// every supported form (certs_test.go). The library would add PKCS#12-PBE
// and scrypt variants esgate has no caller for. Revisit if a user needs
// those.
func decryptPKCS8(der, password []byte) ([]byte, error) {
	var info encryptedPrivateKeyInfo
	if rest, err := asn1.Unmarshal(der, &info); err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("parsing encrypted private key: %w", errOr(err, "trailing data"))
	}
	if !info.Algo.Algorithm.Equal(oidPBES2) {
		return nil, fmt.Errorf("parsing encrypted private key: unsupported scheme %v (only PBES2 is supported: convert with openssl pkcs8 -topk8 -v2 aes256)", info.Algo.Algorithm)
	}
	var params pbes2Params
	if _, err := asn1.Unmarshal(info.Algo.Parameters.FullBytes, &params); err != nil {
		return nil, fmt.Errorf("parsing PBES2 parameters: %w", err)
	}
	if !params.KDF.Algorithm.Equal(oidPBKDF2) {
		return nil, fmt.Errorf("parsing encrypted private key: unsupported key derivation %v (only PBKDF2: convert with openssl pkcs8 -topk8 -v2 aes256)", params.KDF.Algorithm)
	}
	var kdf pbkdf2Params
	if _, err := asn1.Unmarshal(params.KDF.Parameters.FullBytes, &kdf); err != nil {
		return nil, fmt.Errorf("parsing PBKDF2 parameters: %w", err)
	}
	var prf func() hash.Hash
	switch a := kdf.PRF.Algorithm; {
	case len(a) == 0 || a.Equal(oidHMACSHA1):
		prf = sha1.New
	case a.Equal(oidHMACSHA224):
		prf = sha256.New224
	case a.Equal(oidHMACSHA256):
		prf = sha256.New
	case a.Equal(oidHMACSHA384):
		prf = sha512.New384
	case a.Equal(oidHMACSHA512):
		prf = sha512.New
	default:
		return nil, fmt.Errorf("parsing encrypted private key: unsupported PRF %v", a)
	}
	var keyLen int
	var newBlock func([]byte) (cipher.Block, error)
	switch a := params.Scheme.Algorithm; {
	case a.Equal(oidAES128CBC):
		keyLen, newBlock = 16, aes.NewCipher
	case a.Equal(oidAES192CBC):
		keyLen, newBlock = 24, aes.NewCipher
	case a.Equal(oidAES256CBC):
		keyLen, newBlock = 32, aes.NewCipher
	case a.Equal(oidDESEDE3CBC):
		keyLen, newBlock = 24, des.NewTripleDESCipher
	default:
		return nil, fmt.Errorf("parsing encrypted private key: unsupported cipher %v", a)
	}
	var iv []byte
	if _, err := asn1.Unmarshal(params.Scheme.Parameters.FullBytes, &iv); err != nil {
		return nil, fmt.Errorf("parsing cipher IV: %w", err)
	}
	if kdf.Iterations <= 0 || kdf.Iterations > 10_000_000 {
		return nil, fmt.Errorf("parsing encrypted private key: implausible iteration count %d", kdf.Iterations)
	}
	key, err := pbkdf2.Key(prf, string(password), kdf.Salt, kdf.Iterations, keyLen)
	if err != nil {
		return nil, fmt.Errorf("deriving key: %w", err)
	}
	block, err := newBlock(key)
	if err != nil {
		return nil, err
	}
	if len(iv) != block.BlockSize() || len(info.Data) == 0 || len(info.Data)%block.BlockSize() != 0 {
		return nil, errors.New("parsing encrypted private key: bad IV or data length")
	}
	out := make([]byte, len(info.Data))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(out, info.Data)
	// PKCS#7 padding; a wrong passphrase almost always breaks it.
	n := int(out[len(out)-1])
	if n == 0 || n > block.BlockSize() || !hmac.Equal(out[len(out)-n:], bytesOf(byte(n), n)) {
		return nil, ErrWrongPassphrase
	}
	out = out[:len(out)-n]
	if _, err := x509.ParsePKCS8PrivateKey(out); err != nil {
		return nil, ErrWrongPassphrase
	}
	return out, nil
}

func bytesOf(b byte, n int) []byte {
	s := make([]byte, n)
	for i := range s {
		s[i] = b
	}
	return s
}

func errOr(err error, msg string) error {
	if err != nil {
		return err
	}
	return errors.New(msg)
}
