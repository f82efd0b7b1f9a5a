package esserver

import (
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

type tc struct {
	t   *testing.T
	s   *Server
	cli *http.Client
}

func newTC(t *testing.T, opts Options) *tc {
	t.Helper()
	if opts.PasswordHashing == "" {
		opts.PasswordHashing = "bcrypt4" // as StartT: nothing here depends on the cost
	}
	s, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	pool := x509.NewCertPool()
	pool.AddCert(s.CA.Cert)
	return &tc{t: t, s: s, cli: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}}
}

// call sends a request; hdr is name/value pairs.
func (c *tc) call(method, path, body string, hdr ...string) (*http.Response, string) {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, c.s.URL+path, rd)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.cli.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

var elastic = []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("elastic:changeme"))}

func with(h []string, more ...string) []string { return append(append([]string{}, h...), more...) }

func TestRootAndHead(t *testing.T) {
	c := newTC(t, Options{})
	res, body := c.call("GET", "/", "", elastic...)
	var v struct {
		Version struct{ Number, BuildFlavor string } `json:"version"`
		Tagline string
	}
	json.Unmarshal([]byte(body), &v)
	if res.StatusCode != 200 || res.Header.Get("X-Elastic-Product") != "Elasticsearch" || v.Version.Number != "8.15.3" || v.Tagline != "You Know, for Search" {
		t.Errorf("GET / = %d %v %s", res.StatusCode, res.Header, body)
	}
	if !strings.HasPrefix(body, `{"name":"es01","cluster_name":"esgate-test","cluster_uuid":`) {
		t.Errorf("key order: %s", body)
	}
	res, body = c.call("HEAD", "/", "", elastic...)
	if res.StatusCode != 200 || body != "" {
		t.Errorf("HEAD / = %d %q", res.StatusCode, body)
	}
}

func TestUnauthenticated(t *testing.T) {
	for _, tt := range []struct {
		version, basic string
	}{
		{"8.13.4", `Basic realm="security" charset="UTF-8"`},
		{"8.15.3", `Basic realm="security", charset="UTF-8"`},
	} {
		c := newTC(t, Options{Version: tt.version})
		res, body := c.call("GET", "/?pretty", "")
		want := []string{tt.basic, `Bearer realm="security"`, "ApiKey"}
		if g := res.Header.Values("WWW-Authenticate"); strings.Join(g, "|") != strings.Join(want, "|") {
			t.Errorf("%s: WWW-Authenticate %q", tt.version, g)
		}
		if res.StatusCode != 401 || res.Header.Get("X-Elastic-Product") != "" {
			t.Errorf("%s: %d, product %q", tt.version, res.StatusCode, res.Header.Get("X-Elastic-Product"))
		}
		hdr, _ := json.Marshal(want)
		wantBody := `{"error":{"root_cause":[{"type":"security_exception","reason":"missing authentication credentials for REST request [/?pretty]","header":{"WWW-Authenticate":` + string(hdr) + `}}],"type":"security_exception","reason":"missing authentication credentials for REST request [/?pretty]","header":{"WWW-Authenticate":` + string(hdr) + `}},"status":401}`
		var compact bytes.Buffer
		json.Compact(&compact, []byte(body))
		if compact.String() != wantBody {
			t.Errorf("%s:\n got %s\nwant %s", tt.version, compact.String(), wantBody)
		}
	}
}

func TestAPIKeyFailures(t *testing.T) {
	c := newTC(t, Options{})
	id, _, enc := c.s.CreateAPIKey("elastic", "k", time.Hour, nil)
	cases := []struct {
		name, cred, additional string
		prep                   func()
	}{
		{"unknown id", base64.StdEncoding.EncodeToString([]byte("nope:secret")), "API key: unable to find apikey with id nope", nil},
		{"expired", enc, "API key: api key is expired", func() { c.s.ExpireAPIKey(id) }},
	}
	for _, cc := range cases {
		if cc.prep != nil {
			cc.prep()
		}
		res, body := c.call("GET", "/", "", "Authorization", "ApiKey "+cc.cred)
		var e struct {
			Error struct {
				Reason     string `json:"reason"`
				Additional string `json:"additional_unsuccessful_credentials"`
			} `json:"error"`
		}
		json.Unmarshal([]byte(body), &e)
		if res.StatusCode != 401 || e.Error.Reason != unableReason || e.Error.Additional != cc.additional {
			t.Errorf("%s: %d %s", cc.name, res.StatusCode, body)
		}
	}
}

func TestForbidden(t *testing.T) {
	c := newTC(t, Options{})
	c.s.PutRole("logstash_writer", Role{Indices: []IndexPrivileges{{Names: []string{"logstash-*"}, Privileges: []string{"create_doc"}}}})
	c.s.AddUser("logstash_internal", "x-pack-test-password", "logstash_writer", "ghost_role")
	auth := []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("logstash_internal:x-pack-test-password"))}
	res, body := c.call("GET", "/", "", auth...)
	want := `{"error":{"root_cause":[{"type":"security_exception","reason":"action [cluster:monitor/main] is unauthorized for user [logstash_internal] with effective roles [ghost_role,logstash_writer] (assigned roles [ghost_role] were not found), this action is granted by the cluster privileges [monitor,manage,all]"}],"type":"security_exception","reason":"action [cluster:monitor/main] is unauthorized for user [logstash_internal] with effective roles [ghost_role,logstash_writer] (assigned roles [ghost_role] were not found), this action is granted by the cluster privileges [monitor,manage,all]"},"status":403}`
	if res.StatusCode != 403 || body != want || res.Header.Get("WWW-Authenticate") != "" {
		t.Errorf("got %d %s", res.StatusCode, body)
	}
	// Per-item 403 inside a 200: auto-create needs auto_configure/create_index.
	res, body = c.call("POST", "/_bulk?filter_path=errors,items.*.error.reason,items.*.status", "{\"create\":{\"_index\":\"logstash-a\"}}\n{\"m\":1}\n", with(auth, "Content-Type", "application/json")...)
	want = `{"errors":true,"items":[{"create":{"status":403,"error":{"reason":"action [indices:admin/auto_create] is unauthorized for user [logstash_internal] with effective roles [ghost_role,logstash_writer] (assigned roles [ghost_role] were not found) on indices [logstash-a], this action is granted by the index privileges [auto_configure,create_index,manage,all]"}}}]}`
	if res.StatusCode != 200 || body != want {
		t.Errorf("bulk: %d\n got %s\nwant %s", res.StatusCode, body, want)
	}
}

func TestBulkRules(t *testing.T) {
	c := newTC(t, Options{})
	json8 := with(elastic, "Content-Type", "application/json")
	cases := []struct {
		name, path, body string
		hdr              []string
		status           int
		want             string
	}{
		{"no trailing newline", "/_bulk", "{\"index\":{\"_index\":\"a\"}}\n{}", json8, 400,
			`{"error":{"root_cause":[{"type":"illegal_argument_exception","reason":"The bulk request must be terminated by a newline [\\n]"}],"type":"illegal_argument_exception","reason":"The bulk request must be terminated by a newline [\\n]"},"status":400}`},
		{"_type in ES 8", "/_bulk", "{\"index\":{\"_index\":\"a\",\"_type\":\"events\"}}\n{}\n", json8, 400,
			`{"error":{"root_cause":[{"type":"illegal_argument_exception","reason":"Action/metadata line [1] contains an unknown parameter [_type]"}],"type":"illegal_argument_exception","reason":"Action/metadata line [1] contains an unknown parameter [_type]"},"status":400}`},
		{"_type in compat 7", "/_bulk?filter_path=errors", "{\"index\":{\"_index\":\"a\",\"_type\":\"events\"}}\n{}\n",
			with(elastic, "Content-Type", "application/vnd.elasticsearch+json;compatible-with=7", "Accept", "application/vnd.elasticsearch+json; compatible-with=7"), 200, `{"errors":false}`},
		{"no content type", "/_bulk", "{}\n", elastic, 406, `{"error":"Content-Type header is missing","status":406}`},
		{"text/plain", "/_bulk", "{}\n", with(elastic, "Content-Type", "text/plain"), 406, `{"error":"Content-Type header [text/plain] is not supported","status":406}`},
		{"yaml bulk", "/_bulk", "{}\n", with(elastic, "Content-Type", "application/yaml"), 406, `{"error":"Content-Type [application/yaml] does not support stream parsing. Use JSON or SMILE instead","status":406}`},
		{"Logstash filter_path", "/_bulk?filter_path=errors,items.*.error,items.*.status",
			"{\"create\":{\"_index\":\"logs-app-default\"}}\n{\"m\":1}\n{\"index\":{\"_index\":\"logs-app-default\"}}\n{\"m\":2}\n{\"delete\":{\"_index\":\"b\",\"_id\":\"9\"}}\n",
			with(elastic, "Content-Type", "application/json; charset=utf-8"), 200,
			`{"errors":true,"items":[{"create":{"status":201}},{"index":{"status":400,"error":{"type":"illegal_argument_exception","reason":"only write ops with an op_type of create are allowed in data streams"}}},{"delete":{"status":404,"error":{"type":"index_not_found_exception","reason":"no such index [b]","resource.type":"index_or_alias","resource.id":"b","index_uuid":"_na_","index":"b"}}}]}`},
		{"conflict", "/idx/_bulk?filter_path=items.*.status,items.*.error.type", "{\"create\":{\"_id\":\"1\"}}\n{\"m\":1}\n{\"create\":{\"_id\":\"1\"}}\n{\"m\":1}\n{\"delete\":{\"_id\":\"7\"}}\n", json8, 200,
			`{"items":[{"create":{"status":201}},{"create":{"status":409,"error":{"type":"version_conflict_engine_exception"}}},{"delete":{"status":404}}]}`},
	}
	for _, cc := range cases {
		t.Run(cc.name, func(t *testing.T) {
			res, body := c.call("POST", cc.path, cc.body, cc.hdr...)
			if res.StatusCode != cc.status || body != cc.want {
				t.Errorf("got %d %s\nwant %d %s", res.StatusCode, body, cc.status, cc.want)
			}
		})
	}
	// Full item shape, as ES 8 answers.
	_, body := c.call("POST", "/_bulk", "{\"index\":{\"_index\":\"test\",\"_id\":\"1\"}}\n{\"f\":1}\n", json8...)
	if want := `{"took":3,"errors":false,"items":[{"index":{"_index":"test","_id":"1","_version":1,"result":"created","_shards":{"total":2,"successful":1,"failed":0},"_seq_no":0,"_primary_term":1,"status":201}}]}`; body != want {
		t.Errorf("got %s\nwant %s", body, want)
	}
	// Data streams land in a .ds- backing index and count under their name.
	if c.s.Count("logs-app-default") != 1 {
		t.Errorf("data stream count %d", c.s.Count("logs-app-default"))
	}
}

func TestGzipBulkAndCount(t *testing.T) {
	c := newTC(t, Options{})
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	for i := 0; i < 100; i++ {
		zw.Write([]byte("{\"create\":{\"_index\":\"logstash-gz\"}}\n{\"n\":1}\n"))
	}
	zw.Close()
	res, body := c.call("POST", "/_bulk?filter_path=errors", gz.String(), with(elastic, "Content-Type", "application/json", "Content-Encoding", "gzip")...)
	if res.StatusCode != 200 || body != `{"errors":false}` {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	_, body = c.call("GET", "/logstash-gz/_count", "", elastic...)
	if want := `{"count":100,"_shards":{"total":1,"successful":1,"skipped":0,"failed":0}}`; body != want {
		t.Errorf("got %s", body)
	}
	res, body = c.call("GET", "/missing/_count", "", elastic...)
	if res.StatusCode != 404 || !strings.Contains(body, `"type":"index_not_found_exception","reason":"no such index [missing]"`) {
		t.Errorf("got %d %s", res.StatusCode, body)
	}
}

func TestFaults(t *testing.T) {
	c := newTC(t, Options{})
	c.s.AddFault(Fault{PathContains: "_bulk", Status: 429, Count: 1})
	res, body := c.call("POST", "/_bulk", "{\"index\":{\"_index\":\"a\"}}\n{}\n", with(elastic, "Content-Type", "application/json")...)
	if res.StatusCode != 429 || !strings.Contains(body, `"type":"es_rejected_execution_exception","reason":"rejected execution of coordinating operation [`) {
		t.Errorf("%d %s", res.StatusCode, body)
	}
	c.s.AddFault(Fault{PathContains: "_bulk", ItemStatus: 429, ItemEvery: 2, Count: 1})
	_, body = c.call("POST", "/_bulk?filter_path=items.*.status", strings.Repeat("{\"index\":{\"_index\":\"a\"}}\n{}\n", 4), with(elastic, "Content-Type", "application/json")...)
	if want := `{"items":[{"index":{"status":429}},{"index":{"status":201}},{"index":{"status":429}},{"index":{"status":201}}]}`; body != want {
		t.Errorf("got %s", body)
	}
}

func TestFilterPath(t *testing.T) {
	v := obj{{"took", 1}, {"errors", false}, {"items", []any{obj{{"index", obj{{"_id", "1"}, {"status", 201}}}}}}}
	for spec, want := range map[string]string{
		"errors":                  `{"errors":false}`,
		"items.*.status":          `{"items":[{"index":{"status":201}}]}`,
		"took,items.index._id":    `{"took":1,"items":[{"index":{"_id":"1"}}]}`,
		"items.*.error":           `{}`,
		"it*":                     `{"items":[{"index":{"_id":"1","status":201}}]}`,
		"errors,items.*.error,xx": `{"errors":false}`,
	} {
		b, _ := json.Marshal(filterPath(v, spec))
		if string(b) != want {
			t.Errorf("%s: got %s; want %s", spec, b, want)
		}
	}
}

func TestPasswordHashing(t *testing.T) {
	for _, c := range []struct {
		algorithm string
		cost      int // 0: refused
	}{
		{"", 10}, {"bcrypt", 10}, {"bcrypt4", 4}, {"bcrypt14", 14},
		{"bcrypt3", 0}, {"bcrypt15", 0}, {"bcrypt04", 0}, {"bcrypt+5", 0}, {"bcrypt 5", 0}, {"bcryptx", 0}, {"pbkdf2", 0}, {"Bcrypt", 0}, {"4", 0},
	} {
		cost, err := bcryptCost(c.algorithm)
		if cost != c.cost || (err != nil) != (c.cost == 0) {
			t.Errorf("%q: cost %d, %v; expected %d", c.algorithm, cost, err, c.cost)
		}
	}
	if _, err := Start(Options{PasswordHashing: "pbkdf2"}); err == nil {
		t.Error("Start took a hashing algorithm it does not implement")
	}
	// The cost is the hash's: a login with the right password works at
	// any of them, and the stored hash says which.
	for _, algorithm := range []string{"bcrypt4", "bcrypt"} {
		c := newTC(t, Options{PasswordHashing: algorithm})
		c.s.mu.Lock()
		h := c.s.users["elastic"].hash
		c.s.mu.Unlock()
		if cost, err := bcrypt.Cost(h); err != nil || cost != map[string]int{"bcrypt4": 4, "bcrypt": 10}[algorithm] {
			t.Errorf("%s: elastic's hash has cost %d, %v", algorithm, cost, err)
		}
	}
}
