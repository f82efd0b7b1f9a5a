package load

import (
	"encoding/base64"
	"fmt"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram records durations in microseconds in an HdrHistogram (three
// significant digits, 1 µs to HistogramMax; longer ones count as
// HistogramMax), so that shards' histograms merge exactly and travel in
// HdrHistogram's standard compressed encoding. The zero value is ready.
type Histogram struct{ h *hdr.Histogram }

// The parameters every esgate load histogram has: two histograms merge
// only if theirs match.
const (
	HistogramLowest  = 1                                          // µs
	HistogramMax     = int64(10 * time.Minute / time.Microsecond) // µs
	HistogramSigFigs = 3
)

func (h *Histogram) init() {
	if h.h == nil {
		h.h = hdr.New(HistogramLowest, HistogramMax, HistogramSigFigs)
	}
}

// Record adds one observation.
func (h *Histogram) Record(d time.Duration) {
	h.init()
	h.h.RecordValue(min(max(d.Microseconds(), 0), HistogramMax))
}

// Merge adds o's observations.
func (h *Histogram) Merge(o *Histogram) {
	if o.h == nil {
		return
	}
	h.init()
	h.h.Merge(o.h)
}

// Count is the number of observations.
func (h *Histogram) Count() uint64 {
	if h.h == nil {
		return 0
	}
	return uint64(h.h.TotalCount())
}

// Max is the largest observation (to the histogram's precision).
func (h *Histogram) Max() time.Duration {
	if h.h == nil {
		return 0
	}
	return time.Duration(h.h.Max()) * time.Microsecond
}

// Quantile returns the q-quantile (0 < q <= 1).
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.h == nil || h.h.TotalCount() == 0 {
		return 0
	}
	return time.Duration(h.h.ValueAtQuantile(q*100)) * time.Microsecond
}

// EncodedHistogram is a histogram in a record: its parameters and its
// counts in HdrHistogram's V2 compressed encoding, base64.
type EncodedHistogram struct {
	Unit    string `json:"unit"` // "us"
	Lowest  int64  `json:"lowest"`
	Highest int64  `json:"highest"`
	SigFigs int64  `json:"significant_figures"`
	Count   int64  `json:"count"`
	HDR     string `json:"hdr"`
}

// Encode returns h in a record's form.
func (h *Histogram) Encode() EncodedHistogram {
	h.init()
	b, err := h.h.Encode(hdr.V2CompressedEncodingCookieBase)
	if err != nil {
		panic(err) // only an unknown version fails
	}
	return EncodedHistogram{Unit: "us", Lowest: h.h.LowestTrackableValue(), Highest: h.h.HighestTrackableValue(),
		SigFigs: h.h.SignificantFigures(), Count: h.h.TotalCount(), HDR: base64.StdEncoding.EncodeToString(b)}
}

// Decode reads a record's histogram, refusing one whose parameters are
// not esgate load's (it would not merge exactly).
func (e EncodedHistogram) Decode() (*Histogram, error) {
	if e.Unit != "us" || e.Lowest != HistogramLowest || e.Highest != HistogramMax || e.SigFigs != HistogramSigFigs {
		return nil, fmt.Errorf("a histogram with unit %q, range %d to %d and %d significant figures: esgate load's are us, %d to %d, %d; they cannot be merged",
			e.Unit, e.Lowest, e.Highest, e.SigFigs, HistogramLowest, HistogramMax, HistogramSigFigs)
	}
	b, err := base64.StdEncoding.DecodeString(e.HDR)
	if err != nil {
		return nil, fmt.Errorf("histogram: %w", err)
	}
	d, err := hdr.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("histogram: %w", err)
	}
	if d.TotalCount() != e.Count {
		return nil, fmt.Errorf("histogram: %d observations, the record says %d", d.TotalCount(), e.Count)
	}
	h := &Histogram{}
	h.init()
	h.h.Merge(d)
	return h, nil
}
