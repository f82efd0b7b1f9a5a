package esserver

import (
	"strings"
	"testing"
	"time"
)

func TestParseFault(t *testing.T) {
	tests := []struct {
		spec string
		want Fault
		err  string
	}{
		{"path=_bulk,item_status=429,item_every=10", Fault{PathContains: "_bulk", ItemStatus: 429, ItemEvery: 10}, ""},
		{"path=_bulk,item_status=403", Fault{PathContains: "_bulk", ItemStatus: 403, ItemEvery: 1}, ""},
		{"path=_search, status=503, count=3", Fault{PathContains: "_search", Status: 503, Count: 3}, ""},
		{"delay=250ms", Fault{Delay: 250 * time.Millisecond}, ""},
		{"path=_bulk,close_mid_response=true,count=1", Fault{PathContains: "_bulk", CloseMidResponse: true, Count: 1}, ""},
		{"", Fault{}, "empty fault"},
		{"path=_bulk", Fault{}, "does nothing"},
		{"status=200", Fault{}, "must be a 4xx or 5xx status"},
		{"item_status=500", Fault{}, "must be 429 or 403"},
		{"count=-1,status=429", Fault{}, "negative"},
		{"delay=soon", Fault{}, `delay="soon"`},
		{"stauts=429", Fault{}, `unknown key "stauts"`},
		{"status", Fault{}, "is not key=value"},
	}
	for _, tt := range tests {
		got, err := ParseFault(tt.spec)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: error %v; expected one containing %q", tt.spec, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: %+v, %v; expected %+v", tt.spec, got, err, tt.want)
		}
	}
}

func FuzzParseFault(f *testing.F) {
	f.Add("path=_bulk,item_status=429,item_every=10")
	f.Add("delay=1s,count=2")
	f.Fuzz(func(t *testing.T, spec string) {
		fl, err := ParseFault(spec)
		if err != nil {
			return
		}
		if fl.Count < 0 || fl.ItemEvery < 0 || fl.Delay < 0 || (fl.Status != 0 && (fl.Status < 400 || fl.Status > 599)) {
			t.Errorf("%q accepted as %+v", spec, fl)
		}
	})
}
