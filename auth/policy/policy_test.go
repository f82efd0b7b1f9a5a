package policy

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestSelfService(t *testing.T) {
	for _, tt := range []struct {
		method, path string
		want         bool
	}{
		{"POST", "/_security/user/logstash_internal/_password", true},
		{"PUT", "/_security/user/_password", true},
		{"POST", "/_secur%69ty/user/x/_password", true}, // decoded as ES decodes it
		{"POST", "//_security//user/x/_password/", true},
		{"POST", "/_xpack/security/user/x/_password", true},
		{"POST", "/_SECURITY/api_key", true},
		{"POST", "/_security/api_key", true},
		{"PUT", "/_security/api_key", true},
		{"POST", "/_security/api_key/grant", true},
		{"PUT", "/_security/api_key/abc", true},
		{"POST", "/_security/api_key/_bulk_update", true},
		{"DELETE", "/_security/api_key", true},
		{"POST", "/_security/cross_cluster/api_key", true},
		{"POST", "/_security/oauth2/token", true},
		{"DELETE", "/_security/oauth2/token", true},
		{"POST", "/_security/service/elastic/fleet-server/credential/token/t1", true},
		{"GET", "/_security/enroll/kibana", true},
		{"POST", "/_security/delegate_pki", true},
		{"PUT", "/_security/user/eve", true},
		{"POST", "/_security/user/eve/_enable", true},
		{"DELETE", "/_security/role/writer", true},
		{"PUT", "/_security/role_mapping/m", true},
		{"POST", "/_security/saml/authenticate", true},
		{"POST", "/_security/profile/_activate", true},
		// Reads, also those sent as POST.
		{"GET", "/_security/_authenticate", false},
		{"GET", "/_security/api_key", false},
		{"GET", "/_security/user/logstash_internal", false},
		{"POST", "/_security/user/_has_privileges", false},
		{"GET", "/_security/user/_has_privileges", false},
		{"POST", "/_security/api_key/_query", false},
		{"POST", "/_security/_query/user", false},
		{"POST", "/_security/profile/_suggest", false},
		// Not security at all.
		{"POST", "/_bulk", false},
		{"POST", "/security/_doc", false},
		{"DELETE", "/logstash-x", false},
	} {
		u, err := url.ParseRequestURI(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := SelfService(tt.method, u); got != tt.want {
			t.Errorf("%s %s: %v; expected %v", tt.method, tt.path, got, tt.want)
		}
	}
}

func req(method, target string, hdr ...string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	r.Host = "127.0.0.1:9200"
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			r.Host = hdr[i+1]
			continue
		}
		r.Header.Set(hdr[i], hdr[i+1])
	}
	return r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, &net.TCPAddr{IP: net.ParseIP("10.1.2.3"), Port: 9200}))
}

// TestCheck: each default rule, and the key that lifts it.
func TestCheck(t *testing.T) {
	def := New(Config{})
	open := New(Config{AllowedHosts: []string{"esgate.svc"}, AllowedOrigins: []string{"https://kibana.example"}, AllowCredentialAPIs: true})
	for _, tt := range []struct {
		name       string
		r          *http.Request
		def, open  string // the rule refused, "" allowed
		unixBypass bool
	}{
		{"loopback IP", req("GET", "/"), "", "", false},
		{"localhost", req("GET", "/", "Host", "localhost:9200"), "", "", false},
		{"sub.localhost", req("GET", "/", "Host", "es.localhost"), "", "", false},
		{"IPv6 loopback", req("GET", "/", "Host", "[::1]:9200"), "", "", false},
		{"no Host (HTTP/1.0)", req("GET", "/", "Host", ""), "", "", false},
		{"the listener's address", req("GET", "/", "Host", "10.1.2.3:9200"), "", "", false},
		{"DNS rebinding", req("GET", "/", "Host", "rebind.attacker.example:9200"), "host", "host", true},
		{"allowed name", req("GET", "/", "Host", "esgate.svc:9200"), "host", "", true},
		{"cross-site page", req("POST", "/_delete_by_query", "Origin", "https://evil.example"), "browser", "browser", true},
		{"allowed origin", req("POST", "/_search", "Origin", "https://kibana.example"), "browser", "", true},
		{"Sec-Fetch-Site", req("GET", "/", "Sec-Fetch-Site", "cross-site"), "browser", "browser", true},
		{"Sec-Fetch-Site none", req("GET", "/", "Sec-Fetch-Site", "none"), "", "", false},
		{"TRACE", req("TRACE", "/"), "method", "method", false},
		{"upgrade", req("GET", "/", "Upgrade", "websocket", "Connection", "Upgrade"), "upgrade", "upgrade", false},
		{"password change", req("POST", "/_security/user/logstash_internal/_password"), "credential_api", "", false},
		{"bulk", req("POST", "/_bulk"), "", "", false},
	} {
		for _, c := range []struct {
			p    *Policy
			want string
			unix bool
		}{{def, tt.def, false}, {open, tt.open, false}, {def, map[bool]string{true: "", false: tt.def}[tt.unixBypass], true}} {
			ref := c.p.Check(tt.r, c.unix)
			got := ""
			if ref != nil {
				got = ref.Rule
			}
			if got != c.want {
				t.Errorf("%s (unix %v): refused by %q; expected %q", tt.name, c.unix, got, c.want)
			}
		}
	}
	if ref := def.Check(req("POST", "/_security/api_key"), false); ref == nil || !strings.Contains(ref.Reason, "allow_credential_apis") {
		t.Errorf("the refusal does not name the key that allows it: %+v", ref)
	}
	if ref := def.Check(req("GET", "/", "Host", "x.example"), false); ref == nil || !strings.Contains(ref.Reason, "allowed_hosts") {
		t.Errorf("the refusal does not name the key that allows it: %+v", ref)
	}
}

// TestStrip: identity headers are stripped unless forwarded by name.
func TestStrip(t *testing.T) {
	if s := New(Config{}).Strip(); !s["Es-Security-Runas-User"] || !s["Es-Secondary-Authorization"] {
		t.Errorf("default strip %v", s)
	}
	if s := New(Config{ForwardHeaders: []string{"es-security-runas-user"}}).Strip(); s["Es-Security-Runas-User"] || !s["Es-Secondary-Authorization"] {
		t.Errorf("strip with runas forwarded: %v", s)
	}
}

// FuzzSelfService: no panic, and the decision does not change when the
// path is written another way Elasticsearch reads the same: extra or
// trailing slashes, upper case, percent-encoded letters.
func FuzzSelfService(f *testing.F) {
	for _, s := range []string{"/_security/user/x/_password", "/_security/api_key", "/_bulk", "/_xpack/security/api_key/grant", "/_security/user/_has_privileges"} {
		f.Add("POST", s)
	}
	f.Fuzz(func(t *testing.T, method, path string) {
		u, err := url.ParseRequestURI(path)
		if err != nil || u.Path == "" {
			return
		}
		got := SelfService(method, u)
		variant := "/" + strings.ReplaceAll(strings.ToUpper(u.Path), "/", "//") + "/"
		if got != SelfService(method, &url.URL{Path: variant}) {
			t.Fatalf("%s %q: %v, but %q: %v", method, u.Path, got, variant, !got)
		}
	})
}

// TestProfiles: each profile allows its Logstash client's calls, call by
// call as in the plugin's source, and refuses what is not its
// job; rules come first, first match wins.
func TestProfiles(t *testing.T) {
	ingestCalls := [][2]string{
		{"HEAD", "/"}, {"GET", "/"}, {"GET", "/_license"},
		{"HEAD", "/_index_template/ecs-logstash"}, {"PUT", "/_index_template/ecs-logstash"},
		{"HEAD", "/ecs-logstash"}, {"PUT", "/%3Cecs-logstash-%7Bnow%2Fd%7D-000001%3E"},
		{"GET", "/_ilm/policy/logstash-policy"}, {"PUT", "/_ilm/policy/logstash-policy"},
		{"POST", "/_bulk?filter_path=errors,items.*.error,items.*.status"}, {"GET", "/_nodes/http"},
		// Filebeat 8/9's data stream, Filebeat 7.17's write alias.
		{"GET", "/_data_stream/filebeat-8.17.0"}, {"PUT", "/_data_stream/filebeat-8.17.0"},
		{"GET", "/_alias/filebeat-7.17.28"}, {"HEAD", "/_alias/filebeat-7.17.28"}, {"GET", "/filebeat-7.17.28-2026.12.05-000001/_alias"},
		{"PUT", "/%3Cfilebeat-7.17.28-%7Bnow%2Fd%7D-000001%3E"}, {"POST", "/filebeat-7.17.28/_rollover"},
		{"POST", "/logs-app-default/_rollover"}, {"POST", "/logs-2026.12.05/_doc"}, {"PUT", "/logs/_create/1"},
	}
	for _, tt := range []struct {
		profile string
		rules   []string
		allowed [][2]string
		refused [][2]string
		rule    string
	}{
		{profile: "ingest", allowed: ingestCalls,
			refused: [][2]string{{"POST", "/logs/_delete_by_query"}, {"DELETE", "/logstash-x"}, {"GET", "/logs/_search"}, {"PUT", "/_cluster/settings"}, {"PUT", "/_snapshot"}, {"POST", "/_monitoring/bulk"},
				{"DELETE", "/_data_stream/logs-app-default"}, {"POST", "/_aliases"}, {"PUT", "/_alias/x"}, {"POST", "/_data_stream/_migrate/x"}, {"GET", "/_nodes/stats"}}, rule: "profile"},
		{profile: "read", allowed: [][2]string{{"GET", "/"}, {"POST", "/logs-*/_search?scroll=1m"}, {"POST", "/_search/scroll"}, {"DELETE", "/_search/scroll"}, {"POST", "/logs/_pit?keep_alive=1m"}, {"GET", "/logs/_count"}},
			refused: [][2]string{{"POST", "/_bulk"}, {"PUT", "/logs"}, {"POST", "/logs/_delete_by_query"}}, rule: "profile"},
		{profile: "monitoring", allowed: [][2]string{{"GET", "/_xpack"}, {"POST", "/_monitoring/bulk?system_id=logstash"},
			{"GET", "/_nodes/_local/stats"}, {"GET", "/_nodes/stats"}, {"GET", "/_nodes/stats/jvm,os"}, {"GET", "/_nodes/_all/stats/indices/docs"},
			{"GET", "/_nodes/es01/stats/http"}, {"GET", "/_cluster/health"}, {"GET", "/_cluster/health/logs"}},
			refused: [][2]string{{"GET", "/logs/_search"}, {"POST", "/_nodes/stats"}, {"GET", "/_nodes/_local/hot_threads"}, {"POST", "/_nodes/reload_secure_settings"}, {"PUT", "/_cluster/settings"}, {"GET", "/_data_stream/x"}}, rule: "profile"},
		{profile: "management", allowed: [][2]string{{"GET", "/_logstash/pipeline?id=main"}, {"GET", "/_logstash/pipeline/main"}},
			refused: [][2]string{{"PUT", "/_logstash/pipeline/main"}, {"POST", "/_bulk"}}, rule: "profile"},
		{profile: "full", rules: []string{"deny DELETE /**", "allow GET /_cat/**"}, allowed: [][2]string{{"POST", "/_bulk"}, {"GET", "/_cat/indices"}},
			refused: [][2]string{{"DELETE", "/logs"}, {"DELETE", "/_search/scroll"}}, rule: "deny_rule"},
		{profile: "ingest", rules: []string{"allow GET /_cluster/health"}, allowed: [][2]string{{"GET", "/_cluster/health"}, {"POST", "/_bulk"}},
			refused: [][2]string{{"GET", "/_cluster/state"}}, rule: "profile"},
	} {
		var rules []Rule
		for _, s := range tt.rules {
			r, err := ParseRule(s)
			if err != nil {
				t.Fatal(err)
			}
			rules = append(rules, r)
		}
		p := New(Config{Profile: tt.profile, Rules: rules})
		for _, c := range tt.allowed {
			if ref := p.Check(req(c[0], c[1]), false); ref != nil {
				t.Errorf("%s %v: %s %s refused: %s", tt.profile, tt.rules, c[0], c[1], ref.Reason)
			}
		}
		for _, c := range tt.refused {
			ref := p.Check(req(c[0], c[1]), false)
			if ref == nil || ref.Rule != tt.rule || !strings.Contains(ref.Reason, "policy_rules") {
				t.Errorf("%s %v: %s %s: %+v; expected a %s refusal naming policy_rules", tt.profile, tt.rules, c[0], c[1], ref, tt.rule)
			}
		}
	}
	for _, bad := range []string{"permit GET /", "allow GET", "allow FETCH /", "allow GET x", "allow GET /**/x"} {
		if _, err := ParseRule(bad); err == nil {
			t.Errorf("rule %q accepted", bad)
		}
	}
}

// TestDefaultPolicyAllocatesNothing: the default policy's check of an
// ordinary request costs no allocation (it runs on every request).
func TestDefaultPolicyAllocatesNothing(t *testing.T) {
	p := New(Config{})
	r := req("POST", "/logs-x/_bulk?filter_path=errors")
	if n := testing.AllocsPerRun(1000, func() { p.Check(r, false) }); n != 0 {
		t.Errorf("%v allocations per check", n)
	}
}
