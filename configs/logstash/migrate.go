package logstash

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// movedKeys are the elasticsearch plugin settings that describe the
// connection to the cluster: esgate takes them over, and the rewritten
// plugin no longer has them. The names are Logstash's and esgate's alike.
var movedKeys = map[string]bool{
	"hosts": true, "cloud_id": true, "cloud_auth": true, "user": true, "password": true, "api_key": true,
	"path": true, "proxy": true, "custom_headers": true, "ssl_enabled": true, "ssl": true, "ssl_certificate_verification": true,
	"ssl_certificate_authorities": true, "cacert": true, "ca_file": true, "ca_trusted_fingerprint": true,
	"ssl_verification_mode": true, "ssl_certificate": true, "ssl_key": true, "ssl_key_passphrase": true,
	"ssl_keystore_path": true, "ssl_keystore_password": true, "ssl_keystore_type": true,
	"ssl_truststore_path": true, "ssl_truststore_password": true, "ssl_truststore_type": true,
	"keystore": true, "keystore_password": true, "truststore": true, "truststore_password": true,
	"ssl_supported_protocols": true, "ssl_cipher_suites": true,
}

// copiedKeys shape the connection on both sides: esgate gets them and
// the plugin keeps them.
var copiedKeys = map[string]bool{"timeout": true, "pool_max": true, "pool_max_per_route": true, "resurrect_delay": true, "healthcheck_path": true}

// secretKeys hold secrets.
var secretKeys = map[string]bool{"password": true, "api_key": true, "cloud_auth": true, "ssl_key_passphrase": true,
	"ssl_keystore_password": true, "ssl_truststore_password": true, "keystore_password": true, "truststore_password": true}

// renamed are old names esgate reads under their current names.
var renamed = map[string]string{"ca_file": "ssl_certificate_authorities"}

// Route is one esgate route Migrate made: settings in esgate's keys.
type Route struct {
	Name     string
	Listen   string
	Policy   string
	Settings map[string]any // key -> string, []string or map[string]string
	Plugins  []string       // where it comes from: file:line section/name
}

// Result is what Migrate produced.
type Result struct {
	Routes   []*Route
	Rewrites map[string]string // file -> rewritten pipeline
	// Warnings: literal secrets copied into the esgate config, settings
	// dropped.
	Warnings []string
}

// File is one pipeline file to migrate.
type File struct {
	Name string
	Src  string
}

// Options for Migrate.
type Options struct {
	// FirstPort is the first listen port (default 9200); 9201 (esgate's
	// status listener) is skipped.
	FirstPort int
	// MoveSecret, if set, takes each secret written in a pipeline (not a
	// ${VAR} reference) and returns the name it was stored under (in
	// esgate's keystore); the config then says ${NAME}.
	MoveSecret func(name, value string) error
}

var dynamic = regexp.MustCompile(`%\{[^}]*\}`)

// Migrate maps every elasticsearch plugin (output, input, filter) in
// files to an esgate route (plugins with the same connection share one)
// and rewrites each plugin to reach its route over plain HTTP on
// 127.0.0.1, with the connection and security settings removed. What it
// cannot map is an error naming the file, line and setting.
func Migrate(files []File, opts Options) (*Result, error) {
	if opts.FirstPort == 0 {
		opts.FirstPort = 9200
	}
	res := &Result{Rewrites: map[string]string{}}
	byKey := map[string]*Route{}
	port := opts.FirstPort
	nextPort := func() int {
		if port == 9201 {
			port++
		}
		p := port
		port++
		return p
	}
	for _, f := range files {
		cfg, err := Parse(f.Src)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
		type edit struct {
			start, end int
			text       string
		}
		var edits []edit
		for _, p := range cfg.Plugins {
			if p.Name != "elasticsearch" {
				continue
			}
			where := fmt.Sprintf("%s:%d %s/elasticsearch", f.Name, p.Line, p.Section)
			settings := map[string]any{}
			for _, a := range p.Attrs {
				if !movedKeys[a.Name] && !copiedKeys[a.Name] {
					continue
				}
				key := a.Name
				if r, ok := renamed[key]; ok {
					key = r
				}
				v, err := settingValue(a)
				if err != nil {
					return nil, fmt.Errorf("%s: %s: %w", where, a.Name, err)
				}
				if s, ok := v.(string); ok && dynamic.MatchString(s) {
					return nil, fmt.Errorf("%s: %s: %q depends on the event (%%{…}); esgate needs a fixed value", where, a.Name, s)
				}
				if l, ok := v.([]string); ok {
					for _, s := range l {
						if dynamic.MatchString(s) {
							return nil, fmt.Errorf("%s: %s: %q depends on the event (%%{…}); esgate needs a fixed value", where, a.Name, s)
						}
					}
				}
				if secretKeys[a.Name] {
					if s, _ := v.(string); s != "" && !strings.Contains(s, "${") {
						if opts.MoveSecret != nil {
							name := secretName(p, len(res.Routes)+1, a.Name)
							if err := opts.MoveSecret(name, s); err != nil {
								return nil, fmt.Errorf("%s: %s: storing it in the keystore: %w", where, a.Name, err)
							}
							v = "${" + name + "}"
						} else {
							res.Warnings = append(res.Warnings, fmt.Sprintf("%s: %s is written in the pipeline: it is copied into esgate's config; move it to esgate's keystore (esgate migrate --keystore, or esgate keystore add NAME) and write ${NAME}", where, a.Name))
						}
					}
				}
				settings[key] = v
			}
			if err := checkMappable(settings, where); err != nil {
				return nil, err
			}
			if _, ok := settings["hosts"]; !ok {
				if _, ok := settings["cloud_id"]; !ok {
					settings["hosts"] = []string{"https://localhost:9200"}
					res.Warnings = append(res.Warnings, where+": no hosts: Logstash's default (localhost:9200) is used, over TLS")
				}
			}
			key := routeKey(settings)
			rt := byKey[key]
			if rt == nil {
				name := fmt.Sprintf("%s-%d", p.Section, len(byKey)+1)
				if id := p.Attr("id"); id != nil && id.Value.Kind == String {
					name = id.Value.Str
				}
				policy := "read"
				if p.Section == "output" {
					policy = "ingest"
				}
				rt = &Route{Name: name, Listen: fmt.Sprintf("127.0.0.1:%d", nextPort()), Policy: policy, Settings: settings}
				byKey[key] = rt
				res.Routes = append(res.Routes, rt)
			} else if rt.Policy == "ingest" && p.Section != "output" || rt.Policy == "read" && p.Section == "output" {
				rt.Policy = "full" // one connection for writing and reading
			}
			rt.Plugins = append(rt.Plugins, where)

			// The rewrite: hosts points at the route; moved settings go.
			hostsText := fmt.Sprintf(`hosts => ["http://%s"]`, rt.Listen)
			replaced := false
			for _, a := range p.Attrs {
				if !movedKeys[a.Name] {
					continue
				}
				text := ""
				if a.Name == "hosts" || (a.Name == "cloud_id" && !replaced) {
					text, replaced = hostsText, true
				}
				edits = append(edits, edit{a.Start, a.End, text})
			}
			if !replaced {
				edits = append(edits, edit{p.BodyEnd, p.BodyEnd, "  " + hostsText + "\n"})
			}
		}
		if len(edits) == 0 {
			continue
		}
		sort.Slice(edits, func(i, j int) bool { return edits[i].start < edits[j].start })
		var b strings.Builder
		last := 0
		for _, e := range edits {
			b.WriteString(f.Src[last:e.start])
			if e.text == "" {
				// Drop the attribute's line when nothing else is on it.
				out := strings.TrimRight(b.String(), " \t")
				if strings.HasSuffix(out, "\n") && lineRestBlank(f.Src, e.end) {
					b.Reset()
					b.WriteString(out)
					e.end = skipLine(f.Src, e.end)
				}
			}
			b.WriteString(e.text)
			last = e.end
		}
		b.WriteString(f.Src[last:])
		res.Rewrites[f.Name] = b.String()
	}
	if len(res.Routes) == 0 {
		return nil, fmt.Errorf("no elasticsearch plugin found")
	}
	return res, nil
}

// lineRestBlank reports whether only white space follows pos on its line.
func lineRestBlank(src string, pos int) bool {
	for pos < len(src) && src[pos] != '\n' {
		if src[pos] != ' ' && src[pos] != '\t' && src[pos] != '\r' {
			return false
		}
		pos++
	}
	return true
}

func skipLine(src string, pos int) int {
	for pos < len(src) && src[pos] != '\n' {
		pos++
	}
	if pos < len(src) {
		pos++
	}
	return pos
}

// secretName names a moved secret: ESGATE_<ID or SECTION_N>_<KEY>.
func secretName(p *Plugin, n int, key string) string {
	base := fmt.Sprintf("%s_%d", p.Section, n)
	if id := p.Attr("id"); id != nil && id.Value.Kind == String {
		base = id.Value.Str
	}
	out := []byte("ESGATE_" + base + "_" + key)
	for i, c := range out {
		switch {
		case c >= 'a' && c <= 'z':
			out[i] = c - 'a' + 'A'
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		default:
			out[i] = '_'
		}
	}
	return string(out)
}

// settingValue converts an attribute to a config value.
func settingValue(a Attr) (any, error) {
	switch a.Value.Kind {
	case Hash:
		m := map[string]string{}
		for _, p := range a.Value.Pairs {
			s, ok := p.Value.Strings()
			if !ok || p.Value.Kind == Array {
				return nil, fmt.Errorf("want a hash of strings")
			}
			m[p.Key] = s[0]
		}
		return m, nil
	case Array:
		s, ok := a.Value.Strings()
		if !ok {
			return nil, fmt.Errorf("want a list of strings")
		}
		return s, nil
	}
	s, _ := a.Value.Strings()
	if a.Name == "hosts" || a.Name == "ssl_certificate_authorities" || a.Name == "ca_file" || a.Name == "cacert" ||
		a.Name == "ssl_supported_protocols" || a.Name == "ssl_cipher_suites" || a.Name == "ca_trusted_fingerprint" {
		return s, nil
	}
	return s[0], nil
}

// checkMappable refuses what esgate cannot take over.
func checkMappable(s map[string]any, where string) error {
	for _, k := range []string{"ssl_enabled", "ssl"} {
		if v, ok := s[k].(string); ok && v == "false" {
			return fmt.Errorf("%s: %s => false: the cluster is reached without TLS, so there is nothing for esgate to secure; leave this plugin as it is", where, k)
		}
	}
	if hosts, ok := s["hosts"].([]string); ok {
		tls := s["ssl_enabled"] == "true" || s["ssl"] == "true"
		for i, h := range hosts {
			if strings.HasPrefix(h, "http://") {
				if !tls {
					return fmt.Errorf("%s: hosts %q is plain HTTP: the cluster is reached without TLS; leave this plugin as it is, or give https:// hosts", where, h)
				}
				hosts[i] = "https://" + strings.TrimPrefix(h, "http://")
			}
		}
	}
	return nil
}

// routeKey identifies a connection: plugins with equal settings share a
// route.
func routeKey(s map[string]any) string {
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%v\x00", k, s[k])
	}
	return b.String()
}

// ConfigYAML renders the routes as an esgate config file: each route's
// name, listen and policy first, then its settings by name.
func (r *Result) ConfigYAML() ([]byte, error) {
	str := func(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: s} }
	routes := &yaml.Node{Kind: yaml.SequenceNode}
	for _, rt := range r.Routes {
		m := &yaml.Node{Kind: yaml.MappingNode}
		add := func(k string, v *yaml.Node) { m.Content = append(m.Content, str(k), v) }
		add("name", str(rt.Name))
		add("listen", str(rt.Listen))
		add("policy", str(rt.Policy))
		keys := make([]string, 0, len(rt.Settings))
		for k := range rt.Settings {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			switch v := rt.Settings[k].(type) {
			case string:
				add(k, str(v))
			case []string:
				seq := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
				for _, e := range v {
					seq.Content = append(seq.Content, str(e))
				}
				add(k, seq)
			case map[string]string:
				mm := &yaml.Node{Kind: yaml.MappingNode}
				hk := make([]string, 0, len(v))
				for x := range v {
					hk = append(hk, x)
				}
				sort.Strings(hk)
				for _, x := range hk {
					mm.Content = append(mm.Content, str(x), str(v[x]))
				}
				add(k, mm)
			}
		}
		routes.Content = append(routes.Content, m)
	}
	doc := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{str("routes"), routes}}
	var b strings.Builder
	b.WriteString("# Written by esgate migrate. One route per distinct cluster connection:\n")
	for _, rt := range r.Routes {
		fmt.Fprintf(&b, "#   %s (%s, policy %s): %s\n", rt.Name, rt.Listen, rt.Policy, strings.Join(rt.Plugins, ", "))
	}
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}
