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
		if diff := float64(got-exact) / float64(exact); diff < -0.002 || diff > 0.002 {
			t.Errorf("q%.3f: %s, exact %s (%.2f%%)", q, got, exact, diff*100)
		}
	}
	exactMax := all[len(all)-1]
	if d := h.Max() - exactMax; d < -time.Microsecond || float64(d) > 0.001*float64(exactMax) {
		t.Errorf("max %s, exact %s", h.Max(), exactMax)
	}
	var other Histogram
	other.Merge(&h)
	if other.Count() != h.Count() || other.Quantile(0.99) != h.Quantile(0.99) {
		t.Error("merge")
	}
	// The record's encoding round-trips exactly.
	back, err := h.Encode().Decode()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []float64{0.5, 0.99, 0.999, 1} {
		if back.Quantile(q) != h.Quantile(q) {
			t.Errorf("q%v after encoding: %s, before %s", q, back.Quantile(q), h.Quantile(q))
		}
	}
	e := h.Encode()
	e.SigFigs = 2
	if _, err := e.Decode(); err == nil {
		t.Error("a histogram with other parameters decoded")
	}
}
