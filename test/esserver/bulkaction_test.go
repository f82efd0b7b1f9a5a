package esserver

import (
	"strings"
	"testing"
)

// TestBulkActionLines: BulkRequestParser's action-line rules per major and
// REST API version. 8.x and 9.x under compatible-with=8 warn about a
// missing brace, extra keys and trailing data; 9.x refuses them.
func TestBulkActionLines(t *testing.T) {
	const (
		multi    = `299 Elasticsearch-%s-2b5fb8b "A bulk action object contained multiple keys. Additional keys are currently ignored but will be rejected in a future version."`
		unclosed = `299 Elasticsearch-%s-2b5fb8b "A bulk action wasn't closed properly with the closing brace. Malformed objects are currently accepted but will be rejected in a future version."`
		trailing = `299 Elasticsearch-%s-2b5fb8b "A bulk action contained trailing data after the closing brace. This is currently ignored but will be rejected in a future version."`
		unsup    = `299 Elasticsearch-%s-2b5fb8b "Unsupported action: [get]. Supported values are [create], [delete], [index], and [update]. Unsupported actions are currently accepted but will be rejected in a future version."`
	)
	src := "\n{\"m\":1}\n"
	lines := map[string]string{
		"extra key":         `{"index":{"_index":"logs-2026.12.05"},"attempts":0}`,
		"missing brace":     `{"index":{"_index":"logs-2026.12.05"}`,
		"trailing data":     `{"index":{"_index":"logs-2026.12.05"}} {"a":"b"}`,
		"op_type in index":  `{"index":{"_index":"logs-app-default","op_type":"create"}}`,
		"null values":       `{"create":{"_index":"x","_id":null,"routing":null,"anything":null}}`,
		"unknown key":       `{"index":{"_index":"x","attempts":0}}`,
		"array value":       `{"index":{"_index":"x","routing":["a"]}}`,
		"object value":      `{"index":{"_index":"x","routing":{"a":1}}}`,
		"dynamic_templates": `{"index":{"_index":"x","dynamic_templates":{"f":"t"}}}`,
		"unsupported":       `{"get":{"_index":"x","_id":"1"}}`,
		"not an object":     `["index"]`,
		"action not obj":    `{"index":"x"}`,
		"empty object":      `{}`,
	}
	ndjson := func(v string) []string {
		return with(elastic, "Content-Type", "application/vnd.elasticsearch+x-ndjson; compatible-with="+v, "Accept", "application/vnd.elasticsearch+json; compatible-with="+v)
	}
	plain := with(elastic, "Content-Type", "application/x-ndjson")
	ok := `{"errors":false}`
	bad := func(typ, reason string) string {
		return `{"error":{"root_cause":[{"type":"` + typ + `","reason":"` + reason + `"}],"type":"` + typ + `","reason":"` + reason + `"},"status":400}`
	}
	for _, tt := range []struct {
		version, line string
		hdr           []string
		status        int
		body, warning string
	}{
		// ES 8: lenient, with the deprecation Warning.
		{"8.15.3", "extra key", plain, 200, ok, multi},
		{"8.15.3", "missing brace", plain, 200, ok, unclosed},
		{"8.15.3", "trailing data", plain, 200, ok, trailing},
		{"8.15.3", "extra key", ndjson("7"), 200, ok, multi},
		{"8.15.3", "unsupported", plain, 400, bad("action_request_validation_exception", "Validation Failed: 1: no requests added;"), unsup},
		// ES 9 with compatible-with=8: the 8.x leniency.
		{"9.1.5", "extra key", ndjson("8"), 200, ok, multi},
		{"9.1.5", "missing brace", ndjson("8"), 200, ok, unclosed},
		{"9.1.5", "trailing data", ndjson("8"), 200, ok, trailing},
		// ES 9's own version: refused.
		{"9.1.5", "extra key", plain, 400, bad("illegal_argument_exception", "Malformed action/metadata line [1], expected END_OBJECT but found [FIELD_NAME]"), ""},
		{"9.1.5", "extra key", ndjson("9"), 400, bad("illegal_argument_exception", "Malformed action/metadata line [1], expected END_OBJECT but found [FIELD_NAME]"), ""},
		{"9.1.5", "trailing data", plain, 400, bad("illegal_argument_exception", "Malformed action/metadata line [1], unexpected data after the closing brace"), ""},
		{"9.1.5", "unsupported", plain, 400, bad("illegal_argument_exception", "Malformed action/metadata line [1], expected field [create], [delete], [index] or [update] but found [get]"), ""},
		{"9.1.5", "unsupported", ndjson("8"), 400, bad("illegal_argument_exception", "Malformed action/metadata line [1], expected field [create], [delete], [index] or [update] but found [get]"), ""},
	} {
		for _, v := range []string{tt.version} {
			c := newTC(t, Options{Version: v})
			path := "/_bulk?filter_path=errors"
			if tt.status == 400 {
				path = "/_bulk"
			}
			res, body := c.call("POST", path, lines[tt.line]+src, tt.hdr...)
			want := ""
			if tt.warning != "" {
				want = strings.Replace(tt.warning, "%s", v, 1)
			}
			if res.StatusCode != tt.status || body != tt.body || res.Header.Get("Warning") != want {
				t.Errorf("%s %s %v: %d %s (Warning %q)\nwant %d %s (Warning %q)", v, tt.line, tt.hdr[2:], res.StatusCode, body, res.Header.Get("Warning"), tt.status, tt.body, want)
			}
		}
	}
	// The 9.x strict missing brace is Jackson's end-of-input error.
	c9 := newTC(t, Options{Version: "9.1.5"})
	if res, body := c9.call("POST", "/_bulk", lines["missing brace"]+src, plain...); res.StatusCode != 400 || !strings.Contains(body, `"type":"x_content_e_o_f_exception"`) {
		t.Errorf("9.x missing brace: %d %s", res.StatusCode, body)
	}
	// Both majors: the same answers for the metadata itself.
	for _, v := range []string{"8.15.3", "9.1.5"} {
		c := newTC(t, Options{Version: v})
		for _, tt := range []struct {
			line   string
			status int
			body   string
		}{
			{"op_type in index", 200, `{"items":[{"create":{"_index":".ds-logs-app-default-` + c.s.now().UTC().Format("2006.01.02") + `-000001","status":201}}]}`},
			{"null values", 200, `{"items":[{"create":{"_index":"x","status":201}}]}`},
			{"dynamic_templates", 200, `{"items":[{"index":{"_index":"x","status":201}}]}`},
			{"unknown key", 400, bad("illegal_argument_exception", "Action/metadata line [1] contains an unknown parameter [attempts]")},
			{"array value", 400, bad("illegal_argument_exception", "Malformed action/metadata line [1], expected a simple value for field [routing] but found [START_ARRAY]")},
			{"object value", 400, bad("illegal_argument_exception", "Malformed action/metadata line [1], expected a simple value for field [routing] but found [START_OBJECT]")},
			{"not an object", 400, bad("illegal_argument_exception", "Malformed action/metadata line [1], expected START_OBJECT but found [START_ARRAY]")},
			{"action not obj", 400, bad("illegal_argument_exception", "Malformed action/metadata line [1], expected START_OBJECT or END_OBJECT but found [VALUE_STRING]")},
			{"empty object", 400, bad("illegal_argument_exception", "Malformed action/metadata line [1], expected FIELD_NAME but found [END_OBJECT]")},
		} {
			res, body := c.call("POST", "/_bulk?filter_path=items.*._index,items.*.status,error", lines[tt.line]+src, plain...)
			if tt.status == 400 {
				res, body = c.call("POST", "/_bulk", lines[tt.line]+src, plain...)
			}
			if res.StatusCode != tt.status || body != tt.body {
				t.Errorf("%s %s: %d %s\nwant %d %s", v, tt.line, res.StatusCode, body, tt.status, tt.body)
			}
		}
	}
}

// FuzzBulkActionLine: the action-line parser never panics, and what it
// accepts names a known action.
func FuzzBulkActionLine(f *testing.F) {
	for _, s := range []string{`{"index":{}}`, `{"index":{"_index":"a"},"x":1}`, `{"index":{"_index":"a"}`, `{"create":{}} {}`, `[`, `{"get":{}}`, `{"index":{"_source":{"a":[1]}}}`} {
		f.Add(s)
	}
	servers := []*Server{{opts: Options{Version: "8.15.3"}}, {opts: Options{Version: "9.1.5"}}}
	f.Fuzz(func(t *testing.T, line string) {
		for _, s := range servers {
			for _, compat := range []string{"", "7", "8", "9"} {
				a, err := s.parseBulkAction([]byte(line), 1, compat)
				if err == nil && a != nil && a.supported && !strings.Contains("index create update delete", a.op) {
					t.Fatalf("accepted action %q", a.op)
				}
			}
		}
	})
}
