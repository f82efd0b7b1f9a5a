package esproto

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

var bulkCases = []struct {
	name, body string
	want       map[ItemKey]int
}{
	{"filter_path", `{"errors":false,"items":[{"create":{"status":201}},{"create":{"status":201}}]}`, map[ItemKey]int{{201, ""}: 2}},
	{"filter_path errors", `{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":429,"error":{"type":"es_rejected_execution_exception","reason":"rejected \"status\":500 execution"}}},{"index":{"status":403,"error":{"type":"security_exception","reason":"action [indices:data/write/bulk[s]] is unauthorized"}}}]}`,
		map[ItemKey]int{{201, ""}: 1, {429, "es_rejected_execution_exception"}: 1, {403, "security_exception"}: 1}},
	{"full response", `{"took":30,"errors":true,"items":[{"index":{"_index":"test","_id":"1","_version":1,"result":"created","_shards":{"total":2,"successful":1,"failed":0},"_seq_no":0,"_primary_term":1,"status":201}},{"update":{"_index":"index1","_id":"5","status":404,"error":{"type":"document_missing_exception","reason":"[5]: document missing","index_uuid":"aAsFqTI0Tc2W0LCWgPNrOA","shard":"0","index":"index1"}}},{"delete":{"_index":"test","_id":"2","_version":1,"result":"not_found","_shards":{"total":2,"successful":1,"failed":0},"_seq_no":1,"_primary_term":2,"status":404}}]}`,
		map[ItemKey]int{{201, ""}: 1, {404, "document_missing_exception"}: 1, {404, ""}: 1}},
	{"pretty (?pretty, ES-compatible servers)", "{\n  \"errors\" : true,\n  \"items\" : [\n    {\n      \"create\" : {\n        \"status\" : 201\n      }\n    },\n    {\n      \"create\" : {\n        \"status\" : 429,\n        \"error\" : {\n          \"type\" : \"es_rejected_execution_exception\"\n        }\n      }\n    }\n  ]\n}",
		map[ItemKey]int{{201, ""}: 1, {429, "es_rejected_execution_exception"}: 1}},
	{"spaces after colons", `{"errors": false, "items": [{"create": {"status": 201}}, {"index": {"status": 200}}]}`, map[ItemKey]int{{201, ""}: 1, {200, ""}: 1}},
	{"empty items", `{"errors":false,"items":[]}`, map[ItemKey]int{}},
	{"filter_path, every action", `{"errors":false,"items":[{"index":{"status":201}},{"delete":{"status":404}},{"update":{"status":200}},{"create":{"status":201}},{"index":{"status":201}}]}`,
		map[ItemKey]int{{201, ""}: 3, {404, ""}: 1, {200, ""}: 1}},
	{"filter_path, then another shape", `{"errors":true,"items":[{"create":{"status":201}},{"other":{"status":201}},{"create":{"status":201}},{"create":{"status":400,"error":{"type":"x"}}},{"create":{"status":201}},{"create":{"status":201}}]}`,
		map[ItemKey]int{{201, ""}: 5, {400, "x"}: 1}},
}

func TestBulkItems(t *testing.T) {
	for _, tt := range bulkCases {
		got, err := BulkItems([]byte(tt.body))
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %v %v; want %v", tt.name, got, err, tt.want)
		}
	}
	if _, err := BulkItems([]byte(`<html>`)); err == nil {
		t.Error("a non-bulk body was counted")
	}
}

// decodeItems is the oracle: encoding/json's reading of a bulk response
// (ok false when it is not one whose items each have one action with an
// integer status). Keys are matched exactly, as Elasticsearch writes them:
// decoding into struct fields would also take "tYpe" for "type".
func decodeItems(s []byte) (map[ItemKey]int, bool) {
	var r struct {
		Items []map[string]map[string]json.RawMessage `json:"items"`
	}
	if json.Unmarshal(s, &r) != nil || r.Items == nil {
		return nil, false
	}
	want := map[ItemKey]int{}
	for _, it := range r.Items {
		if len(it) != 1 {
			return nil, false
		}
		for _, v := range it {
			var status int
			if json.Unmarshal(v["status"], &status) != nil || status < 0 || status > 9999 {
				return nil, false
			}
			k := ItemKey{Status: status}
			if e, ok := v["error"]; ok && string(e) != "null" {
				var fields map[string]json.RawMessage
				if json.Unmarshal(e, &fields) != nil {
					return nil, false
				}
				if t, ok := fields["type"]; ok && json.Unmarshal(t, &k.ErrorType) != nil {
					return nil, false
				}
			}
			want[k]++
		}
	}
	return want, true
}

// FuzzBulkItems: never panics, and on every well-formed bulk response,
// compact or pretty-printed (the same document indented), agrees with a
// full JSON decode.
func FuzzBulkItems(f *testing.F) {
	for _, c := range bulkCases {
		f.Add(c.body)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := BulkItems([]byte(s))
		want, ok := decodeItems([]byte(s))
		if !ok || bytes.Count([]byte(s), []byte(`"status"`)) != itemCount(want) || strings.Contains(s, `\u`) {
			// Not a bulk response, "status" keys outside items, or a \u
			// escape, which could spell a key: outside the contract
			// (Elasticsearch writes its keys plainly).
			return
		}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("scan %v %v, decode %v for %s", got, err, want, s)
		}
		var pretty bytes.Buffer
		if json.Indent(&pretty, []byte(s), "", "  ") == nil {
			if got, err := BulkItems(pretty.Bytes()); err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("pretty: scan %v %v, decode %v for %s", got, err, want, pretty.String())
			}
		}
	})
}

func itemCount(m map[ItemKey]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// BenchmarkBulkItems: what counting a bulk answer's items costs per
// answer, for Logstash's filter_path answer to a 125-event batch and for
// a full answer of the same size.
func BenchmarkBulkItems(b *testing.B) {
	full := `{"index":{"_index":"logs-checkout-default","_id":"XyZ0123456789","_version":1,"result":"created","_shards":{"total":2,"successful":1,"failed":0},"_seq_no":0,"_primary_term":1,"status":201}},`
	for _, c := range []struct{ name, item string }{
		{"filter_path", `{"create":{"status":201}},`},
		{"full", full},
		{"errors", `{"create":{"status":201}},{"create":{"status":429,"error":{"type":"es_rejected_execution_exception","reason":"rejected execution of coordinating operation"}}},`},
	} {
		body := []byte(`{"took":3,"errors":false,"items":[` + strings.TrimSuffix(strings.Repeat(c.item, 125), ",") + `]}`)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := BulkItems(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
