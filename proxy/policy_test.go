package proxy_test

import (
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/esgate/esgate/auth"
	"github.com/esgate/esgate/auth/policy"
	"github.com/esgate/esgate/certs"
	"github.com/esgate/esgate/proxy"
	"github.com/esgate/esgate/proxy/metrics"
	"github.com/esgate/esgate/test/esserver"
)

// TestPolicyAttacks: what a local process or a web page tries with the
// route's Basic credential, through real sockets, with the default policy:
// refused with 403 esgate_policy_exception before anything reaches
// Elasticsearch, counted; and allowed once the route is configured so.
func TestPolicyAttacks(t *testing.T) {
	es, ca := esserver.StartT(t, esserver.Options{})
	es.AddUser("logstash_internal", "s3cret-pw", "superuser")
	attacks := []struct {
		name, method, path, body string
		hdr                      []string
		rule                     string
		allow                    policy.Config
	}{
		{name: "take over the password", method: "POST", path: "/_security/user/logstash_internal/_password", body: `{"password":"attacker-pw"}`,
			rule: "credential_api", allow: policy.Config{AllowCredentialAPIs: true}},
		{name: "take over, encoded path", method: "POST", path: "/_secur%69ty/user/logstash_internal/_password", body: `{"password":"attacker-pw"}`,
			rule: "credential_api", allow: policy.Config{AllowCredentialAPIs: true}},
		{name: "mint an API key", method: "POST", path: "/_security/api_key", body: `{"name":"mine"}`,
			rule: "credential_api", allow: policy.Config{AllowCredentialAPIs: true}},
		{name: "DNS rebinding", method: "GET", path: "/", hdr: []string{"Host", "rebind.attacker.example:9200"},
			rule: "host", allow: policy.Config{AllowedHosts: []string{"rebind.attacker.example"}}},
		{name: "cross-site POST", method: "POST", path: "/logstash-x/_delete_by_query", body: `{"query":{"match_all":{}}}`,
			hdr:  []string{"Origin", "https://evil.example", "Content-Type", "text/plain"},
			rule: "browser", allow: policy.Config{AllowedOrigins: []string{"https://evil.example"}}},
		{name: "TRACE", method: "TRACE", path: "/", rule: "method"},
		{name: "upgrade", method: "GET", path: "/", hdr: []string{"Upgrade", "websocket", "Connection", "Upgrade"}, rule: "upgrade"},
	}
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			var seen atomic.Int64
			es.OnRequest(func(r *http.Request) {
				if r.URL.Path != "/" || r.Method != "HEAD" { // not a health check
					seen.Add(1)
				}
			})
			defer es.OnRequest(nil)
			front, _ := sandwich(t, certs.Options{CAFiles: []string{ca}}, auth.Basic("logstash_internal", "s3cret-pw"), func(o *proxy.Options) {
				withPolicy(o, policy.New(policy.Config{}))
				o.Metrics = metrics.New(reg).Route("p")
				o.ResurrectDelay = time.Hour
			}, es.URL)
			res, body := rawRequest(t, front, rawHTTP(a.method, a.path, a.body, a.hdr...))
			e := parseErr(t, body)
			if res.StatusCode != 403 || e.Error.Type != "esgate_policy_exception" {
				t.Fatalf("status %d %s; expected 403 esgate_policy_exception", res.StatusCode, body)
			}
			if n := seen.Load(); n != 0 {
				t.Errorf("Elasticsearch saw %d requests", n)
			}
			if n := sumOf(reg, "esgate_policy_refusals_total", "rule", a.rule); n != 1 {
				t.Errorf("esgate_policy_refusals_total{rule=%q} = %v", a.rule, n)
			}
			if a.rule == "method" || a.rule == "upgrade" {
				return // no key allows it
			}
			front, _ = sandwich(t, certs.Options{CAFiles: []string{ca}}, auth.Basic("logstash_internal", "s3cret-pw"), func(o *proxy.Options) {
				withPolicy(o, policy.New(a.allow))
				o.ResurrectDelay = time.Hour
			}, es.URL)
			// This request reaches the test server, whose Basic
			// authentication is bcrypt (ES's default cost): under -race on
			// a starved machine it takes tens of seconds, hence catchHang.
			res, body = rawRequest(t, front, rawHTTP(a.method, a.path, a.body, a.hdr...))
			if res.StatusCode == 403 {
				t.Errorf("allowed by config, still refused: %s", body)
			}
			if n := seen.Load(); n != 1 {
				t.Errorf("allowed by config: Elasticsearch saw %d requests; expected 1", n)
			}
		})
	}
}

// TestIdentityHeadersStripped: es-security-runas-user and
// es-secondary-authorization from the client never reach Elasticsearch
// beside esgate's credential, unless the route forwards them by name.
func TestIdentityHeadersStripped(t *testing.T) {
	// Only the client's request (path /marked) is recorded; readiness and
	// health probes get their answer and are not. The send never blocks,
	// so no handler can hold httptest.Server.Close; the count says how
	// many client requests arrived.
	got := make(chan http.Header, 4)
	var marked atomic.Int64
	up := startConnUpstream(t, 0, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/marked" {
			return
		}
		marked.Add(1)
		select {
		case got <- r.Header.Clone():
		default:
		}
	})
	for i, fwd := range [][]string{nil, {"es-security-runas-user"}} {
		front, _ := sandwich(t, certs.Options{CAFiles: []string{up.ca}}, auth.APIKey("aWQ6a2V5"), func(o *proxy.Options) {
			withPolicy(o, policy.New(policy.Config{ForwardHeaders: fwd}))
		}, up.URL)
		if res, body := do(t, "GET", front+"/marked", "", "Es-Security-Runas-User", "elastic", "Es-Secondary-Authorization", "Basic ZWxhc3RpYzpjaGFuZ2VtZQ=="); res.StatusCode != 200 {
			t.Fatalf("forward %v: status %d %s", fwd, res.StatusCode, body)
		}
		if n := marked.Load(); n != int64(i+1) {
			t.Fatalf("forward %v: Elasticsearch saw %d client requests in all; expected %d", fwd, n, i+1)
		}
		var h http.Header
		select {
		case h = <-got:
		case <-time.After(catchHang):
			t.Fatalf("forward %v: the request's headers were never recorded", fwd)
		}
		if h.Get("Es-Secondary-Authorization") != "" {
			t.Errorf("forward %v: es-secondary-authorization reached Elasticsearch", fwd)
		}
		if want := fwd != nil; (h.Get("Es-Security-Runas-User") != "") != want {
			t.Errorf("forward %v: es-security-runas-user forwarded %v", fwd, !want)
		}
	}
}

func rawHTTP(method, path, body string, hdr ...string) string {
	var b strings.Builder
	host := "127.0.0.1"
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			host = hdr[i+1]
		}
	}
	b.WriteString(method + " " + path + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n")
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] != "Host" {
			b.WriteString(hdr[i] + ": " + hdr[i+1] + "\r\n")
		}
	}
	if body != "" {
		b.WriteString("Content-Type: application/json\r\n")
		b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n")
	}
	b.WriteString("\r\n" + body)
	return b.String()
}
