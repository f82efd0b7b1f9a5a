package proxy_test

import (
	"strings"
	"sync"
	"testing"
	"time"

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

// TestCompatMajorWarning: a compat-7 route against Elasticsearch 9 is
// warned about at start, naming the version; against 8 it is fine.
func TestCompatMajorWarning(t *testing.T) {
	for _, v := range []string{"9.1.5", "8.15.3"} {
		es, ca := esserver.StartT(t, esserver.Options{Version: v})
		type result struct {
			version string
			ok      bool
		}
		got := make(chan result, 1)
		sandwich(t, certs.Options{CAFiles: []string{ca}}, auth.Raw("basic", "Basic ZWxhc3RpYzpjaGFuZ2VtZQ=="), func(o *proxy.Options) {
			o.RESTCompat = 7
			o.OnCompatChecked = func(version string, ok bool) { got <- result{version, ok} }
		}, es.URL)
		select {
		case r := <-got:
			if r.version != v || r.ok != (v == "8.15.3") {
				t.Errorf("ES %s: checked %+v", v, r)
			}
		case <-time.After(catchHang):
			t.Fatalf("ES %s: the cluster's version was never checked", v)
		}
	}
}
