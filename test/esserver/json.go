package esserver

import (
	"bytes"
	"encoding/json"
	"strings"
)

// kv is one key of an ordered JSON object.
type kv struct {
	K string
	V any
}

// obj is a JSON object that keeps Elasticsearch's key order.
type obj []kv

func (o obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, e := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(e.K)
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(e.V)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// filterPath applies Elasticsearch's filter_path (comma-separated paths of
// dot-separated keys; '*' matches any key, and a key pattern may contain
// '*'). Arrays are traversed transparently; empty results are dropped.
func filterPath(v any, spec string) any {
	var pats [][]string
	for _, p := range strings.Split(spec, ",") {
		if p = strings.TrimSpace(p); p != "" {
			pats = append(pats, strings.Split(p, "."))
		}
	}
	if len(pats) == 0 {
		return v
	}
	out, ok := filter(v, pats)
	if !ok {
		return obj{}
	}
	return out
}

func filter(v any, pats [][]string) (any, bool) {
	for _, p := range pats {
		if len(p) == 0 {
			return v, true // a pattern ended here: keep the whole value
		}
	}
	switch t := v.(type) {
	case obj:
		var out obj
		for _, e := range t {
			var sub [][]string
			for _, p := range pats {
				if globMatch(p[0], e.K) {
					sub = append(sub, p[1:])
				}
			}
			if len(sub) == 0 {
				continue
			}
			if fv, ok := filter(e.V, sub); ok {
				out = append(out, kv{e.K, fv})
			}
		}
		return out, len(out) > 0
	case []any:
		var out []any
		for _, e := range t {
			if fv, ok := filter(e, pats); ok {
				out = append(out, fv)
			}
		}
		return out, len(out) > 0
	}
	return nil, false
}

// globMatch matches s against a pattern with '*' (any run) and '?' (one char).
func globMatch(pat, s string) bool {
	if pat == "*" {
		return true
	}
	for len(pat) > 0 {
		switch pat[0] {
		case '*':
			for i := len(s); i >= 0; i-- {
				if globMatch(pat[1:], s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
			pat, s = pat[1:], s[1:]
		default:
			if s == "" || s[0] != pat[0] {
				return false
			}
			pat, s = pat[1:], s[1:]
		}
	}
	return s == ""
}

// causeObj builds {"type":…,"reason":…} plus extra ordered keys.
func causeObj(typ, reason string, extra ...kv) obj {
	return append(obj{{"type", typ}, {"reason", reason}}, extra...)
}

// errorBody is the full ES error shape: root_cause, type, reason, status.
func errorBody(status int, typ, reason string, extra ...kv) obj {
	c := causeObj(typ, reason, extra...)
	return obj{{"error", append(obj{{"root_cause", []any{c}}}, c...)}, {"status", status}}
}
