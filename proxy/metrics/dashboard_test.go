package metrics

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestDashboardUsesRealMetrics: every esgate_ metric the Grafana dashboard
// queries exists.
func TestDashboardUsesRealMetrics(t *testing.T) {
	b, err := os.ReadFile("../../configs/grafana-esgate.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	// The metric names New registers, read from their descriptors.
	known := map[string]bool{}
	names := regexp.MustCompile(`esgate_[a-z_]+`)
	descs := make(chan *prometheus.Desc, 64)
	for _, c := range registered() {
		c.Describe(descs)
	}
	close(descs)
	for d := range descs {
		known[names.FindString(d.String())] = true
	}
	if len(known) < 15 {
		t.Fatalf("only %d metric names found", len(known))
	}
	if len(d.Panels) < 8 {
		t.Errorf("%d panels", len(d.Panels))
	}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			for _, m := range names.FindAllString(tg.Expr, -1) {
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_sum"), "_count")
				if !known[base] {
					t.Errorf("panel %q uses unknown metric %s", p.Title, m)
				}
			}
		}
	}
}

// registered returns the collectors New registers.
func registered() []prometheus.Collector {
	var cs []prometheus.Collector
	New(collecting{&cs})
	return cs
}

// collecting records what is registered.
type collecting struct{ cs *[]prometheus.Collector }

func (c collecting) Register(x prometheus.Collector) error   { *c.cs = append(*c.cs, x); return nil }
func (c collecting) MustRegister(xs ...prometheus.Collector) { *c.cs = append(*c.cs, xs...) }
func (c collecting) Unregister(prometheus.Collector) bool    { return false }
