package e2e

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/esgate/esgate/test/esserver"
)

// TestManagedAPIKey: esgate mints its own key with the route's user, renews
// it several times under bulk load with no failed request, invalidates the
// old keys, and re-mints at once when Elasticsearch refuses the key.
func TestManagedAPIKey(t *testing.T) {
	es, ca := esserver.StartT(t, esserver.Options{})
	es.PutRole("logstash_writer", esserver.Role{Cluster: []string{"monitor", "manage_own_api_key"},
		Indices: []esserver.IndexPrivileges{{Names: []string{"logstash-*"}, Privileges: []string{"create_doc", "auto_configure"}}}})
	es.AddUser("logstash_internal", "writer-password", "logstash_writer")
	pw := filepath.Join(t.TempDir(), "pw")
	writeFile(t, pw, "writer-password\n")
	const name = "esgate-managed-test"
	p := startEsgate(t, []string{"writer-password"}, "--hosts", es.URL, "--ssl-certificate-authorities", ca,
		"--user", "logstash_internal", "--password-file", pw, "--api-key-management", "--api-key-name", name,
		"--api-key-expiration", "3s", "--api-key-renew-after", "0.4", "--api-key-invalidate-delay", "300ms")
	waitLog(t, p, "API key minted")
	const index = "logstash-managed"
	l := startLoad(t, p.URL, index)
	time.Sleep(5 * time.Second) // about four renewals at 1.2 s
	l.stop(t, es, index)
	if n := strings.Count(p.out.String(), "API key minted"); n < 4 {
		t.Errorf("%d keys minted in 5 s; expected the first and at least 3 renewals", n)
	}
	if n := strings.Count(p.out.String(), "previous API key invalidated"); n < 2 {
		t.Errorf("%d old keys invalidated", n)
	}
	time.Sleep(500 * time.Millisecond)
	if n := es.ActiveAPIKeys(name); n != 1 {
		t.Errorf("%d active managed keys; expected 1", n)
	}

	// Elasticsearch refuses the key (invalidated behind esgate's back): the
	// next bodiless request is answered after a re-mint, not with a 401.
	if es.InvalidateAPIKeysNamed(name) == 0 {
		t.Fatal("no key to invalidate")
	}
	res, err := http.Get(p.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("after invalidation: %d", res.StatusCode)
	}
	waitLog(t, p, "Elasticsearch refused the managed API key; minting a new one")
	if n := es.ActiveAPIKeys(name); n != 1 {
		t.Errorf("%d active managed keys after re-mint", n)
	}
}
