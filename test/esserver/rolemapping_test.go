package esserver

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

func TestRoleMappingRules(t *testing.T) {
	u := mappingUser{username: "system:serviceaccount:logs:shipper", groups: []string{"ops", "logs"}, realm: "jwt1",
		metadata: map[string]any{"jwt_claim_sub": "system:serviceaccount:logs:shipper", "jwt_claim_n": int64(3), "jwt_claim_ok": true, "jwt_claim_aud": []any{"es01", "es02"}}}
	for _, tc := range []struct {
		rule string
		want bool
	}{
		{`{"field":{"username":"system:serviceaccount:logs:shipper"}}`, true},
		{`{"field":{"username":"system:serviceaccount:logs:*"}}`, true},
		{`{"field":{"username":"/system:serviceaccount:[a-z]+:ship.*/"}}`, true},
		{`{"field":{"username":"shipper"}}`, false},
		{`{"field":{"username":["x","system:serviceaccount:logs:shipper"]}}`, true},
		{`{"field":{"realm.name":"jwt1"}}`, true},
		{`{"field":{"realm.name":"jwt2"}}`, false},
		{`{"field":{"groups":"logs"}}`, true},
		{`{"field":{"groups":"admins"}}`, false},
		{`{"field":{"dn":null}}`, true},
		{`{"field":{"dn":"cn=*"}}`, false},
		{`{"field":{"metadata.jwt_claim_sub":"system:serviceaccount:logs:shipper"}}`, true},
		{`{"field":{"metadata.jwt_claim_aud":"es02"}}`, true},
		{`{"field":{"metadata.jwt_claim_n":3}}`, true},
		{`{"field":{"metadata.jwt_claim_ok":true}}`, true},
		{`{"field":{"metadata.jwt_claim_missing":"x"}}`, false},
		{`{"all":[{"field":{"realm.name":"jwt1"}},{"field":{"groups":"ops"}}]}`, true},
		{`{"all":[{"field":{"realm.name":"jwt1"}},{"field":{"groups":"admins"}}]}`, false},
		{`{"any":[{"field":{"realm.name":"jwt2"}},{"field":{"groups":"ops"}}]}`, true},
		{`{"any":[]}`, false},
		{`{"all":[{"field":{"realm.name":"jwt1"}},{"except":{"field":{"groups":"admins"}}}]}`, true},
		{`{"all":[{"field":{"realm.name":"jwt1"}},{"except":{"field":{"groups":"ops"}}}]}`, false},
		{`{"field":{"username":"a"},"any":[]}`, false},
	} {
		var rule map[string]any
		if err := json.Unmarshal([]byte(tc.rule), &rule); err != nil {
			t.Fatal(err)
		}
		if got := ruleMatches(rule, u); got != tc.want {
			t.Errorf("%s: got %v", tc.rule, got)
		}
	}
}

func TestRoleMappingAPI(t *testing.T) {
	c := newTC(t, Options{})
	js := with(elastic, "Content-Type", "application/json")
	body := `{"roles":["writer"],"enabled":true,"rules":{"field":{"realm.name":"jwt1"}},"metadata":{"version":1}}`
	for i, want := range []string{`{"role_mapping":{"created":true}}`, `{"role_mapping":{"created":false}}`} {
		if res, got := c.call("PUT", "/_security/role_mapping/m1?refresh=true", body, js...); res.StatusCode != 200 || got != want {
			t.Fatalf("put %d: %d %s", i, res.StatusCode, got)
		}
	}
	c.call("POST", "/_security/role_mapping/m2", `{"role_templates":[{"template":{"source":"{{username}}"}}],"enabled":false,"rules":{"field":{"username":"*"}}}`, js...)
	if res, got := c.call("GET", "/_security/role_mapping/m1", "", elastic...); res.StatusCode != 200 ||
		got != `{"m1":{"enabled":true,"roles":["writer"],"rules":{"field":{"realm.name":"jwt1"}},"metadata":{"version":1}}}` {
		t.Fatalf("get: %d %s", res.StatusCode, got)
	}
	if res, got := c.call("GET", "/_security/role_mapping", "", elastic...); res.StatusCode != 200 || !strings.HasPrefix(got, `{"m1":`) || !strings.Contains(got, `"m2":{"enabled":false,"role_templates":[`) {
		t.Fatalf("get all: %d %s", res.StatusCode, got)
	}
	if res, got := c.call("GET", "/_security/role_mapping/nope", "", elastic...); res.StatusCode != 404 || got != `{}` {
		t.Fatalf("get missing: %d %s", res.StatusCode, got)
	}
	for _, tc := range []struct{ body, want string }{
		{`{"enabled":true,"rules":{"field":{"username":"*"}}}`, "Validation Failed: 1: role-mapping roles or role-templates are missing;"},
		{`{"roles":["r"],"enabled":true}`, "Validation Failed: 1: role-mapping rules are missing;"},
		{`{"roles":["r"],"role_templates":[{"template":{"source":"x"}}],"enabled":true,"rules":{"field":{"username":"*"}}}`, "role-mapping cannot have both roles and role-templates"},
		{`{"roles":["r"],"rules":{"field":{"username":"*"}}}`, "missing field [enabled]"},
	} {
		if res, got := c.call("PUT", "/_security/role_mapping/bad", tc.body, js...); res.StatusCode != 400 || !strings.Contains(got, tc.want) {
			t.Errorf("%s: %d %s", tc.body, res.StatusCode, got)
		}
	}
	// manage_security is needed to write; read_security to read.
	c.s.PutRole("reader", Role{Cluster: []string{"read_security"}})
	c.s.AddUser("auditor", "auditor-pw", "reader")
	aud := basicAuth("auditor", "auditor-pw")
	if res, _ := c.call("GET", "/_security/role_mapping", "", aud...); res.StatusCode != 200 {
		t.Fatalf("read_security get: %d", res.StatusCode)
	}
	if res, got := c.call("PUT", "/_security/role_mapping/m3", body, with(aud, "Content-Type", "application/json")...); res.StatusCode != 403 ||
		!strings.Contains(got, "action [cluster:admin/xpack/security/role_mapping/put] is unauthorized for user [auditor] with effective roles [reader], this action is granted by the cluster privileges [manage_security,all]") {
		t.Fatalf("put without manage_security: %d %s", res.StatusCode, got)
	}
	if res, got := c.call("DELETE", "/_security/role_mapping/m1", "", elastic...); res.StatusCode != 200 || got != `{"found":true}` {
		t.Fatalf("delete: %d %s", res.StatusCode, got)
	}
	if res, got := c.call("DELETE", "/_security/role_mapping/m1", "", elastic...); res.StatusCode != 404 || got != `{"found":false}` {
		t.Fatalf("delete again: %d %s", res.StatusCode, got)
	}
	// Disabled mappings give nothing; templates render the username.
	c.s.PutRoleMapping("m2", RoleMapping{RoleTemplates: []map[string]any{{"template": map[string]any{"source": "{{username}}"}}}, Enabled: true, Rules: map[string]any{"field": map[string]any{"username": "*"}}})
	if got := c.s.mappedRoles(mappingUser{username: "bob", realm: "jwt1"}); len(got) != 1 || got[0] != "bob" {
		t.Fatalf("templates: %v", got)
	}
}

func basicAuth(user, pw string) []string {
	return []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))}
}
