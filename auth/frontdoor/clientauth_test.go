package frontdoor

import (
	"net/http/httptest"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func TestConfigErrors(t *testing.T) {
	for _, tt := range []struct {
		c    Config
		want string
	}{
		{Config{CertFile: "x"}, "listen_ssl_certificate and listen_ssl_key go together"},
		{Config{ClientCAs: []string{"ca"}}, "listen_ssl_client_ca needs TLS on the listener"},
		{Config{BasicUsers: []string{"alice"}}, "client_basic_users: want name:bcrypt-hash"},
		{Config{BasicUsers: []string{"alice:plain"}}, "client_basic_users: alice: not a bcrypt hash"},
		{Config{BearerTokens: []string{"bob:abc"}}, "client_bearer_tokens: want name:sha256-hex"},
	} {
		if _, err := New(tt.c, nil); err == nil || err.Error()[:len(tt.want)] != tt.want {
			t.Errorf("%+v: %v; expected %q", tt.c, err, tt.want)
		}
	}
}

// TestLimiter: ten failures in the window block an address, others are
// not affected, and the block ends with the window.
func TestLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := &Limiter{now: func() time.Time { return now }}
	for i := 0; i < 10; i++ {
		if l.Blocked("a") {
			t.Fatalf("blocked after %d failures", i)
		}
		l.Fail("a")
	}
	if !l.Blocked("a") || l.Blocked("b") {
		t.Fatal("ten failures of a should block a, and only a")
	}
	now = now.Add(61 * time.Second)
	if l.Blocked("a") {
		t.Error("still blocked after the window")
	}
}

// TestSecretsNotInRefusals: no refusal repeats what the client sent.
func TestSecretsNotInRefusals(t *testing.T) {
	h, _ := bcrypt.GenerateFromPassword([]byte("right"), 4)
	g, err := New(Config{BasicUsers: []string{"alice:" + string(h)}, BearerTokens: []string{"bob:" + HashToken("tok")[len("sha256:"):]}}, &Limiter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, hdr := range []string{"Basic YWxpY2U6c2VjcmV0LWd1ZXNz", "Bearer secret-guess"} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", hdr)
		id, ref := g.Authenticate(r)
		if id != "" || ref == nil || ref.Status != 401 {
			t.Fatalf("%s: %q %+v", hdr, id, ref)
		}
		for _, s := range []string{"secret-guess", "YWxpY2U6c2VjcmV0LWd1ZXNz"} {
			if contains(ref.Reason, s) {
				t.Errorf("the refusal repeats the secret: %s", ref.Reason)
			}
		}
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer tok")
	if id, ref := g.Authenticate(r); id != "token:bob" || ref != nil {
		t.Errorf("bob's token: %q %+v", id, ref)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
