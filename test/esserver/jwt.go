package esserver

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"slices"
	"sort"
	"strings"
)

// jwtToken is a parsed compact JWS, not yet validated.
type jwtToken struct {
	header, claims map[string]any
	signingInput   []byte
	sig            []byte
}

// parseJWT parses a compact JWS as Nimbus's SignedJWT.parse does, as far
// as ES relies on it: three base64url parts, header and claims JSON
// objects, a header alg that is not "none" (an unsecured JWT does not
// parse as signed). It checks no claim.
func parseJWT(s string) (*jwtToken, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a JWS: want three parts")
	}
	dec := func(p string) ([]byte, error) {
		return base64.RawURLEncoding.DecodeString(strings.TrimRight(p, "="))
	}
	obj := func(p string) (map[string]any, error) {
		b, err := dec(p)
		if err != nil {
			return nil, err
		}
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			return nil, err
		}
		if m == nil || d.More() {
			return nil, errors.New("not a JSON object")
		}
		return m, nil
	}
	h, err := obj(parts[0])
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	alg, _ := h["alg"].(string)
	if alg == "" || strings.EqualFold(alg, "none") {
		return nil, errors.New("not a signed JWT")
	}
	c, err := obj(parts[1])
	if err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	sig, err := dec(parts[2])
	if err != nil || len(sig) == 0 {
		return nil, errors.New("signature: not base64url")
	}
	return &jwtToken{header: h, claims: c, signingInput: []byte(parts[0] + "." + parts[1]), sig: sig}, nil
}

func (t *jwtToken) alg() string { s, _ := t.header["alg"].(string); return s }

// stringClaim returns a claim that is a JSON string.
func (t *jwtToken) stringClaim(name string) (string, bool) {
	s, ok := t.claims[name].(string)
	return s, ok
}

// stringsClaim returns a string claim or an all-string array claim.
func stringsClaim(v any) ([]string, bool) {
	switch x := v.(type) {
	case string:
		return []string{x}, true
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	}
	return nil, false
}

// dateClaim returns a NumericDate claim in seconds.
func (t *jwtToken) dateClaim(name string) (float64, bool, error) {
	v, ok := t.claims[name]
	if !ok || v == nil {
		return 0, false, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return 0, true, fmt.Errorf("claim [%s] is not a number", name)
	}
	f, err := n.Float64()
	return f, true, err
}

// tokenPrincipal is JwtAuthenticationToken.buildTokenPrincipal: every
// string or all-string-array claim, sorted by name, as 'name:value'
// (arrays comma-joined), space-separated; <unrecognized JWT token> when
// there is none.
func (t *jwtToken) tokenPrincipal() string {
	names := make([]string, 0, len(t.claims))
	for n := range t.claims {
		names = append(names, n)
	}
	sort.Strings(names)
	var parts []string
	for _, n := range names {
		if vs, ok := stringsClaim(t.claims[n]); ok {
			if _, isArr := t.claims[n].([]any); isArr && len(vs) == 0 {
				continue
			}
			parts = append(parts, "'"+n+":"+strings.Join(vs, ",")+"'")
		}
	}
	if len(parts) == 0 {
		return "<unrecognized JWT token>"
	}
	return strings.Join(parts, " ")
}

// jwk is one usable key of a JWK set.
type jwk struct {
	kid, alg, use, kty string
	pub                crypto.PublicKey // *rsa.PublicKey or *ecdsa.PublicKey
	secret             []byte           // HMAC
}

// parseJWKS parses a JWKS document ({"keys":[...]}); keys of unknown type
// are skipped, as Nimbus's JWKSet.parse skips what it cannot parse.
func parseJWKS(b []byte) ([]jwk, error) {
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("not a JWKS document: %w", err)
	}
	if doc.Keys == nil {
		return nil, errors.New(`not a JWKS document: missing "keys"`)
	}
	var out []jwk
	for _, m := range doc.Keys {
		str := func(k string) string { s, _ := m[k].(string); return s }
		num := func(k string) *big.Int {
			b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(str(k), "="))
			if err != nil || len(b) == 0 {
				return nil
			}
			return new(big.Int).SetBytes(b)
		}
		k := jwk{kid: str("kid"), alg: str("alg"), use: str("use"), kty: str("kty")}
		switch k.kty {
		case "RSA":
			n, e := num("n"), num("e")
			if n == nil || e == nil || !e.IsInt64() {
				continue
			}
			k.pub = &rsa.PublicKey{N: n, E: int(e.Int64())}
		case "EC":
			var c elliptic.Curve
			switch str("crv") {
			case "P-256":
				c = elliptic.P256()
			case "P-384":
				c = elliptic.P384()
			case "P-521":
				c = elliptic.P521()
			default:
				continue
			}
			x, y := str("x"), str("y")
			xb, err1 := base64.RawURLEncoding.DecodeString(strings.TrimRight(x, "="))
			yb, err2 := base64.RawURLEncoding.DecodeString(strings.TrimRight(y, "="))
			size := (c.Params().BitSize + 7) / 8
			if err1 != nil || err2 != nil || len(xb) > size || len(yb) > size {
				continue
			}
			pt := make([]byte, 1+2*size)
			pt[0] = 4
			copy(pt[1+size-len(xb):1+size], xb)
			copy(pt[1+2*size-len(yb):], yb)
			pub, err := ecdsa.ParseUncompressedPublicKey(c, pt)
			if err != nil {
				continue
			}
			k.pub = pub
		case "oct":
			b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(str("k"), "="))
			if err != nil {
				continue
			}
			k.secret = b
		default:
			continue
		}
		out = append(out, k)
	}
	return out, nil
}

func jwtHash(alg string) (crypto.Hash, func() hash.Hash) {
	switch alg[len(alg)-3:] {
	case "384":
		return crypto.SHA384, sha512.New384
	case "512":
		return crypto.SHA512, sha512.New
	}
	return crypto.SHA256, sha256.New
}

// compatible is JwkValidateUtil's filter: key type and size fit the alg,
// a JWK alg (if any) equals it, use is sig or absent.
func (k jwk) compatible(alg string) bool {
	if !slices.Contains(jwtAlgorithms, alg) {
		return false
	}
	if k.alg != "" && k.alg != alg {
		return false
	}
	if k.use != "" && k.use != "sig" {
		return false
	}
	switch alg[:2] {
	case "HS":
		min := map[string]int{"HS256": 32, "HS384": 48, "HS512": 64}[alg]
		return k.secret != nil && len(k.secret) >= min
	case "RS", "PS":
		p, ok := k.pub.(*rsa.PublicKey)
		return ok && p.N.BitLen() >= 2048
	case "ES":
		p, ok := k.pub.(*ecdsa.PublicKey)
		want := map[string]string{"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}[alg]
		return ok && p.Curve.Params().Name == want
	}
	return false
}

// verify checks t's signature with k.
func (k jwk) verify(t *jwtToken) bool {
	alg := t.alg()
	ch, newHash := jwtHash(alg)
	d := newHash()
	d.Write(t.signingInput)
	sum := d.Sum(nil)
	switch alg[:2] {
	case "HS":
		m := hmac.New(newHash, k.secret)
		m.Write(t.signingInput)
		return hmac.Equal(m.Sum(nil), t.sig)
	case "RS":
		return rsa.VerifyPKCS1v15(k.pub.(*rsa.PublicKey), ch, sum, t.sig) == nil
	case "PS":
		return rsa.VerifyPSS(k.pub.(*rsa.PublicKey), ch, sum, t.sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}) == nil
	case "ES":
		p := k.pub.(*ecdsa.PublicKey)
		n := (p.Curve.Params().BitSize + 7) / 8
		if len(t.sig) != 2*n {
			return false
		}
		r, s := new(big.Int).SetBytes(t.sig[:n]), new(big.Int).SetBytes(t.sig[n:])
		return ecdsa.Verify(p, sum, r, s)
	}
	return false
}
