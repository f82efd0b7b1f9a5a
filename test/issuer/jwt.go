package issuer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"math/big"
)

// Sign builds a compact JWS: base64url(header).base64url(claims).signature.
// header must hold "alg" (HS256/384/512, RS256/384/512, PS256/384/512,
// ES256/384/512); key is a []byte for HS*, an *rsa.PrivateKey for RS*/PS*
// and an *ecdsa.PrivateKey for ES*. Header and claims are written as given,
// so tests can build tokens Elasticsearch must reject.
func Sign(header, claims map[string]any, key any) (string, error) {
	alg, _ := header["alg"].(string)
	h, err := json.Marshal(header)
	if err != nil {
		return "", err
	}
	c, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	sig, err := signature(alg, []byte(input), key)
	if err != nil {
		return "", err
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

func hashFor(alg string) (crypto.Hash, func() hash.Hash, error) {
	if len(alg) != 5 {
		return 0, nil, fmt.Errorf("unsupported alg %q", alg)
	}
	switch alg[2:] {
	case "256":
		return crypto.SHA256, sha256.New, nil
	case "384":
		return crypto.SHA384, sha512.New384, nil
	case "512":
		return crypto.SHA512, sha512.New, nil
	}
	return 0, nil, fmt.Errorf("unsupported alg %q", alg)
}

func signature(alg string, input []byte, key any) ([]byte, error) {
	ch, newHash, err := hashFor(alg)
	if err != nil {
		return nil, err
	}
	switch alg[:2] {
	case "HS":
		k, ok := key.([]byte)
		if !ok {
			return nil, errors.New(alg + " needs a []byte key")
		}
		m := hmac.New(newHash, k)
		m.Write(input)
		return m.Sum(nil), nil
	case "RS", "PS":
		k, ok := key.(*rsa.PrivateKey)
		if !ok {
			return nil, errors.New(alg + " needs an *rsa.PrivateKey")
		}
		d := newHash()
		d.Write(input)
		if alg[0] == 'P' {
			return rsa.SignPSS(rand.Reader, k, ch, d.Sum(nil), &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		}
		return rsa.SignPKCS1v15(rand.Reader, k, ch, d.Sum(nil))
	case "ES":
		k, ok := key.(*ecdsa.PrivateKey)
		if !ok {
			return nil, errors.New(alg + " needs an *ecdsa.PrivateKey")
		}
		d := newHash()
		d.Write(input)
		r, s, err := ecdsa.Sign(rand.Reader, k, d.Sum(nil))
		if err != nil {
			return nil, err
		}
		n := (k.Curve.Params().BitSize + 7) / 8
		out := make([]byte, 2*n)
		r.FillBytes(out[:n])
		s.FillBytes(out[n:])
		return out, nil
	}
	return nil, fmt.Errorf("unsupported alg %q", alg)
}

// KeyID is the Kubernetes key id: base64url (unpadded) of the SHA-256 of
// the DER (PKIX) public key (kubernetes pkg/serviceaccount/jwt.go).
func KeyID(pub crypto.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// JWK renders a public key as a JSON Web Key with use "sig", the given
// kid and alg ("" leaves either out).
func JWK(pub crypto.PublicKey, kid, alg string) map[string]any {
	b64 := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	m := map[string]any{"use": "sig"}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		m["kty"] = "RSA"
		m["n"] = b64(k.N.Bytes())
		m["e"] = b64(big.NewInt(int64(k.E)).Bytes())
	case *ecdsa.PublicKey:
		m["kty"] = "EC"
		m["crv"] = k.Curve.Params().Name
		n := (k.Curve.Params().BitSize + 7) / 8
		pt, err := k.Bytes() // 0x04 || X || Y
		if err != nil || len(pt) != 1+2*n {
			return nil
		}
		m["x"], m["y"] = b64(pt[1:1+n]), b64(pt[1+n:])
	}
	if kid != "" {
		m["kid"] = kid
	}
	if alg != "" {
		m["alg"] = alg
	}
	return m
}

// JWKS renders {"keys":[...]}.
func JWKS(keys ...map[string]any) []byte {
	if keys == nil {
		keys = []map[string]any{}
	}
	b, _ := json.Marshal(map[string]any{"keys": keys})
	return b
}
