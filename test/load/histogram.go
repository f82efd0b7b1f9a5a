package load

import (
	"math"
	"time"
)

// Histogram records durations with about 1% relative precision from 1µs to
// hours, in log-spaced buckets, plus the exact maximum.
type Histogram struct {
	counts []uint64
	n      uint64
	max    time.Duration
}

const histGrowth = 1.01

func bucketOf(d time.Duration) int {
	us := float64(d) / float64(time.Microsecond)
	if us < 1 {
		return 0
	}
	return int(math.Log(us)/math.Log(histGrowth)) + 1
}

// Record adds one observation.
func (h *Histogram) Record(d time.Duration) {
	b := bucketOf(d)
	if b >= len(h.counts) {
		h.counts = append(h.counts, make([]uint64, b-len(h.counts)+1)...)
	}
	h.counts[b]++
	h.n++
	if d > h.max {
		h.max = d
	}
}

// Merge adds o's observations.
func (h *Histogram) Merge(o *Histogram) {
	if len(o.counts) > len(h.counts) {
		h.counts = append(h.counts, make([]uint64, len(o.counts)-len(h.counts))...)
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// Count is the number of observations.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the largest observation.
func (h *Histogram) Max() time.Duration { return h.max }

// Quantile returns the q-quantile (0 < q <= 1), the upper bound of its bucket
// capped by the maximum.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			if i == 0 {
				return min(time.Microsecond, h.max)
			}
			upper := time.Duration(math.Pow(histGrowth, float64(i)) * float64(time.Microsecond))
			return min(upper, h.max)
		}
	}
	return h.max
}
