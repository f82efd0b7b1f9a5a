package metrics

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/esgate/esgate/proxy/esproto"
)

// TestLabelsStayBounded: odd methods and codes do not create new series.
func TestLabelsStayBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := New(reg).Route("r")
	for i := 0; i < 50; i++ {
		r.Observe(fmt.Sprintf("M%d", i), esproto.Endpoint(fmt.Sprintf("/idx-%d/_weird", i)), 200+i*100, time.Millisecond, 0)
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "esgate_requests_total" && len(mf.Metric) > 7 {
			t.Errorf("%d series from 50 odd requests", len(mf.Metric))
		}
	}
}
