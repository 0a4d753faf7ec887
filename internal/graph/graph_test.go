package graph

import (
	"encoding/xml"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var updateGolden = os.Getenv("TSUNAGI_UPDATE_GOLDEN") == "1"

// day0 is a JST midnight: 2026-12-05 00:00 JST.
var day0 = time.Date(2026, 12, 4, 15, 0, 0, 0, time.UTC)

func fiveMinutes(from time.Time, n int, f func(i int) float64) []Point {
	out := make([]Point, n)
	for i := range n {
		out[i] = Point{At: from.Add(time.Duration(i) * 5 * time.Minute), Value: f(i)}
	}
	return out
}

func cases() map[string]Chart {
	day := fiveMinutes(day0, 288, func(i int) float64 { return 1e6 * (2 + math.Sin(float64(i)/20)) })
	// Two hours without data in the afternoon.
	withGap := append(append([]Point(nil), day[:150]...), day[174:]...)
	return map[string]Chart{
		"day-bits-en": {
			ID: "g1", Title: "Port tokyo-1 traffic", Lang: "en", From: day0, To: day0.Add(24 * time.Hour),
			Step: 5 * time.Minute, Unit: BitsPerSecond,
			Series: []Series{
				{Label: "in (average)", Points: withGap, Area: true, Tone: 0},
				{Label: "in (peak)", Points: fiveMinutes(day0, 288, func(i int) float64 { return 3e6 + float64(i%7)*1e5 }), Peak: true, Tone: 0},
			},
		},
		"week-ms-ja": {
			ID: "g2", Title: "往復時間", Lang: "ja", From: day0, To: day0.Add(7 * 24 * time.Hour),
			Step: time.Hour, Unit: Milliseconds,
			Series: []Series{{Label: "平均", Points: []Point{
				{At: day0.Add(time.Hour), Value: 1.2}, {At: day0.Add(2 * time.Hour), Value: math.NaN()},
				{At: day0.Add(3 * time.Hour), Value: 2.5}, {At: day0.Add(4 * time.Hour), Value: 3},
			}, Tone: 2}},
		},
		"empty-percent": {
			ID: "g3", Title: "Loss", Lang: "en", From: day0, To: day0.Add(30 * 24 * time.Hour), Unit: Percent,
			Series: []Series{{Label: "loss", Tone: 1}},
		},
	}
}

// TestGolden checks each case's picture byte for byte, and that it is
// well-formed XML with an accessible name and no script.
func TestGolden(t *testing.T) {
	for name, c := range cases() {
		t.Run(name, func(t *testing.T) {
			got := string(Render(c))
			if got != string(Render(c)) {
				t.Fatal("two renderings differ")
			}
			wellFormed(t, got)
			for _, must := range []string{`role="img"`, `<title id="` + c.ID + `-title">`, `<desc id="` + c.ID + `-desc">`} {
				if !strings.Contains(got, must) {
					t.Errorf("missing %s", must)
				}
			}
			if strings.Contains(strings.ToLower(got), "<script") || regexp.MustCompile(` on[a-z]+=`).MatchString(got) {
				t.Error("the picture holds script")
			}
			path := filepath.Join("testdata", name+".svg")
			if updateGolden {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("the picture differs from %s (TSUNAGI_UPDATE_GOLDEN=1 to accept)", path)
			}
		})
	}
}

func wellFormed(t *testing.T, s string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(s))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("not well-formed: %v\n%s", err, s)
		}
	}
}

func TestTextIsEscaped(t *testing.T) {
	evil := `</text><script>alert(1)</script>&"'`
	got := string(Render(Chart{ID: "x", Title: evil, From: day0, To: day0.Add(time.Hour),
		Series: []Series{{Label: evil, Points: []Point{{At: day0, Value: 1}}}}}))
	wellFormed(t, got)
	if strings.Contains(got, "<script") {
		t.Fatalf("text reached the markup unescaped:\n%s", got)
	}
}

func TestDescriptionSummarises(t *testing.T) {
	pts := []Point{{At: day0, Value: 1e6}, {At: day0.Add(5 * time.Minute), Value: 3e6}, {At: day0.Add(10 * time.Minute), Value: math.NaN()}}
	got := string(Render(Chart{ID: "d", Lang: "en", From: day0, To: day0.Add(time.Hour), Unit: BitsPerSecond,
		Series: []Series{{Label: "in", Points: pts}, {Label: "out"}}}))
	for _, want := range []string{"2026-12-05 00:00 – 2026-12-05 01:00 (JST).", "in: min 1 Mbit/s, avg 2 Mbit/s, max 3 Mbit/s.", "out: no data."} {
		if !strings.Contains(got, want) {
			t.Errorf("description lacks %q:\n%s", want, got)
		}
	}
}

// A one-sample burst in sixty days of quiet survives the reduction to the
// width in a peak series and is averaged away in an average series.
func TestReductionKeepsPeaks(t *testing.T) {
	from, to := day0, day0.Add(60*24*time.Hour)
	pts := fiveMinutes(from, 17280, func(i int) float64 {
		if i == 9000 {
			return 1e9
		}
		return 1e6
	})
	peak, width := reduce(pts, from, to, 600, true)
	if width == 0 || len(peak) != 600 {
		t.Fatalf("reduced to %d columns of %v, want 600", len(peak), width)
	}
	high := 0.0
	for _, p := range peak {
		high = math.Max(high, p.Value)
	}
	if high != 1e9 {
		t.Errorf("peak series lost the burst: highest %v", high)
	}
	avg, _ := reduce(pts, from, to, 600, false)
	high = 0
	for _, p := range avg {
		high = math.Max(high, p.Value)
	}
	if high >= 1e9/2 || high <= 1e6 {
		t.Errorf("average series highest %v: want the burst averaged over its column", high)
	}
}

func TestGapsBreakTheLine(t *testing.T) {
	pts := fiveMinutes(day0, 12, func(int) float64 { return 1 })
	pts = append(pts[:4], pts[8:]...) // 20 minutes missing
	segs := segments(pts, 15*time.Minute/2)
	if len(segs) != 2 || len(segs[0]) != 4 || len(segs[1]) != 4 {
		t.Fatalf("segments %v, want two of four", segs)
	}
	got := string(Render(Chart{ID: "g", From: day0, To: day0.Add(time.Hour), Step: 5 * time.Minute, Series: []Series{{Label: "a", Points: pts}}}))
	if n := strings.Count(got, `<path d="M`); n != 2 {
		t.Errorf("%d lines drawn, want 2 (one each side of the gap)", n)
	}
}

func TestTimeAxisIsJST(t *testing.T) {
	day := timeTicks(day0, day0.Add(24*time.Hour))
	if len(day) == 0 || day[0].label != "12/05" || !day[0].at.Equal(day0) || day[1].label != "03:00" {
		t.Errorf("day ticks %v: want JST midnight then 03:00", day)
	}
	long := timeTicks(day0.Add(time.Hour), day0.Add(60*24*time.Hour))
	for _, k := range long {
		if j := k.at.In(time.FixedZone("JST", 9*3600)); j.Hour() != 0 || j.Minute() != 0 {
			t.Errorf("date tick %v is not a JST midnight", k.at)
		}
	}
	if len(long) < 2 || len(long) > 9 {
		t.Errorf("%d date ticks for 60 days", len(long))
	}
}

func TestFormatValue(t *testing.T) {
	for _, c := range []struct {
		u    Unit
		v    float64
		want string
	}{
		{BitsPerSecond, 0, "0 bit/s"},
		{BitsPerSecond, 950, "950 bit/s"},
		{BitsPerSecond, 12_500_000, "12.5 Mbit/s"},
		{BitsPerSecond, 1e9, "1 Gbit/s"},
		{Bytes, 3_210_000_000, "3.21 GB"},
		{Milliseconds, 0.25, "0.25 ms"},
		{Percent, 100, "100 %"},
		{Number, 42, "42"},
	} {
		if got := FormatValue(c.u, c.v); got != c.want {
			t.Errorf("FormatValue(%v, %v) = %q, want %q", c.u, c.v, got, c.want)
		}
	}
}

func TestScale(t *testing.T) {
	for _, c := range []struct{ v, top, tick float64 }{
		{0, 1, 0.25}, {3.1e6, 4e6, 1e6}, {9e8, 1e9, 2.5e8}, {100, 100, 25},
	} {
		top, tick := scale(c.v)
		if top != c.top || tick != c.tick {
			t.Errorf("scale(%v) = %v, %v; want %v, %v", c.v, top, tick, c.top, c.tick)
		}
	}
}

// BenchmarkRender60Days draws a 60-day window of 5-minute points: four
// series (in and out, average and peak) of 17,280 points each.
func BenchmarkRender60Days(b *testing.B) {
	from := day0
	var series []Series
	for k := range 4 {
		series = append(series, Series{Label: "s", Peak: k >= 2, Tone: k % 2,
			Points: fiveMinutes(from, 17280, func(i int) float64 { return float64((i*7919+k)%1000) * 1e5 })})
	}
	c := Chart{ID: "b", From: from, To: from.Add(60 * 24 * time.Hour), Step: 5 * time.Minute, Unit: BitsPerSecond, Series: series}
	b.ReportAllocs()
	for b.Loop() {
		Render(c)
	}
}
