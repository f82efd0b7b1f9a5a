package load

import (
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	r := rand.New(rand.NewPCG(1, 2))
	var all []time.Duration
	for i := 0; i < 100000; i++ {
		d := time.Duration(r.ExpFloat64() * float64(5*time.Millisecond))
		h.Record(d)
		all = append(all, d)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		exact := all[int(q*float64(len(all)))-1]
		got := h.Quantile(q)
		if diff := float64(got-exact) / float64(exact); diff < -0.011 || diff > 0.011 {
			t.Errorf("q%.3f: %s, exact %s (%.2f%%)", q, got, exact, diff*100)
		}
	}
	if h.Quantile(1) != all[len(all)-1] || h.Max() != all[len(all)-1] {
		t.Errorf("max %s, exact %s", h.Max(), all[len(all)-1])
	}
	var other Histogram
	other.Merge(&h)
	if other.Count() != h.Count() || other.Quantile(0.99) != h.Quantile(0.99) {
		t.Error("merge")
	}
}
