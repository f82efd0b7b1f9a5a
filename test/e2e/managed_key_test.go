package e2e

import (
	"net/http"
	"path/filepath"
	"testing"

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
	waitMetric(t, p, 1, "esgate_api_key_mints_total", `trigger="start"`)
	const index = "logstash-managed"
	l := startLoad(t, p.URL, index)
	// Renewals every 1.2 s: wait for three under load, and two of the
	// keys they replaced invalidated.
	waitMetric(t, p, 3, "esgate_api_key_mints_total", `trigger="scheduled"`)
	waitMetric(t, p, 2, "esgate_api_key_invalidations_total")
	l.stop(t, es, index)
	mints := p.metricSum(t, "esgate_api_key_mints_total")
	// Every key but the one in force is invalidated InvalidateDelay after
	// its replacement.
	waitMetric(t, p, mints-1, "esgate_api_key_invalidations_total")
	if n := es.ActiveAPIKeys(name); n < 1 || n > 2 {
		t.Errorf("%d active managed keys; expected the one in force (and at most one replaced moments ago)", n)
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
	if n := p.metricSum(t, "esgate_api_key_mints_total", `trigger="refused key"`); n < 1 {
		t.Errorf("no re-mint after the refusal (mints for refused keys: %v)", n)
	}
}
