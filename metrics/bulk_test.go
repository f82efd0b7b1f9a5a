package metrics

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
	{"pretty", "{\n  \"errors\" : false,\n  \"items\" : [\n    {\n      \"create\" : {\n        \"status\" : 201\n      }\n    }\n  ]\n}", nil},
	{"empty items", `{"errors":false,"items":[]}`, map[ItemKey]int{}},
}

func TestBulkItems(t *testing.T) {
	for _, tt := range bulkCases {
		got, err := BulkItems([]byte(tt.body))
		if tt.want == nil {
			// Pretty-printed responses are not counted (Logstash never asks for them).
			if err == nil {
				t.Errorf("%s: counted %v; expected an error", tt.name, got)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %v %v; want %v", tt.name, got, err, tt.want)
		}
	}
}

// FuzzBulkItems: never panics, and on well-formed compact responses agrees
// with a full JSON decode.
func FuzzBulkItems(f *testing.F) {
	for _, c := range bulkCases {
		f.Add(c.body)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := BulkItems([]byte(s))
		var r struct {
			Items []map[string]struct {
				Status *int `json:"status"`
				Error  *struct {
					Type string `json:"type"`
				} `json:"error"`
			} `json:"items"`
		}
		if err != nil || json.Unmarshal([]byte(s), &r) != nil || strings.ContainsAny(s, " \n\t\r") {
			return
		}
		want := map[ItemKey]int{}
		for _, it := range r.Items {
			if len(it) != 1 {
				return
			}
			for _, v := range it {
				if v.Status == nil || *v.Status < 0 {
					return
				}
				k := ItemKey{Status: *v.Status}
				if v.Error != nil {
					k.ErrorType = v.Error.Type
				}
				want[k]++
			}
		}
		if strings.Count(s, `"status":`) != len(r.Items) || strings.Count(s, `"error":{`) > len(r.Items) {
			return // status keys elsewhere: outside the contract
		}
		if !reflect.DeepEqual(got, want) && len(want) > 0 {
			t.Fatalf("scan %v, decode %v for %s", got, want, s)
		}
	})
}

// TestLabelsStayBounded: odd methods and codes do not create new series.
func TestLabelsStayBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := New(reg).Route("r")
	for i := 0; i < 50; i++ {
		r.Observe(fmt.Sprintf("M%d", i), Endpoint(fmt.Sprintf("/idx-%d/_weird", i)), 200+i*100, time.Millisecond, 0)
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "esgate_requests_total" && len(mf.Metric) > 7 {
			t.Errorf("%d series from 50 odd requests", len(mf.Metric))
		}
	}
}
