package e2e

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/esgate/esgate/test/esserver"
)

// TestPrivilegeDoctor: a role missing create_index for the classic index
// output and the monitoring rights gets an exact report of what each
// blocks and the fix.
func TestPrivilegeDoctor(t *testing.T) {
	es, ca := esserver.StartT(t, esserver.Options{})
	es.PutRole("half_writer", esserver.Role{Cluster: []string{"monitor", "manage_index_templates"},
		Indices: []esserver.IndexPrivileges{{Names: []string{"logstash-*"}, Privileges: []string{"index", "create_doc", "view_index_metadata"}}}})
	es.AddUser("ls_writer", "writer-pass", "half_writer")
	args := []string{"check", "--name", "doctor", "--hosts", es.URL, "--ssl-certificate-authorities", ca,
		"--user", "ls_writer", "--password", "writer-pass", "--privileges", "--monitoring", "--logstash-output", "index"}
	out, err := exec.Command(esgateBin, args...).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Fatalf("exit %v:\n%s", err, out)
	}
	want := `privileges of route "doctor" for cluster [monitor,manage_index_templates,cluster:admin/xpack/monitoring/bulk] indices logstash-* [index,create_index] indices .monitoring-ls-* [create_index,create]:
  MISSING (user "ls_writer" realm default_native):
    cluster:admin/xpack/monitoring/bulk cluster: blocks POST /_monitoring/bulk: Logstash's monitoring data is refused
      fix: add "cluster:admin/xpack/monitoring/bulk" to the cluster privileges of the user's roles
    create_index on logstash-*: blocks indices:admin/create and indices:admin/auto_create: new indices cannot be created
      fix: add "create_index" to the index privileges for logstash-* of the user's roles
    create_index on .monitoring-ls-*: blocks indices:admin/create and indices:admin/auto_create: new indices cannot be created
      fix: add "create_index" to the index privileges for .monitoring-ls-* of the user's roles
    create on .monitoring-ls-*: blocks indices:data/write/bulk[s] (create): documents cannot be written
      fix: add "create" to the index privileges for .monitoring-ls-* of the user's roles
error: privileges are missing (see above)
`
	if i := strings.Index(string(out), "privileges of route"); i < 0 || string(out)[i:] != want {
		t.Errorf("report:\n%s\nwant:\n%s", out, want)
	}

	// JSON, and an API key with everything: exit 0.
	es.PutRole("full_writer", esserver.Role{Cluster: []string{"monitor", "manage_index_templates", "manage_ilm"},
		Indices: []esserver.IndexPrivileges{{Names: []string{"logstash-*"}, Privileges: []string{"write", "create_index", "auto_configure", "manage", "view_index_metadata", "manage_ilm"}}}})
	es.AddUser("ls_full", "full-pass", "full_writer")
	_, _, key := es.CreateAPIKey("ls_full", "k", 0, nil)
	out, err = exec.Command(esgateBin, "check", "--hosts", es.URL, "--ssl-certificate-authorities", ca, "--api-key", key, "--privileges", "--logstash-output", "index", "--output", "json").Output()
	if err != nil {
		t.Fatalf("%v %s", err, out)
	}
	i := strings.Index(string(out), "{")
	var rep struct {
		Routes []struct {
			Principal string
			Missing   []any
		}
	}
	if err := json.Unmarshal(out[i:], &rep); err != nil || len(rep.Routes) != 1 || len(rep.Routes[0].Missing) != 0 || !strings.Contains(rep.Routes[0].Principal, "API key") {
		t.Errorf("json %v: %s", err, out)
	}
}
