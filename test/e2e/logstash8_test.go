package e2e

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/esgate/esgate/auth/bootstrap"
)

// lsClient plays one of Logstash 8's Elasticsearch clients against esgate,
// with the headers the plugin sends (from its source) and
// no credential of its own. Every upstream answer is recorded.
type lsClient struct {
	t       *testing.T
	major   string // the cluster's major the client expects ("" 8)
	agent   string // User-Agent ("" Logstash 8.19.1, plugin 11.22.13)
	url     string
	origin  string      // x-elastic-product-origin
	refused []string    // 401/403 answers
	header  http.Header // of the last answer
}

func (c *lsClient) do(method, path, body string, gz bool, want int, hdr ...string) []byte {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		if gz {
			var b bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&b, 1) // Logstash's compression_level default
			zw.Write([]byte(body))
			zw.Close()
			rd = &b
		} else {
			rd = strings.NewReader(body)
		}
	}
	req, _ := http.NewRequest(method, c.url+path, rd)
	req.Header.Set("Connection", "Keep-Alive")
	req.Header.Set("Content-Type", "application/json") // on every request, HEAD and GET too
	req.Header.Set("x-elastic-product-origin", c.origin)
	agent := c.agent
	if agent == "" {
		agent = "Logstash/8.19.1 (OS=Linux-6.1.0-amd64; JVM=Eclipse Adoptium-21.0.8) logstash-output-elasticsearch/11.22.13"
	}
	req.Header.Set("User-Agent", agent)
	req.Header.Set("Accept-Encoding", "gzip,deflate")
	if gz {
		req.Header.Set("Content-Encoding", "gzip")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	var r io.Reader = res.Body
	if res.Header.Get("Content-Encoding") == "gzip" {
		r, _ = gzip.NewReader(res.Body)
	}
	b, _ := io.ReadAll(r)
	c.header = res.Header
	if res.StatusCode == 401 || res.StatusCode == 403 {
		c.refused = append(c.refused, fmt.Sprintf("%s %s: %d %s", method, path, res.StatusCode, b))
	}
	if res.StatusCode != want {
		c.t.Errorf("%s %s: %d; expected %d: %s", method, path, res.StatusCode, want, b)
	}
	return b
}

// register is what every client of the plugin sends first (Pool#start,
// get_root_path, LicenseChecker, discover_cluster_uuid).
func (c *lsClient) register() {
	c.do("HEAD", "/", "", false, 200)
	root := c.do("GET", "/", "", false, 200)
	var info struct {
		Version struct{ Number string } `json:"version"`
	}
	json.Unmarshal(root, &info)
	// Pool#elasticsearch?: ES >= 7.14 must say X-Elastic-Product, or the
	// plugin refuses to connect.
	major := c.major
	if major == "" {
		major = "8"
	}
	if !strings.HasPrefix(info.Version.Number, major+".") || c.header.Get("X-Elastic-Product") != "Elasticsearch" {
		c.t.Errorf("GET /: version %q, X-Elastic-Product %q", info.Version.Number, c.header.Get("X-Elastic-Product"))
	}
	if lic := c.do("GET", "/_license", "", false, 200); !bytes.Contains(lic, []byte(`"status":"active"`)) {
		c.t.Errorf("license: %s", lic)
	}
	c.do("GET", "/", "", false, 200)
}

// bulk sends one pipeline batch as the plugin does and checks every item.
func (c *lsClient) bulk(path string, events int, action string) {
	c.t.Helper()
	var b strings.Builder
	for i := 0; i < events; i++ {
		b.WriteString(action + "\n")
		fmt.Fprintf(&b, `{"@timestamp":"2026-11-30T12:00:%02d.000Z","@version":"1","message":"event %d","host":{"name":"ls-1"},"event":{"original":"x"}`, i%60, i)
		if strings.Contains(action, "logs-generic-default") {
			b.WriteString(`,"data_stream":{"type":"logs","dataset":"generic","namespace":"default"}`)
		}
		b.WriteString("}\n")
	}
	body := c.do("POST", path, b.String(), true, 200,
		"X-Elastic-Event-Count", strconv.Itoa(events), "X-Elastic-Uncompressed-Request-Length", strconv.Itoa(b.Len()))
	var br struct {
		Errors bool
		Items  []map[string]struct {
			Status int
			Error  json.RawMessage
		}
	}
	if err := json.Unmarshal(body, &br); err != nil || br.Errors || len(br.Items) != events {
		c.t.Fatalf("bulk %s: %s", path, body)
	}
}

// logstash9Agent is Logstash 9.5's User-Agent (output plugin 12.1.6).
const logstash9Agent = "Logstash/9.5.2 (OS=Linux-6.1.0-amd64; JVM=Eclipse Adoptium-21.0.8) logstash-output-elasticsearch/12.1.6"

// TestLogstashWithBootstrapCredentials: esgate bootstrap, then Logstash's
// traffic through esgate with the publish key in each output mode, and
// the monitoring, central management and input/filter clients with their
// keys: no 401 or 403 anywhere, every event acknowledged and counted, each
// route under the policy made for its client (ingest, monitoring,
// management, read). It runs for Logstash 8 (plugin 11.x) against
// Elasticsearch 8 and Logstash 9 (plugin 12.x) against Elasticsearch 9.
// Every mode but the last uses bootstrap's defaults (the guide's
// privileges plus every default output); the last narrows them with
// --logstash-output ilm. In every mode the privilege doctor, run as the
// README shows on bootstrap's own secrets file, passes all four routes.
func TestLogstashWithBootstrapCredentials(t *testing.T) {
	const bulkPath = "/_bulk?filter_path=errors,items.*.error,items.*.status"
	ilm := func(alias string) func(c *lsClient) {
		return func(c *lsClient) {
			c.do("HEAD", "/_index_template/"+alias, "", false, 404)
			c.do("PUT", "/_index_template/"+alias, `{"index_patterns":"`+alias+`-*","template":{"settings":{"index.lifecycle.name":"logstash-policy","index.lifecycle.rollover_alias":"`+alias+`"}},"priority":200}`, false, 200)
			c.do("HEAD", "/"+alias, "", false, 404)
			c.do("PUT", "/%3C"+alias+"-%7Bnow%2Fd%7D-000001%3E", `{"aliases":{"`+alias+`":{"is_write_index":true}}}`, false, 200)
			c.do("GET", "/_ilm/policy/logstash-policy", "", false, 404)
			c.do("PUT", "/_ilm/policy/logstash-policy", `{"policy":{"phases":{"hot":{"actions":{"rollover":{"max_size":"50gb","max_age":"30d"}}}}}}`, false, 200)
			c.bulk(bulkPath, 125, `{"index":{"_id":null,"_index":"`+alias+`","routing":null}}`)
		}
	}
	modes := []struct {
		name   string
		args   []string // bootstrap's flags beyond the connection
		check  []string // check --privileges's flags ("" none: as the README shows)
		replay func(c *lsClient)
		index  string
	}{
		// data_stream => auto with ECS on: create to logs-generic-default.
		{name: "data stream", index: "logs-generic-default", replay: func(c *lsClient) {
			c.bulk(bulkPath, 125, `{"create":{"_id":null,"_index":"logs-generic-default","routing":null}}`)
		}},
		// data_stream => false: the default index, where ilm_enabled => auto
		// resolves to true (alias ecs-logstash).
		{name: "default index ILM auto", index: "ecs-logstash", replay: ilm("ecs-logstash")},
		// ecs_compatibility => disabled: ILM auto with the alias logstash.
		{name: "default index ECS disabled", index: "logstash", replay: ilm("logstash")},
		// index => "app-%{+YYYY.MM.dd}": a custom index, no ILM.
		{name: "custom index", args: []string{"--index-pattern", "app-*"}, check: []string{"--index-pattern", "app-*"}, index: "app-2026.11.30", replay: func(c *lsClient) {
			c.do("HEAD", "/_index_template/ecs-logstash", "", false, 404)
			c.do("PUT", "/_index_template/ecs-logstash", `{"index_patterns":["ecs-logstash-*"],"template":{"settings":{"index.refresh_interval":"5s"}},"priority":200,"_meta":{"description":"ECS index template for logstash"}}`, false, 200)
			c.bulk(bulkPath, 125, `{"index":{"_id":null,"_index":"app-2026.11.30","routing":null}}`)
		}},
		// A 7.x-era config kept as is: index => "logstash-%{+YYYY.MM.dd}".
		{name: "classic index", index: "logstash-2026.11.30", replay: func(c *lsClient) {
			c.do("HEAD", "/_index_template/ecs-logstash", "", false, 404)
			c.do("PUT", "/_index_template/ecs-logstash", `{"index_patterns":["ecs-logstash-*"],"template":{"settings":{"index.refresh_interval":"5s"}},"priority":200,"_meta":{"description":"ECS index template for logstash"}}`, false, 200)
			c.bulk(bulkPath, 125, `{"index":{"_id":null,"_index":"logstash-2026.11.30","routing":null}}`)
		}},
		// ilm_enabled => true, provisioned with least privilege.
		{name: "ILM narrowed", args: []string{"--logstash-output", "ilm"}, index: "ecs-logstash", replay: ilm("ecs-logstash")},
	}
	for _, stack := range []struct{ name, version, major, agent string }{
		{"Logstash 8 on ES 8", "8.15.3", "8", ""},
		{"Logstash 9 on ES 9", "9.1.5", "9", logstash9Agent},
	} {
		for _, mode := range modes {
			t.Run(stack.name+"/"+mode.name, func(t *testing.T) {
				e := newBootstrapEnvVersion(t, stack.version)
				if out, code := e.run(t, mode.args...); code != 0 {
					t.Fatalf("bootstrap: exit %d:\n%s", code, out)
				}
				s, err := bootstrap.ReadSecrets(e.secrets)
				if err != nil {
					t.Fatal(err)
				}
				// Each client through a route with its key and the policy
				// bootstrap's secrets file gives that route.
				policies := map[string]string{"publish": "ingest", "read": "read", "monitoring": "monitoring", "management": "management"}
				serve := func(purpose string) string {
					key := s.APIKeys[purpose].Encoded
					return startEsgate(t, []string{key}, "--hosts", e.es.URL, "--ssl-certificate-authorities", e.ca, "--api-key", key,
						"--policy", policies[purpose]).URL
				}
				client := func(url, origin string) *lsClient {
					return &lsClient{t: t, url: url, origin: origin, major: stack.major, agent: stack.agent}
				}
				out := client(serve("publish"), "logstash-output-elasticsearch")
				out.register()
				mode.replay(out)
				if n := e.es.Count(mode.index); n != 125 {
					t.Errorf("_count %s = %d; expected 125", mode.index, n)
				}

				mon := client(serve("monitoring"), "logstash")
				mon.do("HEAD", "/", "", false, 200)
				mon.do("GET", "/", "", false, 200)
				mon.do("GET", "/_xpack", "", false, 200)
				mon.register()
				mon.do("POST", "/_monitoring/bulk?system_id=logstash&system_api_version=7&interval=1s&filter_path=errors,items.*.error,items.*.status",
					`{"index":{"_id":null,"_index":"","routing":null,"_type":"logstash_stats"}}`+"\n"+`{"logstash_stats":{"timestamp":"2026-11-30T12:00:00Z"}}`+"\n", true, 200)

				mgmt := client(serve("management"), "logstash")
				mgmt.do("HEAD", "/", "", false, 200)
				mgmt.do("GET", "/", "", false, 200)
				mgmt.do("GET", "/_logstash/pipeline?id=main", "", false, 404) // none stored yet: not a refusal

				// The elasticsearch input and filter read what the output wrote.
				read := client(serve("read"), "logstash-input-elasticsearch")
				read.do("GET", "/", "", false, 200)
				read.do("POST", "/"+mode.index+"/_search", `{"query":{"match_all":{}}}`, false, 200)
				filter := client(read.url, "logstash-filter-elasticsearch")
				filter.do("GET", "/"+mode.index+"/_search?size=1", `{"query":{"match_all":{}}}`, false, 200)

				for _, c := range []*lsClient{out, mon, mgmt, read, filter} {
					for _, r := range c.refused {
						t.Errorf("refused: %s", r)
					}
				}

				// The README's own command on bootstrap's own secrets file:
				// each of the four routes is held to what it is for, and
				// the doctor agrees with bootstrap in every mode.
				doctorArgs := append([]string{"check", "--config", e.secrets, "--privileges"}, mode.check...)
				report, code := runBin(t, doctorArgs...)
				if code != 0 || strings.Contains(report, "MISSING") {
					t.Errorf("check --privileges: exit %d:\n%s", code, report)
				}
				for _, route := range []string{`"publish" (publish)`, `"read" (read)`, `"monitoring" for`, `"management" for`} {
					if !strings.Contains(report, "privileges of route "+route) {
						t.Errorf("check --privileges does not report route %s:\n%s", route, report)
					}
				}
				if len(mode.args) == 0 && !strings.Contains(report, "ok for data_stream, index, ilm") {
					t.Errorf("a default bootstrap's publish key should cover every mode:\n%s", report)
				}
			})
		}
	}
}

// runBin runs the esgate binary with args and returns its output and exit
// code.
func runBin(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(esgateBin, args...)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}
