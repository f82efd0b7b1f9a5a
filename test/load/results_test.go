package load

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestResultsDocFitsItsMapping: every field of a results document, all
// of them set, is in ResultsMapping (which is strict) with a type its
// JSON value fits, and every mapped field is in the document.
func TestResultsDocFitsItsMapping(t *testing.T) {
	m, err := MergeRun(runRecords("r9", 2, 2, 10, 5, time.Millisecond, 3*time.Millisecond, 1))
	if err != nil {
		t.Fatal(err)
	}
	m.Params = Params{Target: "t", Rate: 1, Clients: 1, Events: 1, Duration: "1s", Warmup: "1s", BatchSize: 1, EventSize: 1, Action: "create", Index: "i", Gzip: 1, Seed: 1, File: "f"}
	m.Result.Verified = &Verification{Before: 1, After: 2, Acknowledged: 1, OK: true}
	m.Result.ItemErrors["403 security_exception"] = 2
	m.Result.Statuses["200"] = 38
	d := m.Doc()
	if d.RunID != "r9" || d.Shards != 2 || len(d.Statuses) == 0 || d.Timestamp.IsZero() || !d.WindowStart.Before(d.Timestamp) {
		t.Fatalf("doc %+v", d)
	}
	b, _ := json.Marshal(d)
	var doc map[string]any
	json.Unmarshal(b, &doc)
	var mapping struct {
		Dynamic    string         `json:"dynamic"`
		Properties map[string]any `json:"properties"`
	}
	if err := json.Unmarshal([]byte(ResultsMapping), &mapping); err != nil || mapping.Dynamic != "strict" {
		t.Fatalf("mapping: %v %q", err, mapping.Dynamic)
	}
	var check func(path string, v any, props map[string]any)
	check = func(path string, v any, props map[string]any) {
		obj, ok := v.(map[string]any)
		if !ok {
			t.Errorf("%s: not an object", path)
			return
		}
		for k := range props {
			if _, ok := obj[k]; !ok {
				t.Errorf("%s%s is mapped but not in the document", path, k)
			}
		}
		for k, x := range obj {
			f, ok := props[k].(map[string]any)
			if !ok {
				t.Errorf("%s%s is not in the mapping", path, k)
				continue
			}
			typ, _ := f["type"].(string)
			sub, _ := f["properties"].(map[string]any)
			switch x := x.(type) {
			case map[string]any:
				if sub == nil || typ != "" {
					t.Errorf("%s%s: an object, mapped as %q", path, k, typ)
				} else {
					check(path+k+".", x, sub)
				}
			case []any:
				if typ != "nested" {
					t.Errorf("%s%s: an array of objects, mapped as %q", path, k, typ)
				}
				for _, e := range x {
					check(path+k+"[].", e, sub)
				}
			case string:
				if typ != "keyword" && typ != "date" {
					t.Errorf("%s%s: a string, mapped as %q", path, k, typ)
				}
				if _, err := time.Parse(time.RFC3339Nano, x); typ == "date" && err != nil {
					t.Errorf("%s%s: %q is not a date", path, k, x)
				}
			case float64:
				whole := x == float64(int64(x))
				if typ != "double" && !(whole && (typ == "long" || typ == "integer" || typ == "unsigned_long")) {
					t.Errorf("%s%s: %v, mapped as %q", path, k, x, typ)
				}
			case bool:
				if typ != "boolean" {
					t.Errorf("%s%s: a boolean, mapped as %q", path, k, typ)
				}
			default:
				t.Errorf("%s%s: %s", path, k, fmt.Sprint(x))
			}
		}
	}
	check("", doc, mapping.Properties)
}

// TestResultsIndexURL: --results-target is a URL ending in the index.
func TestResultsIndexURL(t *testing.T) {
	for _, tc := range []struct{ in, base, index string }{
		{"http://127.0.0.1:9200/esgate-load-results", "http://127.0.0.1:9200", "esgate-load-results"},
		{"https://es.example:9243/prefix/results/", "https://es.example:9243/prefix", "results"},
		{"http://127.0.0.1:9200", "", ""},
		{"http://127.0.0.1:9200/_bulk", "", ""},
		{"127.0.0.1:9200/x", "", ""},
		{"http://127.0.0.1:9200/x?refresh=true", "", ""},
	} {
		base, index, err := ResultsIndexURL(tc.in)
		if base != tc.base || index != tc.index || (err != nil) != (tc.index == "") {
			t.Errorf("%q: %q %q %v", tc.in, base, index, err)
		}
	}
}

// TestResultsMappingDocumented: docs/load-testing.md shows ResultsMapping
// as it is.
func TestResultsMappingDocumented(t *testing.T) {
	b, err := os.ReadFile("../../docs/load-testing.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "```json\n"+ResultsMapping+"\n```") {
		t.Error("docs/load-testing.md does not show ResultsMapping as it is")
	}
}
