package e2e

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/esgate/esgate/test/esserver"
)

// TestNodeClients: the official Node.js clients, @elastic/elasticsearch 8
// and 9 (installed by .ci/run from npm: the 9.x generation's stand-in, as
// PyPI is out of reach), through esgate against both majors of the test
// server: info, the bulk helper with 500 documents, a search. A 9.x client
// against an 8.x cluster gets ES 8's own 400 through esgate, unchanged.
func TestNodeClients(t *testing.T) {
	need(t, "/usr/bin/node")
	dir, _ := filepath.Abs("node")
	for _, pkg := range []string{"es8", "es9"} {
		need(t, filepath.Join(dir, "node_modules", pkg, "package.json"))
	}
	type result struct {
		Client, Server string
		Bulk           struct{ Total, Successful, Failed int }
		Hits           int
		Error          *struct {
			Status      int
			Type, Cause string
		}
	}
	servers := map[string]*esserver.Server{}
	routes := map[string]string{}
	for _, v := range []string{"8.15.3", "9.1.5"} {
		es, ca := esserver.StartT(t, esserver.Options{Version: v})
		_, _, key := es.CreateAPIKey("elastic", "node", 0, map[string]esserver.Role{"node": {Cluster: []string{"monitor"},
			Indices: []esserver.IndexPrivileges{{Names: []string{"node-*"}, Privileges: []string{"create_doc", "auto_configure", "read", "view_index_metadata"}}}}})
		servers[v] = es
		routes[v] = startEsgate(t, []string{key}, "--hosts", es.URL, "--ssl-certificate-authorities", ca, "--api-key", key).URL
	}
	for _, c := range []struct {
		pkg, server string
		ok          bool
	}{
		{"es9", "9.1.5", true},
		{"es8", "9.1.5", true},
		{"es8", "8.15.3", true},
		{"es9", "8.15.3", false},
	} {
		index := fmt.Sprintf("node-%s-%s", c.pkg, strings.ReplaceAll(c.server, ".", ""))
		cmd := exec.Command("node", filepath.Join(dir, "clients.mjs"), c.pkg, routes[c.server], index)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		var r result
		if err != nil || json.Unmarshal(out, &r) != nil {
			t.Errorf("%s → ES %s: %v\n%s", c.pkg, c.server, err, out)
			continue
		}
		t.Logf("@elastic/elasticsearch %s → esgate → ES %s: %s", r.Client, c.server, strings.TrimSpace(string(out)))
		major := c.pkg[2:]
		if !strings.HasPrefix(r.Client, major+".") {
			t.Errorf("%s is client %s", c.pkg, r.Client)
		}
		if c.ok {
			if r.Error != nil || r.Server != c.server || r.Bulk.Total != 500 || r.Bulk.Successful != 500 || r.Bulk.Failed != 0 || r.Hits != 500 {
				t.Errorf("%s → ES %s: %s", c.pkg, c.server, out)
			}
			if n := servers[c.server].Count(index); n != 500 {
				t.Errorf("%s → ES %s: _count %d", c.pkg, c.server, n)
			}
			continue
		}
		want := "Accept version must be either version 8 or 7, but found 9. Accept=application/vnd.elasticsearch+json; compatible-with=9"
		if r.Error == nil || r.Error.Status != 400 || r.Error.Type != "media_type_header_exception" || !strings.HasPrefix(r.Error.Cause, want) {
			t.Errorf("%s → ES %s: want ES 8's 400 (%s): %s", c.pkg, c.server, want, out)
		}
	}
}
