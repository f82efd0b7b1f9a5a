package e2e

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/esgate/esgate/auth/bootstrap"
	"github.com/esgate/esgate/test/esserver"
)

// recorder keeps the requests the test server received.
type recorder struct {
	mu   sync.Mutex
	reqs []string
	body map[string][]byte // "METHOD path" -> last body
}

func record(es *esserver.Server) *recorder {
	rec := &recorder{body: map[string][]byte{}}
	es.OnRequest(func(r *http.Request) {
		var b []byte
		if r.Body != nil {
			b, _ = io.ReadAll(r.Body)
			r.Body = io.NopCloser(strings.NewReader(string(b)))
		}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		k := r.Method + " " + r.URL.Path
		rec.reqs = append(rec.reqs, k)
		rec.body[k] = b
	})
	return rec
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.reqs
	r.reqs = nil
	return out
}

// writes lists requests that change state (verification's reads excluded).
func writes(reqs []string) []string {
	var out []string
	for _, r := range reqs {
		if strings.HasPrefix(r, "GET ") || strings.HasPrefix(r, "HEAD ") || r == "POST /_security/user/_has_privileges" {
			continue
		}
		out = append(out, r)
	}
	return out
}

type bootstrapEnv struct {
	es      *esserver.Server
	ca      string
	dir     string
	secrets string
	rec     *recorder
}

func newBootstrapEnv(t *testing.T) *bootstrapEnv { return newBootstrapEnvVersion(t, "") }

// newBootstrapEnvVersion is newBootstrapEnv against a server reporting
// version ("" for the test server's default 8.x).
func newBootstrapEnvVersion(t *testing.T, version string) *bootstrapEnv {
	es, ca := esserver.StartT(t, esserver.Options{Version: version})
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "admin_pw"), "changeme\n")
	return &bootstrapEnv{es: es, ca: ca, dir: dir, secrets: filepath.Join(dir, "esgate.secrets"), rec: record(es)}
}

// run runs esgate bootstrap with admin elastic and returns output and exit code.
func (e *bootstrapEnv) run(t *testing.T, args ...string) (string, int) {
	t.Helper()
	base := []string{"bootstrap", "--hosts", e.es.URL, "--ssl-certificate-authorities", e.ca, "--user", "elastic",
		"--password-file", filepath.Join(e.dir, "admin_pw"), "--secrets-file", e.secrets, "--hostname", "ls-01"}
	cmd := exec.Command(esgateBin, append(base, args...)...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// TestBootstrapEndToEnd provisions a fresh cluster, then uses the minted
// credentials through esgate: publish writes logstash-* only, read reads
// but cannot write, monitoring writes .monitoring-ls-* only. A second run
// writes nothing; --rotate leaves one active key per purpose.
func TestBootstrapEndToEnd(t *testing.T) {
	e := newBootstrapEnv(t)
	out, code := e.run(t)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{"role     logstash_writer", "create", "api_key  esgate-publish-ls-01", "api_key:publish              ok", "user:logstash_internal       ok", "Secrets written to " + e.secrets} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	fi, err := os.Stat(e.secrets)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secrets file: %v %v", fi, err)
	}
	s, err := bootstrap.ReadSecrets(e.secrets)
	if err != nil || len(s.APIKeys) != 4 || len(s.Passwords) != 4 {
		t.Fatalf("secrets %+v %v", s, err)
	}
	for _, secret := range append(keysOf(s), valuesOf(s.Passwords)...) {
		if strings.Contains(out, secret) {
			t.Fatal("bootstrap printed a secret without --show-secrets")
		}
	}

	bulk := func(p *proc, index string) (int, string) {
		res, err := http.Post(p.URL+"/_bulk?filter_path=items.*.status,items.*.error.type", "application/json",
			strings.NewReader("{\"create\":{\"_index\":\""+index+"\"}}\n{\"message\":\"x\"}\n"))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	serve := func(purpose string) *proc {
		k := s.APIKeys[purpose].Encoded
		return startEsgate(t, []string{k}, "--hosts", e.es.URL, "--ssl-certificate-authorities", e.ca, "--api-key", k)
	}
	pub := serve("publish")
	if st, b := bulk(pub, "logstash-2026.11.27"); st != 200 || b != `{"items":[{"create":{"status":201}}]}` {
		t.Errorf("publish into logstash-*: %d %s", st, b)
	}
	if st, b := bulk(pub, "secret-index"); st != 200 || b != `{"items":[{"create":{"status":403,"error":{"type":"security_exception"}}}]}` {
		t.Errorf("publish outside the pattern: %d %s", st, b)
	}
	rd := serve("read")
	res, err := http.Get(rd.URL + "/logstash-2026.11.27/_count")
	if err != nil {
		t.Fatal(err)
	}
	cb, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(cb), `"count":1`) {
		t.Errorf("reader _count: %d %s", res.StatusCode, cb)
	}
	if _, b := bulk(rd, "logstash-2026.11.27"); !strings.Contains(b, `"status":403`) {
		t.Errorf("reader could write: %s", b)
	}
	mon := serve("monitoring")
	if _, b := bulk(mon, ".monitoring-ls-8-2026.11.27"); b != `{"items":[{"create":{"status":201}}]}` {
		t.Errorf("monitoring into .monitoring-ls-*: %s", b)
	}
	if _, b := bulk(mon, "logstash-2026.11.27"); !strings.Contains(b, `"status":403`) {
		t.Errorf("monitoring could write logstash-*: %s", b)
	}

	// Second run: nothing changes.
	e.rec.take()
	out, code = e.run(t)
	if code != 0 || strings.Contains(out, " create ") || strings.Contains(out, " update ") {
		t.Errorf("second run exit %d:\n%s", code, out)
	}
	if w := writes(e.rec.take()); len(w) != 0 {
		t.Errorf("second run wrote: %q", w)
	}
	s2, _ := bootstrap.ReadSecrets(e.secrets)
	if !reflect.DeepEqual(s, s2) {
		t.Error("second run changed the secrets file")
	}

	// --rotate: new keys recorded, old ones invalidated, one active each.
	out, code = e.run(t, "--rotate", "--only", "keys")
	if code != 0 {
		t.Fatalf("rotate exit %d:\n%s", code, out)
	}
	s3, _ := bootstrap.ReadSecrets(e.secrets)
	for _, purpose := range bootstrap.Purposes {
		if s3.APIKeys[purpose].ID == s.APIKeys[purpose].ID {
			t.Errorf("%s key not rotated", purpose)
		}
		if n := activeKeys(t, e, "esgate-"+purpose+"-ls-01"); n != 1 {
			t.Errorf("%s: %d active keys after rotate", purpose, n)
		}
	}
	if s3.Passwords["logstash_internal"] != s.Passwords["logstash_internal"] {
		t.Error("rotating keys changed a password")
	}
	// The old publish key no longer works; the new one does.
	if st, _ := bulk(pub, "logstash-2026.11.27"); st != 401 {
		t.Errorf("old publish key: status %d", st)
	}
}

func activeKeys(t *testing.T, e *bootstrapEnv, name string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", e.es.URL+"/_security/api_key?active_only=true&name="+name, nil)
	req.SetBasicAuth("elastic", "changeme")
	res, err := tlsClient(t, e.ca).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var v struct {
		APIKeys []struct{ ID string } `json:"api_keys"`
	}
	json.NewDecoder(res.Body).Decode(&v)
	return len(v.APIKeys)
}

func keysOf(s *bootstrap.Secrets) []string {
	var out []string
	for _, k := range s.APIKeys {
		out = append(out, k.Encoded)
	}
	return out
}

func valuesOf(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// TestBootstrapDryRunWritesNothing: the plan is printed and only reads happen.
func TestBootstrapDryRunWritesNothing(t *testing.T) {
	e := newBootstrapEnv(t)
	out, code := e.run(t, "--dry-run")
	if code != 0 || !strings.Contains(out, "Plan (dry run: nothing is written):") || !strings.Contains(out, "role     logstash_writer                    create") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if w := writes(e.rec.take()); len(w) != 0 {
		t.Errorf("dry run wrote: %q", w)
	}
	if _, err := os.Stat(e.secrets); err == nil {
		t.Error("dry run wrote a secrets file")
	}
	out, code = e.run(t, "--dry-run", "--output", "json", "--only", "roles")
	var rep bootstrap.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 {
		t.Fatalf("json output %v (exit %d): %s", err, code, out)
	}
	if !rep.DryRun || len(rep.Actions) != 2 || rep.Actions[0].Kind != "role" || rep.Actions[0].Op != "create" {
		t.Errorf("report %+v", rep)
	}
}

// TestBootstrapNeedsManageSecurity: a non-admin gets a clear failure.
func TestBootstrapNeedsManageSecurity(t *testing.T) {
	e := newBootstrapEnv(t)
	e.es.PutRole("ops", esserver.Role{Cluster: []string{"monitor"}})
	e.es.AddUser("ops", "ops-password", "ops")
	writeFile(t, filepath.Join(e.dir, "admin_pw"), "ops-password\n")
	base := []string{"bootstrap", "--hosts", e.es.URL, "--ssl-certificate-authorities", e.ca, "--user", "ops",
		"--password-file", filepath.Join(e.dir, "admin_pw"), "--secrets-file", e.secrets}
	out, err := exec.Command(esgateBin, base...).CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit %v:\n%s", err, out)
	}
	want := `error: getting role "logstash_writer": 403 Forbidden: action [cluster:admin/xpack/security/role/get] is unauthorized for user [ops] with effective roles [ops], this action is granted by the cluster privileges [read_security,manage_security,all]: bootstrap needs an admin with the manage_security cluster privilege`
	if !strings.Contains(string(out), want) {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
}

// TestBootstrapReportsMissingPrivileges: keys minted by an admin who lacks
// a privilege do not have it; verification names it and what it blocks,
// and exits 2.
func TestBootstrapReportsMissingPrivileges(t *testing.T) {
	e := newBootstrapEnv(t)
	e.es.PutRole("key_admin", esserver.Role{Cluster: []string{"manage_security", "monitor"},
		Indices: []esserver.IndexPrivileges{{Names: []string{"logstash-*"}, Privileges: []string{"create_doc", "view_index_metadata"}}}})
	e.es.AddUser("key_admin", "key-admin-pw", "key_admin")
	writeFile(t, filepath.Join(e.dir, "admin_pw"), "key-admin-pw\n")
	cmd := exec.Command(esgateBin, "bootstrap", "--hosts", e.es.URL, "--ssl-certificate-authorities", e.ca, "--user", "key_admin",
		"--password-file", filepath.Join(e.dir, "admin_pw"), "--secrets-file", e.secrets, "--only", "keys:publish", "--hostname", "ls-01")
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 2 {
		t.Fatalf("exit %v:\n%s", err, out)
	}
	for _, want := range []string{
		"api_key:publish              MISSING privileges",
		"manage_index_templates cluster: blocks indices:admin/index_template/put: templates cannot be installed",
		"create_doc on logs-*-*: blocks indices:data/write/bulk[s] (create): Logstash cannot write events",
		"auto_configure on logs-*-*: blocks indices:admin/auto_create: the first event for a new index or data stream fails",
		"create_index on logstash-*: blocks indices:admin/create and indices:admin/auto_create: new indices cannot be created",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestBootstrapBodiesMatchTheGuide compares the role and API key bodies sent
// with what the default Logstash outputs need (bootstrap/needs.go), in the
// shape of Elastic's Logstash security guide. By default each holds at
// least the guide's privileges, plus what the outputs a pipeline gets
// without choosing need: the guide's writer role alone (write, create,
// create_index on logstash-*) refuses the default output of Logstash 8 and
// 9, the data stream logs-generic-default. --logstash-output narrows them.
func TestBootstrapBodiesMatchTheGuide(t *testing.T) {
	e := newBootstrapEnv(t)
	if out, code := e.run(t); code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	golden := map[string]string{
		// "Configuring Logstash to use basic authentication": the guide's
		// role with its ILM additions, the guide's publishing key, and
		// what every default output needs (data streams, the default index
		// with and without ECS, ILM with either alias).
		"PUT /_security/role/logstash_writer": `{"cluster":["monitor","manage_index_templates","manage_ilm","read_ilm"],"indices":[{"names":["logs-*-*"],"privileges":["create_doc","auto_configure"]},{"names":["logstash-*"],"privileges":["index","create_index","write","create","manage","manage_ilm","view_index_metadata","create_doc"]},{"names":["ecs-logstash-*"],"privileges":["index","create_index"]},{"names":["ecs-logstash","ecs-logstash-*"],"privileges":["index","create_index","view_index_metadata","manage"]},{"names":["logstash","logstash-*"],"privileges":["index","create_index","view_index_metadata","manage"]}]}`,
		// "Granting access to the indices Logstash creates".
		"PUT /_security/role/logstash_reader": `{"cluster":["monitor","manage_logstash_pipelines"],
			"indices":[{"names":["logs-*-*","logstash-*","ecs-logstash-*","ecs-logstash","logstash"],"privileges":["read","view_index_metadata"]}]}`,
		"PUT /_security/user/logstash_internal": `{"roles":["logstash_writer"],"full_name":"Internal Logstash User"}`,
		"PUT /_security/user/logstash_user":     `{"roles":["logstash_reader","logstash_system"],"full_name":"Kibana User for Logstash"}`,
		// "Configuring credentials for Centralized Pipeline Management".
		"PUT /_security/user/logstash_admin_user": `{"roles":["logstash_admin","logstash_writer"]}`,
	}
	for k, want := range golden {
		got := e.rec.body[k]
		if got == nil {
			t.Errorf("no %s", k)
			continue
		}
		if !subset(t, want, got) {
			t.Errorf("%s body %s does not carry the guide's %s", k, got, want)
		}
	}
	// API keys: the guide's descriptors (publish plus auto_configure, see
	// bootstrap.KeySpec), one request per key; compare the last (management)
	// and check all four through the server's record.
	wantKeys := map[string]string{
		"esgate-publish-ls-01":    `{"logstash_writer":{"cluster":["monitor","manage_index_templates","manage_ilm","read_ilm"],"indices":[{"names":["logs-*-*"],"privileges":["create_doc","auto_configure"]},{"names":["logstash-*"],"privileges":["index","create_index","write","create","manage","manage_ilm","view_index_metadata","create_doc"]},{"names":["ecs-logstash-*"],"privileges":["index","create_index"]},{"names":["ecs-logstash","ecs-logstash-*"],"privileges":["index","create_index","view_index_metadata","manage"]},{"names":["logstash","logstash-*"],"privileges":["index","create_index","view_index_metadata","manage"]}]}}`,
		"esgate-read-ls-01":       `{"logstash_reader":{"cluster":["monitor"],"indices":[{"names":["logs-*-*","logstash-*","ecs-logstash-*","ecs-logstash","logstash"],"privileges":["read","view_index_metadata"]}]}}`,
		"esgate-monitoring-ls-01": `{"logstash_monitoring":{"cluster":["monitor","cluster:admin/xpack/monitoring/bulk"],"indices":[{"names":[".monitoring-ls-*"],"privileges":["create_index","create"]}]}}`,
		"esgate-management-ls-01": `{"logstash_management":{"cluster":["monitor","manage_logstash_pipelines"]}}`,
	}
	req, _ := http.NewRequest("GET", e.es.URL+"/_security/api_key?name=esgate-*", nil)
	req.SetBasicAuth("elastic", "changeme")
	res, err := tlsClient(t, e.ca).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		APIKeys []struct {
			Name            string          `json:"name"`
			RoleDescriptors json.RawMessage `json:"role_descriptors"`
			Metadata        map[string]any  `json:"metadata"`
		} `json:"api_keys"`
	}
	json.NewDecoder(res.Body).Decode(&v)
	res.Body.Close()
	if len(v.APIKeys) != 4 {
		t.Fatalf("%d keys", len(v.APIKeys))
	}
	for _, k := range v.APIKeys {
		if !subset(t, wantKeys[k.Name], k.RoleDescriptors) {
			t.Errorf("%s descriptors %s; want %s", k.Name, k.RoleDescriptors, wantKeys[k.Name])
		}
		if k.Metadata["managed_by"] != "esgate" || k.Metadata["host"] != "ls-01" {
			t.Errorf("%s metadata %v", k.Name, k.Metadata)
		}
	}
}

// subset reports whether every key of want (recursively) has the same value in got.
func subset(t *testing.T, want string, got []byte) bool {
	t.Helper()
	var w, g any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("golden %s: %v", want, err)
	}
	if err := json.Unmarshal(got, &g); err != nil {
		return false
	}
	return sub(w, g)
}

func sub(w, g any) bool {
	switch wv := w.(type) {
	case map[string]any:
		gv, ok := g.(map[string]any)
		if !ok {
			return false
		}
		for k, x := range wv {
			if !sub(x, gv[k]) {
				return false
			}
		}
		return true
	case []any:
		gv, ok := g.([]any)
		if !ok || len(gv) != len(wv) {
			return false
		}
		for i := range wv {
			if !sub(wv[i], gv[i]) {
				return false
			}
		}
		return true
	default:
		return reflect.DeepEqual(w, g)
	}
}

// TestBootstrapWritesKeystore: with a keystore, minted secrets land there too.
func TestBootstrapWritesKeystore(t *testing.T) {
	e := newBootstrapEnv(t)
	ks := filepath.Join(e.dir, "esgate.keystore")
	env := append(os.Environ(), "ESGATE_KEYSTORE_PASS=ks-pass")
	create := exec.Command(esgateBin, "keystore", "create", "--keystore", ks)
	create.Env = env
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	cmd := exec.Command(esgateBin, "bootstrap", "--hosts", e.es.URL, "--ssl-certificate-authorities", e.ca, "--user", "elastic",
		"--password-file", filepath.Join(e.dir, "admin_pw"), "--secrets-file", e.secrets, "--keystore", ks, "--only", "roles,users,keys:publish")
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	list := exec.Command(esgateBin, "keystore", "list", "--keystore", ks)
	list.Env = env
	out, _ := list.CombinedOutput()
	if g, e := string(out), "LOGSTASH_ADMIN_USER_PASSWORD\nLOGSTASH_INTERNAL_PASSWORD\nLOGSTASH_SYSTEM_PASSWORD\nLOGSTASH_USER_PASSWORD\nPUBLISH_API_KEY\n"; g != e {
		t.Errorf("keystore holds %q; expected %q", g, e)
	}
	s, _ := bootstrap.ReadSecrets(e.secrets)
	show := exec.Command(esgateBin, "keystore", "show", "PUBLISH_API_KEY", "--keystore", ks)
	show.Env = env
	out, _ = show.CombinedOutput()
	if strings.TrimSpace(string(out)) != s.APIKeys["publish"].Encoded {
		t.Error("the keystore's key differs from the secrets file's")
	}
}

// TestBootstrapSecondSecretsFile: a second run with a new secrets file (a
// second host) keeps the first file's passwords working (logstash_system
// included) and writes a file whose keys serve can use.
func TestBootstrapSecondSecretsFile(t *testing.T) {
	e := newBootstrapEnv(t)
	if out, code := e.run(t); code != 0 {
		t.Fatalf("first run: exit %d:\n%s", code, out)
	}
	first, err := bootstrap.ReadSecrets(e.secrets)
	if err != nil {
		t.Fatal(err)
	}
	e.secrets = filepath.Join(e.dir, "second.secrets")
	out, code := e.run(t)
	if code != 0 {
		t.Fatalf("second run: exit %d:\n%s", code, out)
	}
	if !strings.Contains(out, "password kept") {
		t.Errorf("the second run does not say logstash_system's password was kept:\n%s", out)
	}
	second, err := bootstrap.ReadSecrets(e.secrets)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range bootstrap.Purposes {
		if second.APIKeys[p].Encoded == "" || second.APIKeys[p].ID == first.APIKeys[p].ID {
			t.Errorf("the second file has no key of its own for %s", p)
		}
	}
	auth := func(header string) int {
		req, _ := http.NewRequest("GET", e.es.URL+"/_security/_authenticate", nil)
		req.Header.Set("Authorization", header)
		res, err := tlsClient(t, e.ca).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if c := auth("Basic " + base64.StdEncoding.EncodeToString([]byte("logstash_system:"+first.Passwords["logstash_system"]))); c != 200 {
		t.Errorf("the first file's logstash_system password: %d after the second run", c)
	}
	for _, s := range []*bootstrap.Secrets{first, second} {
		if c := auth("ApiKey " + s.APIKeys["publish"].Encoded); c != 200 {
			t.Errorf("publish key: %d", c)
		}
	}
}
