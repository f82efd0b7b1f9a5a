package policy

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Rule is one allow or deny rule: methods (nil: any) and a path pattern.
//
// Patterns are matched against the path as Elasticsearch routes it
// (decoded, empty segments dropped, compared without case): a literal
// segment matches itself, "*" one segment that does not start with "_"
// (an index, alias or data stream name, never an API such as _security),
// and a final "**" any number of further segments, none included.
type Rule struct {
	Allow   bool
	Methods []string
	Pattern []string
	text    string
}

func (r Rule) String() string { return r.text }

// ParseRule reads "allow|deny METHODS PATH", METHODS being * or a comma
// list (GET,HEAD), as policy_rules takes it.
func ParseRule(s string) (Rule, error) {
	f := strings.Fields(s)
	if len(f) != 3 {
		return Rule{}, fmt.Errorf("%q: want \"allow|deny METHODS /path\", e.g. \"deny DELETE /**\"", s)
	}
	r := Rule{text: strings.Join(f, " ")}
	switch strings.ToLower(f[0]) {
	case "allow":
		r.Allow = true
	case "deny":
	default:
		return Rule{}, fmt.Errorf("%q: starts with %q; want allow or deny", s, f[0])
	}
	if f[1] != "*" {
		for _, m := range strings.Split(f[1], ",") {
			m = strings.ToUpper(m)
			switch m {
			case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions:
				r.Methods = append(r.Methods, m)
			default:
				return Rule{}, fmt.Errorf("%q: unknown method %q", s, m)
			}
		}
	}
	if !strings.HasPrefix(f[2], "/") {
		return Rule{}, fmt.Errorf("%q: the path %q must start with /", s, f[2])
	}
	r.Pattern = segments(f[2])
	for i, seg := range r.Pattern {
		if seg == "**" && i != len(r.Pattern)-1 {
			return Rule{}, fmt.Errorf("%q: ** may only end the path", s)
		}
	}
	return r, nil
}

func mustRules(ss ...string) []Rule {
	out := make([]Rule, 0, len(ss))
	for _, s := range ss {
		r, err := ParseRule(s)
		if err != nil {
			panic(err)
		}
		out = append(out, r)
	}
	return out
}

// matches reports whether the rule covers method and path segments.
func (r Rule) matches(method string, segs []string) bool {
	if r.Methods != nil {
		ok := false
		for _, m := range r.Methods {
			ok = ok || m == method
		}
		if !ok {
			return false
		}
	}
	return matchSegs(r.Pattern, segs)
}

func matchSegs(pat, segs []string) bool {
	for i, p := range pat {
		if p == "**" {
			return true
		}
		if i >= len(segs) {
			return false
		}
		switch {
		case p == "*":
			if strings.HasPrefix(segs[i], "_") {
				return false
			}
		case p != segs[i]:
			return false
		}
	}
	return len(pat) == len(segs)
}

// Profiles name what a route is for; each allows exactly the calls of
// that Logstash client (logstash-output-elasticsearch and Logstash x-pack
// sources), and of the other shippers and exporters doing the same job,
// and refuses the rest. "full" allows everything but credential self-service.
var Profiles = map[string][]Rule{
	// The elasticsearch output: register checks, templates, ILM and the
	// rollover alias, bulk, and sniffing.
	"ingest": mustRules(
		"allow GET,HEAD /",
		"allow GET /_license",
		"allow GET /_xpack",
		"allow GET,HEAD,PUT /_index_template/*",
		"allow GET,HEAD,PUT /_template/*",
		"allow GET,PUT /_ilm/policy/*",
		"allow HEAD /*",
		"allow PUT /*",
		"allow POST,PUT /_bulk",
		"allow POST,PUT /*/_bulk",
		"allow GET /_nodes/http",
		"allow GET /_nodes/_all/http",
		// Other shippers on the same route (Beats, logging transports):
		// data streams (Filebeat 8/9 GETs then PUTs its stream), the
		// write alias of Beats 7.x's ILM (GET /_alias, then a date-math
		// index with the alias), rollover, and single-document writes.
		// Never DELETE, nor POST /_aliases (its remove_index deletes).
		"allow GET,HEAD,PUT /_data_stream/*",
		"allow GET,HEAD /_alias/*",
		"allow GET /*/_alias",
		"allow GET /*/_alias/*",
		"allow POST /*/_rollover",
		"allow POST /*/_doc",
		"allow PUT,POST /*/_create/*",
	),
	// The elasticsearch input and filter: search, scroll, point in time,
	// count, field caps.
	"read": mustRules(
		"allow GET,HEAD /",
		"allow GET /_license",
		"allow GET,POST /_search",
		"allow GET,POST /*/_search",
		"allow GET,POST,DELETE /_search/scroll",
		"allow GET,POST,DELETE /_search/scroll/*",
		"allow GET,POST /_msearch",
		"allow GET,POST /*/_msearch",
		"allow GET,POST /_count",
		"allow GET,POST /*/_count",
		"allow GET,POST /*/_field_caps",
		"allow POST /*/_pit",
		"allow DELETE /_pit",
		"allow GET /_nodes/http",
		"allow GET /_nodes/_all/http",
	),
	// Logstash's monitoring: its license reader and _monitoring/bulk, and
	// direct shipping's bulk (monitoring.enabled).
	"monitoring": mustRules(
		"allow GET,HEAD /",
		"allow GET /_license",
		"allow GET /_xpack",
		"allow POST,PUT /_monitoring/bulk",
		"allow POST,PUT /_bulk",
		// Monitoring exporters (prometheus-elasticsearch-exporter): node
		// statistics and cluster health, read-only (monitor privilege).
		"allow GET /_nodes/stats/**",
		"allow GET /_nodes/_local/stats/**",
		"allow GET /_nodes/_all/stats/**",
		"allow GET /_nodes/*/stats/**",
		"allow GET /_cluster/health/**",
	),
	// Central pipeline management.
	"management": mustRules(
		"allow GET,HEAD /",
		"allow GET /_license",
		"allow GET /_xpack",
		"allow GET /_logstash/pipeline",
		"allow GET /_logstash/pipeline/**",
	),
	"full": mustRules("allow * /**"),
}

// ProfileNames lists the profiles in the order documented.
var ProfileNames = []string{"full", "ingest", "read", "monitoring", "management"}

// decide applies the route's rules, then its profile: the first rule that
// matches decides; nothing matching is a refusal.
func (p *Policy) decide(method string, u *url.URL) (allowed bool, by string) {
	if len(p.rules) == 0 && p.profile == "full" {
		return true, "policy full" // allows everything: no need to split the path
	}
	segs := routeSegments(u)
	for _, r := range p.rules {
		if r.matches(method, segs) {
			return r.Allow, "policy_rules: " + r.text
		}
	}
	for _, r := range Profiles[p.profile] {
		if r.matches(method, segs) {
			return r.Allow, "policy " + p.profile
		}
	}
	return false, "policy " + p.profile
}

// Effective describes the policy for esgate check.
func (p *Policy) Effective() []string {
	var out []string
	for _, r := range p.rules {
		out = append(out, r.text+"  (policy_rules)")
	}
	for _, r := range Profiles[p.profile] {
		out = append(out, r.text+"  (policy "+p.profile+")")
	}
	out = append(out, "deny * /**  (anything else)")
	if !p.selfServ {
		out = append([]string{"deny credential self-service  (allow_credential_apis: false)"}, out...)
	}
	return out
}
