package certs

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	jks "github.com/pavlo-v-chernykh/keystore-go/v4"
	"software.sslmate.com/src/go-pkcs12"
)

// StoreType guesses a Java/PKCS#12 store's type from its file name, as
// Logstash does: .jks is JKS; .p12 and .pfx are PKCS#12.
func StoreType(path, declared string) (string, error) {
	switch t := strings.ToLower(declared); t {
	case "jks", "pkcs12":
		return t, nil
	case "":
	default:
		return "", fmt.Errorf("unknown store type %q (want jks or pkcs12)", declared)
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".jks":
		return "jks", nil
	case ".p12", ".pfx", ".pkcs12":
		return "pkcs12", nil
	}
	return "", fmt.Errorf("cannot tell the type of %s from its name: set the store type (jks or pkcs12)", path)
}

// CertificateFromKeystore loads the PKI client certificate (the first
// private key entry and its chain) from a JKS or PKCS#12 keystore.
func CertificateFromKeystore(path, password, typ string) (*tls.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading keystore: %w", err)
	}
	var key any
	var chain []*x509.Certificate
	switch typ {
	case "pkcs12":
		k, leaf, cas, err := pkcs12.DecodeChain(data, password)
		if err != nil {
			return nil, fmt.Errorf("decoding PKCS#12 keystore %s: %w", path, storeErr(err))
		}
		key, chain = k, append([]*x509.Certificate{leaf}, cas...)
	case "jks":
		ks := jks.New()
		if err := ks.Load(bytes.NewReader(data), []byte(password)); err != nil {
			return nil, fmt.Errorf("decoding JKS keystore %s: %w", path, storeErr(err))
		}
		for _, alias := range ks.Aliases() {
			if !ks.IsPrivateKeyEntry(alias) {
				continue
			}
			e, err := ks.GetPrivateKeyEntry(alias, []byte(password))
			if err != nil {
				return nil, fmt.Errorf("decoding JKS key %q in %s: %w", alias, path, storeErr(err))
			}
			if key, err = x509.ParsePKCS8PrivateKey(e.PrivateKey); err != nil {
				return nil, fmt.Errorf("parsing JKS key %q: %w", alias, err)
			}
			for _, c := range e.CertificateChain {
				cert, err := x509.ParseCertificate(c.Content)
				if err != nil {
					return nil, fmt.Errorf("parsing JKS certificate of %q: %w", alias, err)
				}
				chain = append(chain, cert)
			}
			break
		}
		if key == nil {
			return nil, fmt.Errorf("JKS keystore %s holds no private key entry", path)
		}
	default:
		return nil, fmt.Errorf("unknown store type %q", typ)
	}
	signer, ok := key.(crypto.Signer)
	if !ok || len(chain) == 0 {
		return nil, fmt.Errorf("keystore %s: no usable key and certificate", path)
	}
	if !publicKeysEqual(chain[0].PublicKey, signer.Public()) {
		return nil, ErrKeyMismatch
	}
	tc := &tls.Certificate{PrivateKey: signer, Leaf: chain[0]}
	for _, c := range chain {
		tc.Certificate = append(tc.Certificate, c.Raw)
	}
	return tc, nil
}

// CertificatesFromTruststore reads trusted CA certificates from a JKS or
// PKCS#12 truststore.
func CertificatesFromTruststore(path, password, typ string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading truststore: %w", err)
	}
	var out []*x509.Certificate
	switch typ {
	case "pkcs12":
		if out, err = pkcs12.DecodeTrustStore(data, password); err != nil {
			return nil, fmt.Errorf("decoding PKCS#12 truststore %s: %w", path, storeErr(err))
		}
	case "jks":
		ks := jks.New()
		if err := ks.Load(bytes.NewReader(data), []byte(password)); err != nil {
			return nil, fmt.Errorf("decoding JKS truststore %s: %w", path, storeErr(err))
		}
		for _, alias := range ks.Aliases() {
			if !ks.IsTrustedCertificateEntry(alias) {
				continue
			}
			e, err := ks.GetTrustedCertificateEntry(alias)
			if err != nil {
				return nil, err
			}
			c, err := x509.ParseCertificate(e.Certificate.Content)
			if err != nil {
				return nil, fmt.Errorf("parsing JKS certificate %q: %w", alias, err)
			}
			out = append(out, c)
		}
	default:
		return nil, fmt.Errorf("unknown store type %q", typ)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("truststore %s holds no trusted certificate", path)
	}
	return out, nil
}

// storeErr rewords the libraries' password failures.
func storeErr(err error) error {
	msg := strings.ToLower(err.Error())
	if errors.Is(err, pkcs12.ErrIncorrectPassword) || strings.Contains(msg, "password") || strings.Contains(msg, "digest") {
		return fmt.Errorf("%w (wrong store password?)", err)
	}
	return err
}
