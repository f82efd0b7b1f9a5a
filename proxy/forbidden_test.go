package proxy_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/esgate/esgate/auth"
	"github.com/esgate/esgate/certs"
	"github.com/esgate/esgate/proxy"
	"github.com/esgate/esgate/test/esserver"
)

// TestForbiddenIsExplained: a key narrowed to data streams that meets
// Logstash's ILM setup gets Elasticsearch's 403 unchanged, and esgate
// explains it once per action, naming bootstrap's fix.
func TestForbiddenIsExplained(t *testing.T) {
	es, ca := esserver.StartT(t, esserver.Options{})
	_, _, key := es.CreateAPIKey("elastic", "ds-only", 0, map[string]esserver.Role{"w": {Cluster: []string{"monitor"},
		Indices: []esserver.IndexPrivileges{{Names: []string{"logs-*-*"}, Privileges: []string{"create_doc", "auto_configure"}}}}})
	var mu sync.Mutex
	var explained []string
	u, _ := sandwich(t, certs.Options{CAFiles: []string{ca}}, auth.Raw("api_key", "ApiKey "+key), func(o *proxy.Options) {
		o.OnForbidden = func(action, hint string) {
			mu.Lock()
			defer mu.Unlock()
			explained = append(explained, action+": "+hint)
		}
	}, es.URL)
	for range 3 { // Logstash retries; one explanation
		res, body := do(t, "PUT", u+"/_ilm/policy/logstash-policy", `{"policy":{"phases":{}}}`, "Content-Type", "application/json")
		if res.StatusCode != 403 || !strings.Contains(body, "action [cluster:admin/ilm/put] is unauthorized") {
			t.Fatalf("%d %s", res.StatusCode, body)
		}
	}
	if res, _ := do(t, "PUT", u+"/_index_template/ecs-logstash", `{"index_patterns":["ecs-logstash-*"]}`, "Content-Type", "application/json"); res.StatusCode != 403 {
		t.Fatalf("template: %d", res.StatusCode)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(explained) != 2 || !strings.Contains(explained[0], "cluster:admin/ilm/put: this credential cannot manage ILM") ||
		!strings.Contains(explained[0], "--logstash-output ilm") || !strings.HasPrefix(explained[1], "indices:admin/index_template/put: this credential cannot manage index templates") {
		t.Errorf("explained %q", explained)
	}
}
