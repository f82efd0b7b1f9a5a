package load

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
)

// PlotSVG draws latency over time, p99 and p50 of each interval record,
// one colour per shard, as an SVG image: what people would rather look at
// than read.
func PlotSVG(w io.Writer, recs []Record) error {
	if len(recs) == 0 {
		return fmt.Errorf("no records to plot")
	}
	type point struct{ t, p50, p99 float64 }
	series := map[int][]point{}
	t0 := recs[0].Start
	for _, r := range recs {
		if r.Start.Before(t0) {
			t0 = r.Start
		}
	}
	maxT, maxMs := 1.0, 1.0
	for _, r := range recs {
		h, err := r.Latency.Decode()
		if err != nil {
			return err
		}
		if h.Count() == 0 {
			continue
		}
		p := point{t: r.End.Sub(t0).Seconds(), p50: ms(h.Quantile(.5)), p99: ms(h.Quantile(.99))}
		series[r.Shard] = append(series[r.Shard], p)
		maxT, maxMs = math.Max(maxT, p.t), math.Max(maxMs, p.p99)
	}
	maxMs = niceCeil(maxMs)
	const W, H, left, right, top, bottom = 900, 420, 70, 150, 40, 50
	x := func(t float64) float64 { return left + t/maxT*(W-left-right) }
	y := func(v float64) float64 { return H - bottom - v/maxMs*(H-top-bottom) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", W, H)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", W, H)
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15">esgate load: latency per interval (p99 solid, p50 dashed), run %s</text>`+"\n", left, xmlEscape(recs[0].Run))
	for i := 0; i <= 5; i++ {
		v := maxMs * float64(i) / 5
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" text-anchor="end">%s ms</text>`+"\n",
			left, W-right, y(v), y(v), left-6, y(v)+4, trimFloat(v))
		tv := maxT * float64(i) / 5
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s s</text>`+"\n", x(tv), H-bottom+18, trimFloat(tv))
	}
	fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="black"/>`+"\n", left, W-right, H-bottom, H-bottom)
	colors := []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"}
	var shards []int
	for s := range series {
		shards = append(shards, s)
	}
	sort.Ints(shards)
	for i, s := range shards {
		pts := series[s]
		sort.Slice(pts, func(a, c int) bool { return pts[a].t < pts[c].t })
		c := colors[i%len(colors)]
		var p99, p50 []string
		for _, p := range pts {
			p99 = append(p99, fmt.Sprintf("%.1f,%.1f", x(p.t), y(p.p99)))
			p50 = append(p50, fmt.Sprintf("%.1f,%.1f", x(p.t), y(p.p50)))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", c, strings.Join(p99, " "))
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-dasharray="4 3" points="%s"/>`+"\n", c, strings.Join(p50, " "))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="14" height="4" fill="%s"/><text x="%d" y="%d">shard %d</text>`+"\n",
			W-right+16, top+18*i+6, c, W-right+36, top+18*i+12, s)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func niceCeil(v float64) float64 {
	e := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*e {
			return m * e
		}
	}
	return 10 * e
}

func trimFloat(v float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
