package bootstrap

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/esgate/esgate/auth/esclient"
	"testing"

	"go.yaml.in/yaml/v3"
)

// fakeES answers the role and role-mapping APIs from memory, as
// Elasticsearch does (404 with {} for a missing mapping), and records the
// requests it gets.
type fakeES struct {
	mu       sync.Mutex
	roles    map[string]json.RawMessage
	mappings map[string]json.RawMessage
	reqs     []string
	puts     map[string][]byte
}

func newFakeES() *fakeES {
	return &fakeES{roles: map[string]json.RawMessage{}, mappings: map[string]json.RawMessage{}, puts: map[string][]byte{}}
}

func (f *fakeES) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
	}
	f.reqs = append(f.reqs, r.Method+" "+r.URL.Path)
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("Content-Type", "application/json")
	var store map[string]json.RawMessage
	var name, kind string
	switch {
	case strings.HasPrefix(r.URL.Path, "/_security/role_mapping/"):
		store, name, kind = f.mappings, strings.TrimPrefix(r.URL.Path, "/_security/role_mapping/"), "role_mapping"
	case strings.HasPrefix(r.URL.Path, "/_security/role/"):
		store, name, kind = f.roles, strings.TrimPrefix(r.URL.Path, "/_security/role/"), "role"
	default:
		w.WriteHeader(400)
		io.WriteString(w, `{"error":{"type":"illegal_argument_exception","reason":"not faked"},"status":400}`)
		return
	}
	switch r.Method {
	case http.MethodGet:
		cur, ok := store[name]
		if !ok {
			w.WriteHeader(404)
			io.WriteString(w, `{}`)
			return
		}
		json.NewEncoder(w).Encode(map[string]json.RawMessage{name: cur})
	case http.MethodPut, http.MethodPost:
		_, existed := store[name]
		store[name] = body
		f.puts[r.URL.Path] = body
		json.NewEncoder(w).Encode(map[string]any{kind: map[string]bool{"created": !existed}})
	}
}

func (f *fakeES) take() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.reqs
	f.reqs = nil
	return out
}

type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

func jwtRunner(t *testing.T, es *fakeES, opts Options) *Runner {
	t.Helper()
	c, err := esclient.New(handlerTransport{es})
	if err != nil {
		t.Fatal(err)
	}
	return &Runner{ES: c, Opts: opts, Secrets: &Secrets{},
		Save: func(*Secrets) error { t.Error("a JWT run saved secrets"); return nil }}
}

func k8sOptions(dry bool) Options {
	j := KubernetesJWT("k8s", "system:serviceaccount:logs:logstash", "https://kubernetes.default.svc.cluster.local")
	return Options{Hostname: "ls-01", DryRun: dry, JWT: &j, Output: Output{DataStream: true}}
}

func ops(rep *Report) map[string]string {
	out := map[string]string{}
	for _, a := range rep.Actions {
		out[a.Kind+" "+a.Name] = a.Op
	}
	return out
}

// TestRoleMappingIdempotent: a first run creates the writer role and the
// mapping, with the body the JWT guide shows (rules all of realm.name and
// username); no user, no key, no secret. A second run reads and writes
// nothing; a mapping changed by hand is put back; --dry-run only reads.
func TestRoleMappingIdempotent(t *testing.T) {
	es := newFakeES()
	rep, err := jwtRunner(t, es, k8sOptions(true)).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := ops(rep); got["role_mapping esgate-jwt-k8s-ls-01"] != "create" || got["role logstash_writer"] != "create" || len(got) != 3 {
		t.Errorf("dry run plan %v", got)
	}
	for _, r := range es.take() {
		if !strings.HasPrefix(r, "GET ") {
			t.Errorf("dry run sent %s", r)
		}
	}

	rep, err = jwtRunner(t, es, k8sOptions(false)).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := ops(rep); got["role_mapping esgate-jwt-k8s-ls-01"] != "create" || len(got) != 3 {
		t.Errorf("first run %v", got)
	}
	if len(rep.Verification) != 0 || rep.RealmConfig == "" {
		t.Errorf("verification %v (nothing minted, nothing to verify); realm config %q", rep.Verification, rep.RealmConfig)
	}
	for _, r := range es.take() {
		if strings.Contains(r, "/user") || strings.Contains(r, "api_key") {
			t.Errorf("a JWT run touched %s", r)
		}
	}
	var got, want any
	json.Unmarshal(es.puts["/_security/role_mapping/esgate-jwt-k8s-ls-01"], &got)
	json.Unmarshal([]byte(`{"roles":["logstash_writer"],"enabled":true,
		"rules":{"all":[{"field":{"realm.name":"k8s"}},{"field":{"username":"system:serviceaccount:logs:logstash"}}]},
		"metadata":{"managed_by":"esgate"}}`), &want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mapping body %v\nwant %v", got, want)
	}

	rep, err = jwtRunner(t, es, k8sOptions(false)).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := ops(rep); got["role_mapping esgate-jwt-k8s-ls-01"] != "unchanged" || got["role logstash_writer"] != "unchanged" {
		t.Errorf("second run %v", got)
	}
	for _, r := range es.take() {
		if !strings.HasPrefix(r, "GET ") {
			t.Errorf("second run sent %s", r)
		}
	}

	// The same rules written otherwise (arrays, other order) are unchanged.
	es.mappings["esgate-jwt-k8s-ls-01"] = json.RawMessage(`{"enabled":true,"roles":["logstash_writer"],"metadata":{},
		"rules":{"all":[{"field":{"username":["system:serviceaccount:logs:logstash"]}},{"field":{"realm.name":["k8s"]}}]}}`)
	rep, _ = jwtRunner(t, es, k8sOptions(false)).Run(context.Background())
	if got := ops(rep); got["role_mapping esgate-jwt-k8s-ls-01"] != "unchanged" {
		t.Errorf("equivalent rules: %v", rep.Actions)
	}

	// Changed by hand: another principal, disabled, another role.
	es.mappings["esgate-jwt-k8s-ls-01"] = json.RawMessage(`{"enabled":false,"roles":["superuser"],"metadata":{},
		"rules":{"all":[{"field":{"realm.name":"k8s"}},{"field":{"username":"system:serviceaccount:logs:other"}}]}}`)
	es.take()
	rep, err = jwtRunner(t, es, k8sOptions(false)).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var a Action
	for _, x := range rep.Actions {
		if x.Kind == "role_mapping" {
			a = x
		}
	}
	if a.Op != "update" || !strings.Contains(a.Detail, "+logstash_writer -superuser") || !strings.Contains(a.Detail, "enable") ||
		!strings.Contains(a.Detail, "system:serviceaccount:logs:other") {
		t.Errorf("update %+v", a)
	}
	if !slices.Contains(es.take(), "PUT /_security/role_mapping/esgate-jwt-k8s-ls-01") {
		t.Error("the changed mapping was not put back")
	}
	json.Unmarshal(es.mappings["esgate-jwt-k8s-ls-01"], &got)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mapping after update %v", got)
	}
}

// TestRoleMappingRole: --jwt-role and --writer-role choose the role; the
// role_mapping piece needs a realm.
func TestRoleMappingRole(t *testing.T) {
	es := newFakeES()
	o := k8sOptions(false)
	o.WriterRole = "shipper"
	o.Only = []string{"role_mapping"}
	if _, err := jwtRunner(t, es, o).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if b := string(es.mappings["esgate-jwt-k8s-ls-01"]); !strings.Contains(b, `"roles":["shipper"]`) {
		t.Errorf("mapping %s", b)
	}
	if reqs := es.take(); len(reqs) != 2 {
		t.Errorf("--only role_mapping sent %v", reqs)
	}
	o = k8sOptions(false)
	o.JWT.Role = "logstash_reader"
	jwtRunner(t, es, o).Run(context.Background())
	if b := string(es.mappings["esgate-jwt-k8s-ls-01"]); !strings.Contains(b, `"roles":["logstash_reader"]`) {
		t.Errorf("mapping %s", b)
	}
	_, err := jwtRunner(t, es, Options{Only: []string{"role_mapping"}}).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "--jwt-realm") {
		t.Errorf("role_mapping without a realm: %v", err)
	}
}

func TestJWTValidate(t *testing.T) {
	k8s := func(f func(*JWT)) JWT {
		j := KubernetesJWT("k8s", "system:serviceaccount:logs:logstash", "https://kubernetes.default.svc")
		j.defaults("logstash_writer")
		f(&j)
		return j
	}
	for _, tt := range []struct {
		j    JWT
		want string // "" valid
	}{
		{k8s(func(*JWT) {}), ""},
		{k8s(func(j *JWT) { j.Realm = "" }), "--jwt-realm"},
		{k8s(func(j *JWT) { j.Realm = "a.b" }), "--jwt-realm"},
		{k8s(func(j *JWT) { j.Principal = "" }), "--jwt-principal"},
		{k8s(func(j *JWT) { j.Issuer = "" }), "--jwt-issuer: the cluster's service-account issuer"},
		{k8s(func(j *JWT) { j.Issuer, j.Kubernetes = "", false }), "--jwt-issuer: allowed_issuer"},
		{k8s(func(j *JWT) { j.Audiences = nil }), "--jwt-audience"},
		{k8s(func(j *JWT) { j.Algorithms = []string{"none"} }), "--jwt-algorithms"},
		{k8s(func(j *JWT) { j.JWKSet = "" }), "--jwt-jwks-url"},
		{k8s(func(j *JWT) { j.JWKSet, j.Algorithms = "", []string{"HS256"} }), ""},
		{k8s(func(j *JWT) { j.JWKSet = "http://issuer/jwks" }), "only https"},
		{k8s(func(j *JWT) { j.JWKSet = "jwks.json" }), ""},
		{k8s(func(j *JWT) { j.TokenType = "refresh_token" }), "--jwt-token-type"},
		{k8s(func(j *JWT) { j.ClientAuthentication = "basic" }), "--jwt-client-authentication"},
	} {
		err := tt.j.Validate()
		if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%+v: %v, want %q", tt.j, err, tt.want)
		}
	}
}

// realmSettings are the JWT realm's settings (elasticsearch-jwt.md §1),
// the ones the printed block may use.
var realmSettings = []string{"order", "token_type", "allowed_issuer", "allowed_audiences", "allowed_subjects",
	"allowed_subject_patterns", "allowed_signature_algorithms", "pkc_jwkset_path", "hmac_key", "allowed_clock_skew",
	"claims.principal", "claims.groups", "claims.mail", "claims.name", "claims.dn", "client_authentication.type",
	"client_authentication.shared_secret", "client_authentication.rotation_grace_period", "populate_user_metadata"}

// flatten turns nested YAML maps into dotted setting names.
func flatten(prefix string, v any, out map[string]any) {
	m, ok := v.(map[string]any)
	if !ok {
		out[prefix] = v
		return
	}
	for k, x := range m {
		name := k
		if prefix != "" {
			name = prefix + "." + k
		}
		flatten(name, x, out)
	}
}

// TestRealmBlock: the printed block is YAML whose every key is a JWT realm
// setting of §1 with the value bootstrap was given; the keystore settings
// are named in comments, not set.
func TestRealmBlock(t *testing.T) {
	k8s := KubernetesJWT("k8s", "system:serviceaccount:logs:logstash", "https://kubernetes.default.svc.cluster.local/")
	k8s.defaults("logstash_writer")
	hs := JWT{Realm: "oauth", Principal: "esgate-client", Issuer: "https://idp.example/", Audiences: []string{"es01", "es02"},
		Algorithms: []string{"HS256"}, TokenType: "access_token", ClientAuthentication: "none", Order: 4}
	hs.defaults("logstash_writer")
	for _, tt := range []struct {
		j        JWT
		want     map[string]any
		keystore []string
	}{
		{k8s, map[string]any{"order": 2, "token_type": "id_token", "allowed_issuer": "https://kubernetes.default.svc.cluster.local/",
			"allowed_audiences": []any{"elasticsearch"}, "allowed_signature_algorithms": []any{"RS256"},
			"pkc_jwkset_path": "https://kubernetes.default.svc.cluster.local/openid/v1/jwks", "claims.principal": "sub",
			"client_authentication.type": "shared_secret"}, []string{"client_authentication.shared_secret"}},
		{hs, map[string]any{"order": 4, "token_type": "access_token", "allowed_issuer": "https://idp.example/",
			"allowed_audiences": []any{"es01", "es02"}, "allowed_subjects": []any{"esgate-client"},
			"allowed_signature_algorithms": []any{"HS256"}, "claims.principal": "sub", "client_authentication.type": "none"},
			[]string{"hmac_key"}},
	} {
		if err := tt.j.Validate(); err != nil {
			t.Fatal(err)
		}
		block := tt.j.ElasticsearchYML()
		var doc map[string]any
		if err := yaml.Unmarshal([]byte(block), &doc); err != nil {
			t.Fatalf("%v:\n%s", err, block)
		}
		flat := map[string]any{}
		flatten("", doc, flat)
		prefix := "xpack.security.authc.realms.jwt." + tt.j.Realm + "."
		got := map[string]any{}
		for k, v := range flat {
			name, ok := strings.CutPrefix(k, prefix)
			if !ok || !slices.Contains(realmSettings, name) {
				t.Errorf("%s: not a setting of realm %s", k, tt.j.Realm)
			}
			got[name] = v
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("block settings %v\nwant %v\n%s", got, tt.want, block)
		}
		for _, k := range tt.keystore {
			if !strings.Contains(block, "bin/elasticsearch-keystore add "+prefix+k+"\n") {
				t.Errorf("block does not name the keystore setting %s:\n%s", k, block)
			}
		}
	}
}

func TestRuleString(t *testing.T) {
	for _, tt := range []struct{ a, b string }{
		{`{"all":[{"field":{"realm.name":"k"}},{"field":{"username":"u"}}]}`, `{"all":[{"field":{"username":["u"]}},{"field":{"realm.name":["k"]}}]}`},
		{`{"any":[{"field":{"groups":["b","a"]}}]}`, `{"any":[{"field":{"groups":["a","b"]}}]}`},
		{`{"except":{"field":{"dn":"x"}},"field":{"username":"u"}}`, `{"field":{"username":["u"]},"except":{"field":{"dn":["x"]}}}`},
	} {
		a, errA := ruleString(json.RawMessage(tt.a))
		b, errB := ruleString(json.RawMessage(tt.b))
		if errA != nil || errB != nil || a != b {
			t.Errorf("%s -> %q (%v)\n%s -> %q (%v)", tt.a, a, errA, tt.b, b, errB)
		}
	}
	for _, tt := range []struct{ a, b string }{
		{`{"all":[{"field":{"username":"u"}}]}`, `{"any":[{"field":{"username":"u"}}]}`},
		{`{"field":{"username":"u"}}`, `{"field":{"username":"v"}}`},
		{`{"all":[{"field":{"realm.name":"k"}},{"field":{"username":"u"}}]}`, `{"all":[{"field":{"realm.name":"k","username":"u"}}]}`},
	} {
		a, _ := ruleString(json.RawMessage(tt.a))
		b, _ := ruleString(json.RawMessage(tt.b))
		if a == b {
			t.Errorf("%s and %s compare equal (%q)", tt.a, tt.b, a)
		}
	}
}

// FuzzRuleString: any input gives a result or an error, never a panic,
// and a rule's canonical form does not change when it is written again.
func FuzzRuleString(f *testing.F) {
	f.Add(`{"all":[{"field":{"realm.name":"k"}},{"field":{"username":["u",1,null]}}]}`)
	f.Add(`{"except":{"any":[{"field":{"metadata.x":true}}]}}`)
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ruleString(json.RawMessage(s))
		if err != nil {
			return
		}
		var v any
		json.Unmarshal([]byte(s), &v)
		again, _ := json.Marshal(v)
		if b, err := ruleString(again); err != nil || a != b {
			t.Errorf("%s: %q, rewritten %q (%v)", s, a, b, err)
		}
	})
}
