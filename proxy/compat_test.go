package proxy

import (
	"net/http"
	"strings"
	"testing"
)

// TestSetCompat: which requests rest_api_compatibility 7 marks, and how.
func TestSetCompat(t *testing.T) {
	const j7, n7 = "application/vnd.elasticsearch+json;compatible-with=7", "application/vnd.elasticsearch+x-ndjson;compatible-with=7"
	for _, tt := range []struct {
		name, accept, ct, body string
		changed                bool
		wantAccept, wantCT     string
	}{
		{"GET without headers", "", "", "", true, j7, ""},
		{"Logstash's GET (Content-Type, no body)", "", "application/json", "", true, j7, "application/json"},
		{"JSON body", "application/json", "application/json; charset=UTF-8", "{}", true, j7, j7},
		{"NDJSON bulk", "*/*", "application/x-ndjson", "{}\n", true, j7, n7},
		{"body without Content-Type", "", "", "{}", true, j7, j7},
		{"asks for 8 itself", "application/vnd.elasticsearch+json; compatible-with=8", "application/vnd.elasticsearch+json; compatible-with=8", "{}", false,
			"application/vnd.elasticsearch+json; compatible-with=8", "application/vnd.elasticsearch+json; compatible-with=8"},
		{"python 7.17 in compat mode", j7, j7, "{}", false, j7, j7},
		{"a SMILE body passes", "", "application/smile", "x", false, "", "application/smile"},
	} {
		r, _ := http.NewRequest("POST", "http://x/_bulk", nil)
		if tt.body != "" {
			r, _ = http.NewRequest("POST", "http://x/_bulk", strings.NewReader(tt.body))
		}
		if tt.accept != "" {
			r.Header.Set("Accept", tt.accept)
		}
		if tt.ct != "" {
			r.Header.Set("Content-Type", tt.ct)
		}
		changed := setCompat(r, 7)
		if changed != tt.changed || r.Header.Get("Accept") != tt.wantAccept || r.Header.Get("Content-Type") != tt.wantCT {
			t.Errorf("%s: changed %v, Accept %q, Content-Type %q", tt.name, changed, r.Header.Get("Accept"), r.Header.Get("Content-Type"))
		}
	}
	h := http.Header{"Content-Type": {"application/vnd.elasticsearch+json;compatible-with=7"}}
	if unsetCompat(h); h.Get("Content-Type") != "application/json" {
		t.Errorf("answer Content-Type %q", h.Get("Content-Type"))
	}
	h = http.Header{"Content-Type": {"text/plain; charset=UTF-8"}}
	if unsetCompat(h); h.Get("Content-Type") != "text/plain; charset=UTF-8" {
		t.Errorf("a non-JSON answer changed: %q", h.Get("Content-Type"))
	}
}
