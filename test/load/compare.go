package load

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
)

// Comparison is two runs side by side (esgate load compare A B), as
// esrally compare shows a baseline and a contender: each figure of A and
// of B, B − A, and B / A.
type Comparison struct {
	A    RunSummary `json:"a"`
	B    RunSummary `json:"b"`
	Rows []Row      `json:"rows"`
}

// RunSummary heads a run's column.
type RunSummary struct {
	Run    string `json:"run"`
	Shards int    `json:"shards"`
	// Events and Requests are the whole run's counts.
	Events   int64 `json:"events"`
	Requests int64 `json:"requests"`
}

// Row is one figure of both runs. Ratio is B / A, absent when A is 0.
type Row struct {
	Metric string   `json:"metric"`
	Unit   string   `json:"unit"`
	A      float64  `json:"a"`
	B      float64  `json:"b"`
	Diff   float64  `json:"diff"`
	Ratio  *float64 `json:"ratio,omitempty"`
}

// ErrorRate is the share of a report's requests with an error (a failed
// request, or any failed item), from 0 to 1.
func (r *Result) ErrorRate() float64 {
	if r.Requests == 0 {
		return 0
	}
	return float64(r.Errors) / float64(r.Requests)
}

// Compare sets two merged runs side by side: throughput (acknowledged
// events/s and requests/s of the common window), error rate, and latency
// at p50, p90, p99, p99.9 and max (milliseconds, from the scheduled send
// time in open loop).
func Compare(a, b *Merged) *Comparison {
	ra, rb := a.Result, b.Result
	c := &Comparison{A: summary(ra), B: summary(rb)}
	add := func(metric, unit string, x, y float64) {
		row := Row{Metric: metric, Unit: unit, A: x, B: y, Diff: y - x}
		if x != 0 {
			q := y / x
			row.Ratio = &q
		}
		c.Rows = append(c.Rows, row)
	}
	add("throughput", "events/s", ra.EventsPerSec, rb.EventsPerSec)
	add("requests", "requests/s", ra.RequestsPerSec, rb.RequestsPerSec)
	add("error rate", "%", 100*ra.ErrorRate(), 100*rb.ErrorRate())
	add("latency p50", "ms", ra.Latency.P50, rb.Latency.P50)
	add("latency p90", "ms", ra.Latency.P90, rb.Latency.P90)
	add("latency p99", "ms", ra.Latency.P99, rb.Latency.P99)
	add("latency p99.9", "ms", ra.Latency.P999, rb.Latency.P999)
	add("latency max", "ms", ra.Latency.Max, rb.Latency.Max)
	return c
}

func summary(r *Result) RunSummary {
	n := len(r.Shards)
	if n == 0 {
		n = 1
	}
	return RunSummary{Run: r.Run, Shards: n, Events: r.Events, Requests: r.Requests}
}

// Text renders the comparison as a table.
func (c *Comparison) Text() string {
	var b strings.Builder
	head := func(s RunSummary) string {
		return fmt.Sprintf("%s (%d shard%s)", s.Run, s.Shards, map[bool]string{true: "s"}[s.Shards != 1])
	}
	fmt.Fprintf(&b, "esgate load compare\n  A  %s: %d events, %d requests\n  B  %s: %d events, %d requests\n\n",
		head(c.A), c.A.Events, c.A.Requests, head(c.B), c.B.Events, c.B.Requests)
	fmt.Fprintf(&b, "  %-26s %14s %14s %14s %9s\n", "", "A", "B", "B - A", "B / A")
	for _, r := range c.Rows {
		ratio := "-"
		if r.Ratio != nil {
			ratio = fmt.Sprintf("%.3f", *r.Ratio)
		}
		fmt.Fprintf(&b, "  %-26s %14.2f %14.2f %+14.2f %9s\n", r.Metric+" ("+r.Unit+")", r.A, r.B, r.Diff, ratio)
	}
	return b.String()
}

// PlotDistributions draws both runs' latency distributions as an SVG
// image: latency against percentile, on the usual log scale of
// HdrHistogram's percentile plots (90%, 99%, 99.9%, 99.99% evenly apart).
func PlotDistributions(w io.Writer, a, b *Merged) error {
	if a.Latency.Count() == 0 || b.Latency.Count() == 0 {
		return errors.New("a run without latency observations in its window")
	}
	const nines = 4.0 // up to 99.99%
	const steps = 200
	type pt struct{ x, ms float64 }
	curve := func(h *Histogram) []pt {
		var out []pt
		for k := 0; k <= steps; k++ {
			x := nines * float64(k) / steps
			q := 1 - math.Pow(10, -x)
			if k == 0 {
				q = 0.0001
			}
			out = append(out, pt{x, ms(h.Quantile(q))})
		}
		return out
	}
	ca, cb := curve(a.Latency), curve(b.Latency)
	maxMs := niceCeil(math.Max(1, math.Max(ca[steps].ms, cb[steps].ms)))
	const W, H, left, right, top, bottom = 900, 420, 70, 220, 40, 50
	x := func(v float64) float64 { return left + v/nines*(W-left-right) }
	y := func(v float64) float64 { return H - bottom - v/maxMs*(H-top-bottom) }
	var s strings.Builder
	fmt.Fprintf(&s, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", W, H)
	fmt.Fprintf(&s, `<rect width="%d" height="%d" fill="white"/>`+"\n", W, H)
	fmt.Fprintf(&s, `<text x="%d" y="22" font-size="15">esgate load compare: latency by percentile</text>`+"\n", left)
	for i := 0; i <= 5; i++ {
		v := maxMs * float64(i) / 5
		fmt.Fprintf(&s, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" text-anchor="end">%s ms</text>`+"\n",
			left, W-right, y(v), y(v), left-6, y(v)+4, trimFloat(v))
	}
	for i, label := range []string{"0%", "90%", "99%", "99.9%", "99.99%"} {
		fmt.Fprintf(&s, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x(float64(i)), H-bottom+18, label)
	}
	fmt.Fprintf(&s, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="black"/>`+"\n", left, W-right, H-bottom, H-bottom)
	for i, c := range []struct {
		name string
		run  string
		pts  []pt
	}{{"A", a.Result.Run, ca}, {"B", b.Result.Run, cb}} {
		color := []string{"#1f77b4", "#d62728"}[i]
		var ps []string
		for _, p := range c.pts {
			ps = append(ps, fmt.Sprintf("%.1f,%.1f", x(p.x), y(p.ms)))
		}
		fmt.Fprintf(&s, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", color, strings.Join(ps, " "))
		fmt.Fprintf(&s, `<rect x="%d" y="%d" width="14" height="4" fill="%s"/><text x="%d" y="%d">%s: %s</text>`+"\n",
			W-right+16, top+18*i+6, color, W-right+36, top+18*i+12, c.name, xmlEscape(c.run))
	}
	s.WriteString("</svg>\n")
	_, err := io.WriteString(w, s.String())
	return err
}
