package certs

import (
	"crypto/x509"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/esgate/esgate/test/pki"
)

func TestKeyFormats(t *testing.T) {
	ca, err := pki.NewCA("ca")
	if err != nil {
		t.Fatal(err)
	}
	rsaLeaf, _ := ca.Issue("rsa-client", "rsa", pki.Client())
	ecLeaf, _ := ca.Issue("ec-client", "ec", pki.Client())
	tests := []struct {
		name, format, pass, usePass string
		leaf                        *pki.Leaf
		err                         error
	}{
		{"pkcs1 rsa", "pkcs1", "", "", rsaLeaf, nil},
		{"pkcs8 rsa", "pkcs8", "", "", rsaLeaf, nil},
		{"pkcs8 ec", "pkcs8", "", "", ecLeaf, nil},
		{"sec1 ec", "sec1", "", "", ecLeaf, nil},
		{"encrypted pkcs8", "pkcs8-encrypted", "s3cret", "s3cret", ecLeaf, nil},
		{"encrypted pkcs8 rsa", "pkcs8-encrypted", "s3cret", "s3cret", rsaLeaf, nil},
		{"wrong passphrase", "pkcs8-encrypted", "s3cret", "nope", ecLeaf, ErrWrongPassphrase},
		{"missing passphrase", "pkcs8-encrypted", "s3cret", "", ecLeaf, ErrPassphraseRequired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			c, k := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
			if err := tt.leaf.WriteFiles(c, k, tt.format, tt.pass); err != nil {
				t.Fatal(err)
			}
			cert, err := CertificateFromPEMFiles(c, k, tt.usePass)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err %v; expected %v", err, tt.err)
			}
			if err == nil && (cert.Leaf.Subject.CommonName != tt.leaf.Cert.Subject.CommonName || len(cert.Certificate) != 2) {
				t.Errorf("loaded %v with %d certs", cert.Leaf.Subject, len(cert.Certificate))
			}
		})
	}
	t.Run("key does not match", func(t *testing.T) {
		dir := t.TempDir()
		c, k := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
		rsaLeaf.WriteFiles(c, filepath.Join(dir, "unused"), "pkcs8", "")
		ecLeaf.WriteFiles(filepath.Join(dir, "unused2"), k, "pkcs8", "")
		if _, err := CertificateFromPEMFiles(c, k, ""); !errors.Is(err, ErrKeyMismatch) {
			t.Errorf("err %v", err)
		}
	})
}

// TestOpenSSLEncryptedKeys reads keys encrypted by the openssl CLI, the
// way operators make them (`openssl pkcs8 -topk8 -v2 …`).
func TestOpenSSLEncryptedKeys(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		if os.Getenv("ESGATE_REQUIRE_CLIENTS") == "1" {
			t.Fatal("openssl is required (ESGATE_REQUIRE_CLIENTS=1)")
		}
		t.Skip("openssl not installed")
	}
	ca, _ := pki.NewCA("ca")
	leaf, _ := ca.Issue("c", "rsa", pki.Client())
	dir := t.TempDir()
	c, k := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	leaf.WriteFiles(c, k, "pkcs8", "")
	for _, v2 := range []string{"aes256", "aes128", "des3"} {
		out := filepath.Join(dir, v2+".pem")
		cmd := exec.Command("openssl", "pkcs8", "-topk8", "-v2", v2, "-in", k, "-out", out, "-passout", "pass:pw123456")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl %s: %v %s", v2, err, b)
		}
		if _, err := CertificateFromPEMFiles(c, out, "pw123456"); err != nil {
			t.Errorf("%s: %v", v2, err)
		}
		if _, err := CertificateFromPEMFiles(c, out, "wrong"); !errors.Is(err, ErrWrongPassphrase) {
			t.Errorf("%s wrong passphrase: %v", v2, err)
		}
	}
}

func TestVerifyErrors(t *testing.T) {
	ca, _ := pki.NewCA("ca")
	expired, _ := ca.Issue("es01", "ec", pki.WithLifetime(-48*time.Hour, -24*time.Hour))
	valid, _ := ca.Issue("es01", "ec")
	p := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(p, ca.CertPEM(), 0o644)
	m, err := Load(Options{CAFiles: []string{p}})
	if err != nil {
		t.Fatal(err)
	}
	var ve *VerificationError
	err = m.Verify([]*x509.Certificate{expired.Cert, ca.Cert}, "localhost")
	if !errors.As(err, &ve) || !strings.Contains(ve.Reason, "has expired") || ve.TopFingerprint != ca.Fingerprint() {
		t.Errorf("expired: %v", err)
	}
	err = m.Verify([]*x509.Certificate{valid.Cert}, "es.example.com")
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), "set ssl_server_name, or use ssl_verification_mode: certificate") {
		t.Errorf("host name: %v", err)
	}
	if err := m.Verify([]*x509.Certificate{valid.Cert}, "127.0.0.1"); err != nil {
		t.Errorf("IP SAN: %v", err)
	}
}

func TestParseFingerprint(t *testing.T) {
	want := "2d9f210e7d5d3cd4245ab20dac8003f21e421f0eb34fcdaf52916f56d4bf3a8b"
	for _, in := range []string{want, strings.ToUpper(want), "2D:9F:21:0E:7D:5D:3C:D4:24:5A:B2:0D:AC:80:03:F2:1E:42:1F:0E:B3:4F:CD:AF:52:91:6F:56:D4:BF:3A:8B"} {
		fp, err := ParseFingerprint(in)
		if err != nil || hex.EncodeToString(fp[:]) != want {
			t.Errorf("%q: %x %v", in, fp, err)
		}
	}
	if _, err := ParseFingerprint(want[:62] + "zz"); err == nil {
		t.Error("non-hex accepted")
	}
}
