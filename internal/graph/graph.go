package graph

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tsunagi-net/tsunagi/internal/clock"
)

// Unit is what a chart's values measure; it decides the value axis' labels.
type Unit int

// Units. The zero Unit is a plain number.
const (
	Number        Unit = iota
	BitsPerSecond      // bit/s, kbit/s, Mbit/s, Gbit/s (SI: 1000)
	Bytes              // B, kB, MB, GB, TB (SI: 1000)
	Milliseconds       // ms
	Percent            // %
)

// Point is one sample. A NaN Value marks a time without data: the line
// breaks there.
type Point struct {
	At    time.Time
	Value float64
}

// Series is one line of a chart.
type Series struct {
	// Label names the series in the legend and the description, already
	// in the chart's language ("in (average)", "受信 (ピーク)").
	Label string
	// Points are oldest first; points outside the chart's window are not
	// drawn.
	Points []Point
	// Peak marks a series of maxima: reduced to the width by keeping the
	// maximum (an average would hide a burst), and drawn dashed.
	Peak bool
	// Area fills the space under the line.
	Area bool
	// Tone picks the colour (0–4). Give a peak series the tone of its
	// average: the dash tells them apart.
	Tone int
}

// Chart is one picture.
type Chart struct {
	// ID prefixes the element IDs inside the SVG (title, description); it
	// must be unique on the page and made of letters, digits, - and _.
	ID    string
	Title string
	// Lang is "ja" or "en": the language of the description's own words.
	Lang     string
	From, To time.Time
	// Step is the series' sampling interval: two points further apart
	// than one and a half steps have no data between them (a gap). Zero:
	// the smallest spacing in the data.
	Step time.Duration
	Unit Unit
	// Width and Height in pixels (default 720 × 240).
	Width, Height int
	Series        []Series
}

const (
	marginLeft   = 84
	marginRight  = 28
	marginTop    = 30
	marginBottom = 26
)

// Okabe–Ito colours: distinguishable with the common colour-vision
// deficiencies, and dark enough against white.
var palette = []string{"#0072b2", "#d55e00", "#009e73", "#cc79a7", "#9a6700"}

// Render draws c. It never fails: a window without data draws the axes and
// says "no data".
func Render(c Chart) template.HTML {
	w, h := c.Width, c.Height
	if w <= 0 {
		w = 720
	}
	if h <= 0 {
		h = 240
	}
	pw, ph := w-marginLeft-marginRight, h-marginTop-marginBottom
	if pw < 10 || ph < 10 {
		pw, ph = max(pw, 10), max(ph, 10)
		w, h = pw+marginLeft+marginRight, ph+marginTop+marginBottom
	}
	span := c.To.Sub(c.From)
	words := wordsFor(c.Lang)

	drawn := make([][]Point, len(c.Series))
	gaps := make([]time.Duration, len(c.Series))
	top := 0.0
	hasData := false
	for i, s := range c.Series {
		step := c.Step
		if step <= 0 {
			step = smallestSpacing(s.Points)
		}
		pts, width := reduce(s.Points, c.From, c.To, pw, s.Peak)
		gaps[i] = max(step, width) * 3 / 2
		drawn[i] = pts
		for _, p := range pts {
			hasData = true
			top = math.Max(top, p.Value)
		}
	}
	top, tick := scale(top)

	var b strings.Builder
	b.Grow(4096 + 64*pw*len(c.Series))
	id := html.EscapeString(c.ID)
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="graph" role="img" aria-labelledby="%s-title %s-desc" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`, id, id, w, h, w, h)
	fmt.Fprintf(&b, `<title id="%s-title">%s</title>`, id, html.EscapeString(c.Title))
	fmt.Fprintf(&b, `<desc id="%s-desc">%s</desc>`, id, html.EscapeString(describe(c, words)))
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="#fff" stroke="#8c959f"/>`, marginLeft, marginTop, pw, ph)

	// The value axis: horizontal rules and their labels.
	for v := 0.0; v <= top*(1+1e-9); v += tick {
		y := float64(marginTop+ph) - v/top*float64(ph)
		fmt.Fprintf(&b, `<line x1="%d" y1="%s" x2="%d" y2="%s" stroke="#d0d7de"/>`, marginLeft, num(y), marginLeft+pw, num(y))
		fmt.Fprintf(&b, `<text x="%d" y="%s" text-anchor="end" fill="#24292f">%s</text>`, marginLeft-4, num(y+4), html.EscapeString(FormatValue(c.Unit, v)))
	}
	// The time axis, in JST.
	if span > 0 {
		for _, t := range timeTicks(c.From, c.To) {
			x := float64(marginLeft) + float64(t.at.Sub(c.From))/float64(span)*float64(pw)
			fmt.Fprintf(&b, `<line x1="%s" y1="%d" x2="%s" y2="%d" stroke="#d0d7de"/>`, num(x), marginTop, num(x), marginTop+ph)
			fmt.Fprintf(&b, `<text x="%s" y="%d" text-anchor="middle" fill="#24292f">%s</text>`, num(x), marginTop+ph+16, t.label)
		}
	}

	// The legend, above the plot.
	lx := marginLeft
	for _, s := range c.Series {
		color := palette[tone(s.Tone)]
		fmt.Fprintf(&b, `<line x1="%d" y1="14" x2="%d" y2="14" stroke="%s" stroke-width="2"%s/>`, lx, lx+18, color, dash(s.Peak))
		fmt.Fprintf(&b, `<text x="%d" y="18" fill="#24292f">%s</text>`, lx+22, html.EscapeString(s.Label))
		lx += 22 + 7*utf8.RuneCountInString(s.Label) + 16
	}

	if !hasData || span <= 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" fill="#57606a">%s</text>`, marginLeft+pw/2, marginTop+ph/2, words.noData)
		b.WriteString(`</svg>`)
		return template.HTML(b.String())
	}

	xOf := func(t time.Time) float64 {
		return float64(marginLeft) + float64(t.Sub(c.From))/float64(span)*float64(pw)
	}
	yOf := func(v float64) float64 { return float64(marginTop+ph) - v/top*float64(ph) }
	base := num(float64(marginTop + ph))
	// Areas first so that no fill covers a line.
	for pass := 0; pass < 2; pass++ {
		for i, s := range c.Series {
			if pass == 0 && !s.Area {
				continue
			}
			color := palette[tone(s.Tone)]
			for _, seg := range segments(drawn[i], gaps[i]) {
				var d strings.Builder
				if pass == 0 {
					fmt.Fprintf(&d, "M%s,%s", num(xOf(seg[0].At)), base)
					for _, p := range seg {
						fmt.Fprintf(&d, "L%s,%s", num(xOf(p.At)), num(yOf(p.Value)))
					}
					fmt.Fprintf(&d, "L%s,%sZ", num(xOf(seg[len(seg)-1].At)), base)
					fmt.Fprintf(&b, `<path d="%s" fill="%s" fill-opacity="0.15" stroke="none"/>`, d.String(), color)
					continue
				}
				if len(seg) == 1 {
					// A lone sample between gaps: a dot, or it would not show.
					fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="1.5" fill="%s"/>`, num(xOf(seg[0].At)), num(yOf(seg[0].Value)), color)
					continue
				}
				for j, p := range seg {
					if j == 0 {
						fmt.Fprintf(&d, "M%s,%s", num(xOf(p.At)), num(yOf(p.Value)))
					} else {
						fmt.Fprintf(&d, "L%s,%s", num(xOf(p.At)), num(yOf(p.Value)))
					}
				}
				fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="1.5" stroke-linejoin="round"%s/>`, d.String(), color, dash(s.Peak))
			}
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func tone(t int) int {
	if t < 0 || t >= len(palette) {
		return 0
	}
	return t
}

func dash(peak bool) string {
	if peak {
		return ` stroke-dasharray="4 3"`
	}
	return ""
}

// num writes a coordinate with one decimal: enough for a pixel, and the
// same bytes on every platform.
func num(f float64) string { return trimZeros(fmt.Sprintf("%.1f", f)) }

func trimZeros(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		return "0"
	}
	return s
}

// smallestSpacing is the least positive distance between two samples.
func smallestSpacing(pts []Point) time.Duration {
	var least time.Duration
	for i := 1; i < len(pts); i++ {
		if d := pts[i].At.Sub(pts[i-1].At); d > 0 && (least == 0 || d < least) {
			least = d
		}
	}
	return least
}

// reduce keeps the points inside [from, to) and, when there are more than
// n, reduces them to n columns of equal time (the mean, or the maximum for
// a peak series), each placed at its column's middle. width is a column's
// time when reduced, else 0.
func reduce(pts []Point, from, to time.Time, n int, peak bool) (out []Point, width time.Duration) {
	span := to.Sub(from)
	if span <= 0 {
		return nil, 0
	}
	inside := 0
	for _, p := range pts {
		if !p.At.Before(from) && p.At.Before(to) {
			inside++
		}
	}
	if inside <= n {
		out = make([]Point, 0, inside)
		for _, p := range pts {
			if !p.At.Before(from) && p.At.Before(to) {
				out = append(out, p)
			}
		}
		return out, 0
	}
	sum := make([]float64, n)
	cnt := make([]int, n)
	for _, p := range pts {
		if p.At.Before(from) || !p.At.Before(to) || math.IsNaN(p.Value) {
			continue
		}
		i := int(float64(p.At.Sub(from)) / float64(span) * float64(n))
		i = min(max(i, 0), n-1)
		switch {
		case cnt[i] == 0:
			sum[i] = p.Value
		case peak:
			sum[i] = math.Max(sum[i], p.Value)
		default:
			sum[i] += p.Value
		}
		cnt[i]++
	}
	width = span / time.Duration(n)
	out = make([]Point, 0, n)
	for i := range n {
		if cnt[i] == 0 {
			continue
		}
		v := sum[i]
		if !peak {
			v /= float64(cnt[i])
		}
		at := from.Add(time.Duration(float64(span) * (float64(i) + 0.5) / float64(n)))
		out = append(out, Point{At: at, Value: v})
	}
	return out, width
}

// segments splits drawn points where data is missing: a NaN, or two points
// further apart than gap.
func segments(pts []Point, gap time.Duration) [][]Point {
	var out [][]Point
	var cur []Point
	for _, p := range pts {
		if math.IsNaN(p.Value) {
			if len(cur) > 0 {
				out = append(out, cur)
			}
			cur = nil
			continue
		}
		if len(cur) > 0 && gap > 0 && p.At.Sub(cur[len(cur)-1].At) > gap {
			out = append(out, cur)
			cur = nil
		}
		cur = append(cur, p)
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// scale picks the value axis' top and its tick spacing: 1, 2 or 5 times a
// power of ten, four or five rules.
func scale(v float64) (top, tick float64) {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1, 0.25
	}
	raw := v / 4
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= raw {
			tick = m * p
			break
		}
	}
	return math.Ceil(v/tick-1e-9) * tick, tick
}

type tick struct {
	at    time.Time
	label string
}

// timeTicks marks the window's JST hours (up to two days) or JST dates:
// at most about eight labels.
func timeTicks(from, to time.Time) []tick {
	span := to.Sub(from)
	_, off := from.In(clock.JST).Zone()
	shift := time.Duration(off) * time.Second
	var step time.Duration
	if span <= 48*time.Hour {
		for _, hours := range []int{1, 2, 3, 6, 12, 24} {
			step = time.Duration(hours) * time.Hour
			if span/step <= 8 {
				break
			}
		}
	} else {
		for _, days := range []int{1, 2, 7, 14, 28} {
			step = time.Duration(days) * 24 * time.Hour
			if span/step <= 8 {
				break
			}
		}
	}
	// Align to the step in JST: local midnight, 03:00, … (Truncate counts
	// from Go's zero time, a Monday, so weeks start on a JST Monday).
	first := from.Add(shift).Truncate(step).Add(-shift)
	if first.Before(from) {
		first = first.Add(step)
	}
	var out []tick
	for t := first; t.Before(to) || t.Equal(to); t = t.Add(step) {
		j := t.In(clock.JST)
		label := j.Format("15:04")
		if step >= 24*time.Hour || (j.Hour() == 0 && j.Minute() == 0) {
			label = j.Format("01/02")
		}
		out = append(out, tick{at: t, label: label})
	}
	return out
}

type words struct {
	noData, min, avg, max, jst string
}

func wordsFor(lang string) words {
	if lang == "ja" {
		return words{noData: "データなし", min: "最小", avg: "平均", max: "最大", jst: "日本時間"}
	}
	return words{noData: "no data", min: "min", avg: "avg", max: "max", jst: "JST"}
}

// describe says in words what the picture shows: the window and each
// series' least, mean and greatest value inside it.
func describe(c Chart, w words) string {
	const layout = "2006-01-02 15:04"
	var b strings.Builder
	fmt.Fprintf(&b, "%s – %s (%s).", c.From.In(clock.JST).Format(layout), c.To.In(clock.JST).Format(layout), w.jst)
	for _, s := range c.Series {
		lo, hi, sum, n := math.Inf(1), math.Inf(-1), 0.0, 0
		for _, p := range s.Points {
			if p.At.Before(c.From) || !p.At.Before(c.To) || math.IsNaN(p.Value) {
				continue
			}
			lo, hi = math.Min(lo, p.Value), math.Max(hi, p.Value)
			sum += p.Value
			n++
		}
		if n == 0 {
			fmt.Fprintf(&b, " %s: %s.", s.Label, w.noData)
			continue
		}
		fmt.Fprintf(&b, " %s: %s %s, %s %s, %s %s.", s.Label,
			w.min, FormatValue(c.Unit, lo), w.avg, FormatValue(c.Unit, sum/float64(n)), w.max, FormatValue(c.Unit, hi))
	}
	return b.String()
}

// FormatValue writes v with its unit for people: three significant digits
// at most, SI prefixes for bits and bytes ("12.5 Mbit/s", "3.2 GB").
func FormatValue(u Unit, v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	switch u {
	case BitsPerSecond:
		return prefixed(v, "bit/s")
	case Bytes:
		return prefixed(v, "B")
	case Milliseconds:
		return short(v) + " ms"
	case Percent:
		return short(v) + " %"
	}
	return short(v)
}

func prefixed(v float64, unit string) string {
	prefixes := []string{"", "k", "M", "G", "T", "P"}
	i := 0
	for math.Abs(v) >= 1000 && i < len(prefixes)-1 {
		v /= 1000
		i++
	}
	return short(v) + " " + prefixes[i] + unit
}

func short(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 100 || a == 0:
		return trimZeros(fmt.Sprintf("%.0f", v))
	case a >= 10:
		return trimZeros(fmt.Sprintf("%.1f", v))
	default:
		return trimZeros(fmt.Sprintf("%.2f", v))
	}
}
