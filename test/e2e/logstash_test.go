package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/esgate/esgate/test/esserver"
)

// TestLogstashStartupAndBulk replays what logstash-output-elasticsearch
// sends at startup and for a batch (facts A3, A4, A8), through esgate, with
// no credentials on the Logstash side, and checks every answer the way
// Logstash does. Logstash itself cannot be installed here.
func TestLogstashStartupAndBulk(t *testing.T) {
	es, ca := esserver.StartT(t, esserver.Options{})
	// The guide's logstash_writer role (with ILM); the bare rollover alias
	// name is listed too, so that the replay does not depend on how ES
	// authorizes a not-yet-existing alias.
	es.PutRole("logstash_writer", esserver.Role{
		Cluster: []string{"manage_index_templates", "monitor", "manage_ilm"},
		Indices: []esserver.IndexPrivileges{{Names: []string{"logstash-*", "logstash"}, Privileges: []string{"write", "create", "create_index", "manage", "manage_ilm"}}},
	})
	es.AddUser("logstash_internal", "x-pack-test-password", "logstash_writer")
	pwFile := t.TempDir() + "/pw"
	writeFile(t, pwFile, "x-pack-test-password\n")
	p := startEsgate(t, []string{"x-pack-test-password"}, "--hosts", es.URL, "--ssl-certificate-authorities", ca,
		"--user", "logstash_internal", "--password-file", pwFile)

	var mu sync.Mutex
	var seen []string
	es.OnRequest(func(r *http.Request) {
		if r.URL.Path == "/_security/_authenticate" {
			return // esgate's own readiness probe, not Logstash's
		}
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, r.Method+" "+r.URL.RequestURI()+" auth="+strings.Fields(r.Header.Get("Authorization") + " -")[0])
	})
	ls := &lsClient{t: t, url: p.URL, origin: "logstash-output-elasticsearch"}
	ls.register() // HEAD /, GET / (version, X-Elastic-Product), GET /_license, GET / (cluster_uuid)
	ls.do("HEAD", "/_index_template/logstash", "", false, 404)
	ls.do("PUT", "/_index_template/logstash", `{"index_patterns":"logstash-*","version":80001,"priority":200,"template":{"settings":{"index.refresh_interval":"5s","number_of_shards":1}}}`, false, 200)
	ls.do("HEAD", "/logstash", "", false, 404)
	ls.do("PUT", "/%3Clogstash-%7Bnow%2Fd%7D-000001%3E", `{"aliases":{"logstash":{"is_write_index":true}}}`, false, 200)
	if body := ls.do("GET", "/_ilm/policy/logstash-policy", "", false, 404); !strings.Contains(string(body), `"type":"resource_not_found_exception","reason":"Lifecycle policy not found: [logstash-policy]"`) {
		t.Fatalf("ILM 404 body: %s", body)
	}
	ls.do("PUT", "/_ilm/policy/logstash-policy", `{"policy":{"phases":{"hot":{"actions":{"rollover":{"max_size":"50gb","max_age":"30d"}}}}}}`, false, 200)

	// One pipeline batch: 125 events, gzip level 1, Logstash's filter_path
	// and event-count headers.
	var batch strings.Builder
	for i := 0; i < 125; i++ {
		fmt.Fprintf(&batch, "{\"index\":{\"_id\":null,\"_index\":\"logstash\",\"routing\":null}}\n{\"@timestamp\":\"2026-11-27T12:00:%02d.000Z\",\"@version\":\"1\",\"message\":\"event %d\",\"host\":{\"name\":\"ls-1\"}}\n", i%60, i)
	}
	body := ls.do("POST", "/_bulk?filter_path=errors,items.*.error,items.*.status", batch.String(), true, 200,
		"X-Elastic-Event-Count", "125", "X-Elastic-Uncompressed-Request-Length", strconv.Itoa(batch.Len()))
	var br struct {
		Errors bool
		Items  []map[string]struct{ Status int }
	}
	json.Unmarshal(body, &br)
	if br.Errors || len(br.Items) != 125 || br.Items[0]["index"].Status != 201 {
		t.Fatalf("bulk response: %s", body)
	}
	if n := es.Count("logstash"); n != 125 {
		t.Errorf("%d documents behind the alias", n)
	}
	// Every request reached Elasticsearch with esgate's Basic credential.
	mu.Lock()
	defer mu.Unlock()
	wantAuth := "auth=Basic"
	for _, s := range seen {
		if !strings.HasSuffix(s, wantAuth) {
			t.Errorf("upstream request without credential: %s", s)
		}
	}
	if len(seen) != 11 {
		t.Errorf("%d upstream requests; expected 11: %q", len(seen), seen)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
