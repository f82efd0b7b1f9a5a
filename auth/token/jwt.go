package token

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"time"
)

// Claims are the registered claims of a JWT that esgate reads. Times are
// zero when the claim is absent.
type Claims struct {
	Subject  string
	Issuer   string
	Audience []string
	Expiry   time.Time
	IssuedAt time.Time
}

// ErrNotJWT is returned by ParseClaims for a value that is not a signed
// JWT (three base64url parts whose middle one is a JSON object).
var ErrNotJWT = errors.New("not a JWT")

// maxJWT bounds what ParseClaims decodes.
const maxJWT = 64 << 10

// ParseClaims reads the claims of a compact JWS without verifying its
// signature. Errors never quote the token.
func ParseClaims(tok string) (Claims, error) {
	if len(tok) > maxJWT {
		return Claims{}, ErrNotJWT
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return Claims{}, ErrNotJWT
	}
	hdr, err := b64(parts[0])
	if err != nil {
		return Claims{}, ErrNotJWT
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(hdr, &h) != nil || h.Alg == "" || strings.EqualFold(h.Alg, "none") {
		return Claims{}, ErrNotJWT
	}
	payload, err := b64(parts[1])
	if err != nil {
		return Claims{}, ErrNotJWT
	}
	var raw struct {
		Sub any             `json:"sub"`
		Iss any             `json:"iss"`
		Aud any             `json:"aud"`
		Exp json.RawMessage `json:"exp"`
		Iat json.RawMessage `json:"iat"`
	}
	if json.Unmarshal(payload, &raw) != nil {
		return Claims{}, ErrNotJWT
	}
	var c Claims
	c.Subject, _ = raw.Sub.(string)
	c.Issuer, _ = raw.Iss.(string)
	switch a := raw.Aud.(type) {
	case string:
		c.Audience = []string{a}
	case []any:
		for _, v := range a {
			if s, ok := v.(string); ok {
				c.Audience = append(c.Audience, s)
			}
		}
	}
	if c.Expiry, err = numericDate(raw.Exp); err != nil {
		return Claims{}, errors.New("JWT claim exp: want a number of seconds")
	}
	if c.IssuedAt, err = numericDate(raw.Iat); err != nil {
		return Claims{}, errors.New("JWT claim iat: want a number of seconds")
	}
	return c, nil
}

func b64(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// numericDate parses an RFC 7519 NumericDate (seconds, possibly
// fractional); null or absent is the zero time.
func numericDate(m json.RawMessage) (time.Time, error) {
	if len(m) == 0 || string(m) == "null" {
		return time.Time{}, nil
	}
	var f float64
	if err := json.Unmarshal(m, &f); err != nil {
		return time.Time{}, err
	}
	if math.IsNaN(f) || f < 0 || f > 1e11 {
		return time.Time{}, errors.New("out of range")
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
}
