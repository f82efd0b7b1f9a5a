package esserver

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestRootByMajor: GET / has each major's shape (real 9.x answers, and
// today's 8.x one).
func TestRootByMajor(t *testing.T) {
	for _, tt := range []struct{ version, lucene, wire, index string }{
		{"8.15.3", "9.11.1", "7.17.0", "7.0.0"},
		{"9.0.0", "10.1.0", "8.18.0", "8.0.0"},
		{"9.1.5", "10.2.2", "8.19.0", "8.0.0"},
		{"9.2.1", "10.3.1", "8.19.0", "8.0.0"},
	} {
		c := newTC(t, Options{Version: tt.version})
		res, body := c.call("GET", "/", "", elastic...)
		var info struct {
			Version map[string]any `json:"version"`
			Tagline string         `json:"tagline"`
		}
		json.Unmarshal([]byte(body), &info)
		v := info.Version
		if res.StatusCode != 200 || v["number"] != tt.version || v["lucene_version"] != tt.lucene ||
			v["minimum_wire_compatibility_version"] != tt.wire || v["minimum_index_compatibility_version"] != tt.index ||
			v["build_flavor"] != "default" || info.Tagline != "You Know, for Search" || res.Header.Get("X-Elastic-Product") != "Elasticsearch" {
			t.Errorf("%s: GET / %d %s", tt.version, res.StatusCode, body)
		}
	}
}

// TestCompatibleWithByMajor: which compatible-with versions each major
// accepts, the vendor type echoed, and ES's exact 400 for the others.
func TestCompatibleWithByMajor(t *testing.T) {
	vnd := func(n string) string { return "application/vnd.elasticsearch+json; compatible-with=" + n }
	for _, tt := range []struct {
		version, compat string
		status          int
		cause           string
	}{
		{"8.15.3", "7", 200, ""},
		{"8.15.3", "8", 200, ""},
		{"8.15.3", "9", 400, "Accept version must be either version 8 or 7, but found 9. Accept=application/vnd.elasticsearch+json; compatible-with=9"},
		{"9.1.5", "8", 200, ""},
		{"9.1.5", "9", 200, ""},
		{"9.1.5", "7", 400, "Accept version must be either version 9 or 8, but found 7. Accept=application/vnd.elasticsearch+json; compatible-with=7"},
		{"9.1.5", "10", 400, "Accept version must be either version 9 or 8, but found 10. Accept=application/vnd.elasticsearch+json; compatible-with=10"},
	} {
		c := newTC(t, Options{Version: tt.version})
		bulk := `{"create":{"_index":"logs-app-default"}}` + "\n" + `{"@timestamp":"2024-01-01T00:00:00Z","message":"m"}` + "\n"
		for _, call := range []struct{ method, path, body, ct string }{
			{"GET", "/", "", ""},
			{"POST", "/_bulk", bulk, "application/vnd.elasticsearch+x-ndjson; compatible-with=" + tt.compat},
		} {
			hdr := with(elastic, "Accept", vnd(tt.compat))
			if call.ct != "" {
				hdr = append(hdr, "Content-Type", call.ct)
			}
			res, body := c.call(call.method, call.path, call.body, hdr...)
			if res.StatusCode != tt.status {
				t.Errorf("%s compatible-with=%s %s %s: %d %s", tt.version, tt.compat, call.method, call.path, res.StatusCode, body)
				continue
			}
			if tt.status == 200 {
				if ct := res.Header.Get("Content-Type"); ct != "application/vnd.elasticsearch+json;compatible-with="+tt.compat {
					t.Errorf("%s compatible-with=%s: Content-Type %q", tt.version, tt.compat, ct)
				}
				continue
			}
			var e struct {
				Error struct {
					Type, Reason string
					CausedBy     struct{ Type, Reason string } `json:"caused_by"`
				}
				Status int
			}
			json.Unmarshal([]byte(body), &e)
			if e.Error.Type != "media_type_header_exception" || e.Error.Reason != "Invalid media-type value on headers [Accept, Content-Type]" ||
				e.Error.CausedBy.Type != "status_exception" || e.Error.CausedBy.Reason != tt.cause || e.Status != 400 {
				t.Errorf("%s compatible-with=%s: %s", tt.version, tt.compat, body)
			}
		}
	}
}

// TestLegacyTemplates: /_template is served by both majors; 9.x marks
// writes deprecated with a Warning header.
func TestLegacyTemplates(t *testing.T) {
	for _, v := range []string{"8.15.3", "9.1.5"} {
		c := newTC(t, Options{Version: v})
		if res, _ := c.call("HEAD", "/_template/logstash", "", elastic...); res.StatusCode != 404 {
			t.Errorf("%s: HEAD before PUT: %d", v, res.StatusCode)
		}
		res, body := c.call("PUT", "/_template/logstash", `{"index_patterns":"logstash-*","version":80001}`, with(elastic, "Content-Type", "application/json")...)
		warn := res.Header.Get("Warning")
		if res.StatusCode != 200 || !strings.Contains(body, `"acknowledged":true`) {
			t.Errorf("%s: PUT %d %s", v, res.StatusCode, body)
		}
		if want := `299 Elasticsearch-9.1.5-2b5fb8b "Legacy index templates are deprecated in favor of composable templates."`; v == "9.1.5" && warn != want {
			t.Errorf("9.x PUT _template: Warning %q; want %q", warn, want)
		}
		if v == "8.15.3" && warn != "" {
			t.Errorf("8.x PUT _template: Warning %q", warn)
		}
		if res, _ := c.call("HEAD", "/_template/logstash", "", elastic...); res.StatusCode != 200 {
			t.Errorf("%s: HEAD after PUT: %d", v, res.StatusCode)
		}
	}
}

// TestTypedBulkUnderCompat7: on 8.x, compatible-with=7 routes typed
// URLs, accepts _type in action lines with one [types removal] warning,
// and writes "_type":"_doc" in items; without it, both are refused as ES 8
// refuses them. 9.x has no compat-7 at all.
func TestTypedBulkUnderCompat7(t *testing.T) {
	compat7 := []string{"Accept", "application/vnd.elasticsearch+json;compatible-with=7", "Content-Type", "application/vnd.elasticsearch+json;compatible-with=7"}
	typedLines := `{"index":{"_index":"legacy","_type":"doc","_id":"1"}}` + "\n" + `{"m":1}` + "\n" + `{"index":{"_index":"legacy","_type":"doc","_id":"2"}}` + "\n" + `{"m":2}` + "\n"
	plainLines := `{"index":{"_id":"3"}}` + "\n" + `{"m":3}` + "\n"
	const warning = `299 Elasticsearch-8.15.3-2b5fb8b "[types removal] Specifying types in bulk requests is deprecated."`

	c := newTC(t, Options{})
	res, body := c.call("POST", "/_bulk", typedLines, with(elastic, compat7...)...)
	if res.StatusCode != 200 || strings.Count(body, `"_type":"_doc"`) != 2 || res.Header.Values("Warning")[0] != warning || len(res.Header.Values("Warning")) != 1 {
		t.Errorf("compat-7 _type lines: %d %v %s", res.StatusCode, res.Header.Values("Warning"), body)
	}
	res, body = c.call("POST", "/legacy/doc/_bulk", plainLines, with(elastic, compat7...)...)
	if res.StatusCode != 200 || !strings.Contains(body, `"_index":"legacy","_type":"_doc","_id":"3"`) || res.Header.Get("Warning") != warning {
		t.Errorf("compat-7 typed URL: %d %v %s", res.StatusCode, res.Header.Values("Warning"), body)
	}
	if _, body := c.call("GET", "/legacy/_count", "", elastic...); !strings.Contains(body, `"count":3`) {
		t.Errorf("count after typed bulks: %s", body)
	}

	plain := with(elastic, "Content-Type", "application/x-ndjson")
	if res, body := c.call("POST", "/_bulk", typedLines, plain...); res.StatusCode != 400 || !strings.Contains(body, "Action/metadata line [1] contains an unknown parameter [_type]") {
		t.Errorf("plain _type lines: %d %s", res.StatusCode, body)
	}
	if res, body := c.call("POST", "/legacy/doc/_bulk", plainLines, plain...); res.StatusCode != 400 || !strings.Contains(body, "no handler found for uri [/legacy/doc/_bulk] and method [POST]") {
		t.Errorf("plain typed URL: %d %s", res.StatusCode, body)
	}

	c9 := newTC(t, Options{Version: "9.1.5"})
	if res, body := c9.call("POST", "/legacy/doc/_bulk", plainLines, with(elastic, compat7...)...); res.StatusCode != 400 || !strings.Contains(body, "Accept version must be either version 9 or 8, but found 7") {
		t.Errorf("9.x typed URL under compat-7: %d %s", res.StatusCode, body)
	}
}
