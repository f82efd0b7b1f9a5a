package issuer_test

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/esgate/esgate/test/esserver"
	"github.com/esgate/esgate/test/issuer"
)

// TestDocUsage follows the package doc's usage: a token from the token
// endpoint's key, the projected file and a shared-secret rotation.
func TestDocUsage(t *testing.T) {
	iss, issCA := issuer.StartT(t, issuer.Options{Lifetime: 3 * time.Second})
	iss.AddClient("logstash", "s3cret")
	realm := iss.RealmSettings(issCA)
	realm["allowed_clock_skew"] = "0s"
	realm["client_authentication.type"] = "shared_secret"
	realm["client_authentication.shared_secret"] = "old"
	es, esCA := esserver.StartT(t, esserver.Options{JWTRealms: []esserver.JWTRealm{{Name: "jwt1", Settings: realm}}})
	es.PutRoleMapping("logstash", esserver.RoleMapping{Roles: []string{"superuser"}, Enabled: true,
		Rules: map[string]any{"field": map[string]any{"username": "logstash"}}})
	b, _ := os.ReadFile(esCA)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(b)
	cli := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	get := func(tok, secret string) int {
		req, _ := http.NewRequest("GET", es.URL+"/", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("ES-Client-Authentication", "SharedSecret "+secret)
		res, err := cli.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	tok, err := iss.Mint("logstash", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if st := get(tok, "old"); st != 200 {
		t.Fatalf("superuser by mapping: %d", st)
	}
	es.SetSecureSetting("xpack.security.authc.realms.jwt.jwt1.client_authentication.shared_secret", "new")
	es.ReloadSecureSettings()
	if get(tok, "new") != 200 || get(tok, "old") != 200 || get(tok, "other") != 401 {
		t.Fatal("rotation")
	}
	p, err := iss.Project(issuer.ProjectedOptions{Dir: t.TempDir(), Lifetime: 6 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	es.PutRoleMapping("k8s", esserver.RoleMapping{Roles: []string{"viewer"}, Enabled: true,
		Rules: map[string]any{"field": map[string]any{"username": "system:serviceaccount:logs:*"}}})
	projected, _ := os.ReadFile(p.TokenPath())
	if st := get(string(projected), "new"); st != 200 {
		t.Fatalf("projected: %d", st)
	}
	if st := es.JWTStats(); st.ExpiredOnArrival != 0 || st.Accepted != 4 || st.Rejected != 1 || iss.Issued("logstash") != 1 {
		t.Fatalf("stats %+v, issued %d", st, iss.Issued("logstash"))
	}
}
