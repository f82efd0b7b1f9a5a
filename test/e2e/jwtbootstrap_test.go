package e2e

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/esgate/esgate/configs"
	"github.com/esgate/esgate/test/esserver"
	"github.com/esgate/esgate/test/issuer"
)

// docCommand returns the arguments of the first command in doc's console
// blocks that starts with prefix and holds every one of with (continuation
// lines joined), as written.
func docCommand(t *testing.T, doc, prefix string, with ...string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", doc))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	inConsole := false
	var cmd string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "```console"):
			inConsole = true
		case strings.HasPrefix(line, "```"):
			inConsole = false
		case inConsole && cmd != "":
			cmd += " " + strings.TrimSpace(strings.TrimSuffix(line, "\\"))
			if !strings.HasSuffix(line, "\\") {
				found := true
				for _, w := range with {
					found = found && strings.Contains(cmd, w)
				}
				if found {
					return strings.Fields(cmd)
				}
				cmd = ""
			}
		case inConsole && strings.HasPrefix(line, "$ "+prefix):
			cmd = strings.TrimSuffix(strings.TrimPrefix(line, "$ "), "\\")
			if !strings.HasSuffix(line, "\\") {
				return strings.Fields(cmd)
			}
		}
	}
	t.Fatalf("%s shows no command %q with %q", doc, prefix, with)
	return nil
}

// substitute replaces documented values in args by the test's.
func substitute(args []string, repl map[string]string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if r, ok := repl[a]; ok {
			a = r
		}
		out[i] = a
	}
	return out
}

// realmBlock returns the elasticsearch.yml block bootstrap printed.
func realmBlock(t *testing.T, out string) string {
	t.Helper()
	_, block, ok := strings.Cut(out, "JWT realm (realms live in elasticsearch.yml and the keystore, not behind an API):\n")
	if !ok {
		t.Fatalf("bootstrap printed no realm block:\n%s", out)
	}
	return block
}

// TestBootstrapJWTRealmDocumented runs docs/short-lived-credentials.md's
// bootstrap command as written (with the test's cluster, CA and issuer in
// place of the documented ones): --dry-run on a fresh cluster writes
// nothing and prints the realm block; the test server takes that block as
// its JWT realm (plus trust for the test issuer's JWKS); a real run creates
// the role mapping, a second run finds it unchanged, and esgate forwarding
// the pod's projected token through bearer_token_file writes Logstash's
// default data stream with the mapped writer role.
func TestBootstrapJWTRealmDocumented(t *testing.T) {
	iss, issCA := issuer.StartT(t, issuer.Options{})
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "admin_pw"), "changeme\n")
	proj, err := iss.Project(issuer.ProjectedOptions{Dir: filepath.Join(dir, "token"), Namespace: "logs", ServiceAccount: "esgate-logstash"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proj.Stop)
	doc := docCommand(t, "docs/short-lived-credentials.md", "esgate bootstrap", "--jwt-realm")
	run := func(es *esserver.Server, esCA string, extra ...string) string {
		t.Helper()
		args := substitute(doc[1:], map[string]string{"https://es01:9200": es.URL, "/etc/esgate/http_ca.crt": esCA,
			"/run/secrets/elastic": filepath.Join(dir, "admin_pw"), "https://kubernetes.default.svc.cluster.local": iss.Issuer()})
		args = append(args, "--secrets-file", filepath.Join(dir, "esgate.secrets"))
		cmd := exec.Command(esgateBin, append(args, extra...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("esgate %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	const mapping = "esgate-jwt-kubernetes-ls-01"
	if got := strings.Join(doc, " "); !strings.Contains(got, "--jwt-principal "+proj.Subject()) {
		t.Fatalf("the documented principal is not the projected token's sub %s: %s", proj.Subject(), got)
	}

	// --dry-run on a fresh cluster: the plan and the block, nothing written.
	fresh, freshCA := esserver.StartT(t, esserver.Options{})
	rec := record(fresh)
	out := run(fresh, freshCA, "--dry-run")
	if !strings.Contains(out, "Plan (dry run: nothing is written):") || !strings.Contains(out, "role_mapping "+mapping) {
		t.Errorf("dry run:\n%s", out)
	}
	if w := writes(rec.take()); len(w) != 0 {
		t.Errorf("dry run wrote %q", w)
	}
	if len(fresh.RoleMappings()) != 0 {
		t.Errorf("dry run made mappings %v", fresh.RoleMappings())
	}

	// The printed block is the test server's realm.
	realms, err := esserver.ParseJWTRealms([]byte(realmBlock(t, out)))
	if err != nil || len(realms) != 1 || realms[0].Name != "kubernetes" {
		t.Fatalf("the printed block as realms: %v %+v", err, realms)
	}
	realms[0].Settings["ssl.certificate_authorities"] = []string{issCA} // trust for the test issuer's https JWKS
	es, esCA := esserver.StartT(t, esserver.Options{JWTRealms: realms})
	rec = record(es)

	out = run(es, esCA)
	if !strings.Contains(out, "role_mapping "+mapping) || !strings.Contains(out, "create") {
		t.Errorf("first run:\n%s", out)
	}
	m, ok := es.RoleMappings()[mapping]
	wantRules := map[string]any{"all": []any{map[string]any{"field": map[string]any{"realm.name": "kubernetes"}},
		map[string]any{"field": map[string]any{"username": proj.Subject()}}}}
	if !ok || !m.Enabled || !reflect.DeepEqual(m.Roles, []string{"logstash_writer"}) || !reflect.DeepEqual(m.Rules, wantRules) {
		t.Errorf("mapping %+v", m)
	}
	if _, err := os.Stat(filepath.Join(dir, "esgate.secrets")); err == nil {
		t.Error("a JWT bootstrap wrote a secrets file: it mints nothing")
	}
	rec.take()
	out = run(es, esCA)
	if !strings.Contains(out, fmt.Sprintf("role_mapping %-34s unchanged", mapping)) {
		t.Errorf("second run:\n%s", out)
	}
	if w := writes(rec.take()); len(w) != 0 {
		t.Errorf("second run wrote %q", w)
	}

	// Changed by hand: --dry-run reports the update and changes nothing; a
	// run puts the mapping back.
	changed := m
	changed.Rules = map[string]any{"field": map[string]any{"username": "someone-else"}}
	es.PutRoleMapping(mapping, changed)
	rec.take()
	out = run(es, esCA, "--dry-run")
	if !strings.Contains(out, fmt.Sprintf("role_mapping %-34s update", mapping)) || !reflect.DeepEqual(es.RoleMappings()[mapping].Rules, changed.Rules) {
		t.Errorf("dry run over a changed mapping:\n%s", out)
	}
	if w := writes(rec.take()); len(w) != 0 {
		t.Errorf("dry run wrote %q", w)
	}
	out = run(es, esCA)
	if !strings.Contains(out, fmt.Sprintf("role_mapping %-34s update", mapping)) || !reflect.DeepEqual(es.RoleMappings()[mapping].Rules, wantRules) {
		t.Errorf("run over a changed mapping:\n%s\nrules %v", out, es.RoleMappings()[mapping].Rules)
	}

	// The mapped principal publishes through esgate with its projected token.
	p := startEsgate(t, nil, "--hosts", es.URL, "--ssl-certificate-authorities", esCA, "--bearer-token-file", proj.TokenPath(), "--policy", "ingest")
	body := `{"index":{}}` + "\n" + `{"message":"hello"}` + "\n"
	res, err := http.Post(p.URL+"/logstash-jwt/_bulk", "application/x-ndjson", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(rb), `"errors":false`) {
		t.Errorf("bulk through esgate with the projected token: %s %s", res.Status, rb)
	}
	if st := es.JWTStats(); st.Accepted == 0 {
		t.Errorf("the JWT realm accepted nothing: %+v", st)
	}
}

// docYAML returns doc's ```yaml blocks.
func docYAML(t *testing.T, doc string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", doc))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, part := range strings.Split(string(b), "```yaml\n")[1:] {
		block, _, _ := strings.Cut(part, "```")
		out = append(out, block)
	}
	return out
}

// TestShortLivedDocBlocks: every realm block of
// docs/short-lived-credentials.md is a JWT realm the test server reads
// (settings it knows, with valid values), and its esgate route is a
// config esgate loads.
func TestShortLivedDocBlocks(t *testing.T) {
	iss, _ := issuer.StartT(t, issuer.Options{})
	jwks := filepath.Join(t.TempDir(), "jwks.json")
	if err := iss.WriteJWKS(jwks); err != nil {
		t.Fatal(err)
	}
	realms, routes := 0, 0
	for _, block := range docYAML(t, "docs/short-lived-credentials.md") {
		switch {
		case strings.HasPrefix(block, "xpack.security.authc.realms.jwt."):
			realms++
			rs, err := esserver.ParseJWTRealms([]byte(block))
			if err != nil || len(rs) != 1 {
				t.Errorf("%v\n%s", err, block)
				continue
			}
			// The settings check of the test server's realm, with a JWKS it can load.
			rs[0].Settings["pkc_jwkset_path"] = jwks
			es, err := esserver.Start(esserver.Options{JWTRealms: rs, PasswordHashing: "bcrypt4"})
			if err != nil {
				t.Errorf("realm %s: %v", rs[0].Name, err)
				continue
			}
			es.Close()
		case strings.HasPrefix(block, "routes:"):
			routes++
			path := filepath.Join(t.TempDir(), "esgate.yml")
			writeFile(t, path, block)
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			fl := configs.RegisterFlags(fs)
			fs.Parse([]string{"--config", path})
			_, err := configs.Load(fl, func(string) (string, bool) { return "", false })
			if err != nil {
				t.Errorf("%v\n%s", err, block)
			}
		}
	}
	if realms != 2 || routes != 1 {
		t.Errorf("%d realm blocks and %d route blocks; the page shows 2 and 1", realms, routes)
	}
}
