package auth

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var apiKeyTests = []struct {
	name, in, want string
	err            error
}{
	{"id:key", "VuaCfGcBCdbkQm-e5aOx:ui2lp2axTNmsyakw9tvNnw", "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==", nil},
	{"encoded", "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==", "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==", nil},
	{"encoded, unpadded", "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw", "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==", nil},
	{"surrounding space", "  id:key\n", base64.StdEncoding.EncodeToString([]byte("id:key")), nil},
	{"cloud essu_", "essu_VUhWaU1GSTRTVkJSVFU5aE9VeFdjbU5EVmpFNlkzVTVNbWxzY2pKUlFtVkljelJtUldZeWFVaFJadz09AAAAABKkwJY=", "essu_VUhWaU1GSTRTVkJSVFU5aE9VeFdjbU5EVmpFNlkzVTVNbWxzY2pKUlFtVkljelJtUldZeWFVaFJadz09AAAAABKkwJY=", nil},
	{"empty", "", "", ErrEmpty},
	{"no key part", "id:", "", ErrAPIKeyFormat},
	{"two colons", "a:b:c", "", ErrAPIKeyFormat},
	{"base64 of no colon", base64.StdEncoding.EncodeToString([]byte("nocolon")), "", ErrAPIKeyFormat},
	{"not base64", "not a key", "", ErrAPIKeyFormat},
	{"ApiKey prefix pasted", "ApiKey dGVzdDp0ZXN0", "", ErrAPIKeyFormat},
}

func TestParseAPIKey(t *testing.T) {
	for _, tt := range apiKeyTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAPIKey(tt.in)
			if err != tt.err || got != tt.want {
				t.Errorf("got %q, %v; expected %q, %v", got, err, tt.want, tt.err)
			}
		})
	}
}

func FuzzParseAPIKey(f *testing.F) {
	for _, tt := range apiKeyTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		enc, err := ParseAPIKey(s)
		if err != nil {
			if ts := strings.TrimSpace(s); len(ts) >= 12 && strings.Contains(err.Error(), ts) {
				t.Fatalf("error echoes the key: %v", err)
			}
			return
		}
		// The header value must be a single token, and parsing is idempotent.
		if enc == "" || strings.ContainsAny(enc, " \t\r\n") {
			t.Fatalf("ParseAPIKey(%q) = %q", s, enc)
		}
		again, err := ParseAPIKey(enc)
		if err != nil || again != enc {
			t.Fatalf("ParseAPIKey(%q) = %q, but ParseAPIKey of that = %q, %v", s, enc, again, err)
		}
		if !strings.HasPrefix(enc, "essu_") {
			dec, err := base64.StdEncoding.DecodeString(enc)
			if err != nil || strings.Count(string(dec), ":") < 1 {
				t.Fatalf("ParseAPIKey(%q) = %q, which does not decode to id:key", s, enc)
			}
		}
	})
}

func TestCredentialsApply(t *testing.T) {
	h := http.Header{"Authorization": {"Basic ZXZpbDpldmls"}}
	Basic("elastic", "pw").Apply(h)
	if g, e := h.Get("Authorization"), "Basic ZWxhc3RpYzpwdw=="; g != e || len(h.Values("Authorization")) != 1 {
		t.Errorf("got %q; expected %q", h.Values("Authorization"), e)
	}
	APIKey("abc").Apply(h)
	if g := h.Get("Authorization"); g != "ApiKey abc" {
		t.Errorf("got %q", g)
	}
	Bearer("tok").Apply(h)
	if g := h.Get("Authorization"); g != "Bearer tok" {
		t.Errorf("got %q", g)
	}
	NoHeader("pki").Apply(h)
	if _, ok := h["Authorization"]; ok {
		t.Error("pki left an Authorization header")
	}
	// Formatting a credential never shows the secret.
	for _, c := range []Credential{Basic("u", "SECRETPW"), APIKey("SECRETKEY"), Bearer("SECRETTOK")} {
		for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%v %+v %s", c, c, c)} {
			if strings.Contains(s, "SECRET") {
				t.Errorf("%s leaks", s)
			}
		}
	}
}

func TestSourceReloadKeepsOldOnError(t *testing.T) {
	p := filepath.Join(t.TempDir(), "key")
	os.WriteFile(p, []byte("id:one\n"), 0o600)
	load := func() (Credential, error) {
		s, err := ReadSecretFile(p)
		if err != nil {
			return nil, err
		}
		enc, err := ParseAPIKey(s)
		if err != nil {
			return nil, err
		}
		return APIKey(enc), nil
	}
	src, err := NewSource(load)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	os.WriteFile(p, []byte("garbage value\n"), 0o600)
	if err := src.Reload(); err == nil {
		t.Fatal("reload of a bad key succeeded")
	}
	src.Apply(h)
	if g, e := h.Get("Authorization"), "ApiKey "+base64.StdEncoding.EncodeToString([]byte("id:one")); g != e {
		t.Errorf("after failed reload: %q; expected %q", g, e)
	}
	os.WriteFile(p, []byte("id:two\n"), 0o600)
	if err := src.Reload(); err != nil {
		t.Fatal(err)
	}
	src.Apply(h)
	if g, e := h.Get("Authorization"), "ApiKey "+base64.StdEncoding.EncodeToString([]byte("id:two")); g != e {
		t.Errorf("after reload: %q; expected %q", g, e)
	}
}
