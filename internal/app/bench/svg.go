package bench

import (
	"encoding/xml"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Scale is how an axis places values.
type Scale int

// The scales of an axis.
const (
	// Linear places values evenly.
	Linear Scale = iota
	// Log places values by their base-10 logarithm; only values > 0 are drawn.
	Log
	// Nines places a percentile p (0 ≤ p < 100) at −log10(1 − p/100), so
	// that 0, 90, 99 and 99.9 are equally far apart: the tail of a latency
	// distribution gets as much room as its body. Values ≥ 100 are not drawn.
	Nines
)

// String names the scale as the SVG's data-scale attribute does.
func (s Scale) String() string {
	switch s {
	case Log:
		return "log"
	case Nines:
		return "nines"
	}
	return "linear"
}

// Pos is where the scale places v, in its own units; ok is false for a value
// the scale cannot place.
func (s Scale) Pos(v float64) (float64, bool) {
	switch s {
	case Log:
		return math.Log10(v), v > 0 && !math.IsInf(v, 0)
	case Nines:
		return -math.Log10(1 - v/100), v >= 0 && v < 100
	}
	return v, !math.IsNaN(v) && !math.IsInf(v, 0)
}

// Axis is one axis of a Chart.
type Axis struct {
	Label string
	Scale Scale
	// Format writes a tick's value; strconv's shortest form when nil.
	Format func(float64) string
	// FromZero starts a linear axis at 0 whatever the data.
	FromZero bool
}

func (a Axis) format(v float64) string {
	if a.Format != nil {
		return a.Format(v)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// Point is one data point, in the axes' units.
type Point struct{ X, Y float64 }

// Line is one data series of a Chart, drawn as a polyline.
type Line struct {
	Name   string
	Color  string
	Dashed bool
	Points []Point
}

// Chart is a line chart drawn as a standalone SVG document by SVG: a title,
// a legend, two axes with labelled ticks that span the data, the lines,
// optional vertical marks and a caption.
type Chart struct {
	Title string
	X, Y  Axis
	Lines []Line
	// Marks are x values drawn as dashed vertical lines, named by MarkLabel.
	Marks     []float64
	MarkLabel string
	// Shades are spans of x drawn as shaded bands behind the lines (an
	// outage), named by ShadeLabel.
	Shades     []Span
	ShadeLabel string
	// Caption is paragraphs under the chart, wrapped to its width.
	Caption []string
}

// Span is a stretch of the x axis, From to To.
type Span struct{ From, To float64 }

// Chart geometry, in SVG user units (px).
const (
	chartWidth   = 760
	plotLeft     = 78
	plotRight    = 24
	plotHeight   = 280
	titleY       = 26
	legendRow    = 18
	lineHeight   = 15
	captionChars = 118 // a caption line at 11 px is about 6 px a character
	fontFamily   = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
)

// frame is the chart's layout and its two mappings from data to pixels.
type frame struct {
	top, left, width, height float64
	xTicks, yTicks           []float64
	x, y                     Axis
}

// px is where x is drawn; ok is false when x's scale cannot place it.
func (f frame) px(x float64) (float64, bool) { return f.place(f.x.Scale, f.xTicks, x, f.left, f.width) }

// py is where y is drawn, upwards from the plot's bottom.
func (f frame) py(y float64) (float64, bool) {
	p, ok := f.place(f.y.Scale, f.yTicks, y, 0, f.height)
	return f.top + f.height - p, ok
}

func (f frame) place(s Scale, ticks []float64, v, start, length float64) (float64, bool) {
	u, ok := s.Pos(v)
	lo, _ := s.Pos(ticks[0])
	hi, _ := s.Pos(ticks[len(ticks)-1])
	if !ok || hi <= lo {
		return 0, false
	}
	return start + (u-lo)/(hi-lo)*length, true
}

// SVG draws the chart as a standalone SVG document. Every text is escaped;
// the document holds no script, no style sheet and no reference outside it,
// so it renders the same inline in HTML and as an image file.
func (c Chart) SVG() string {
	caption := wrapAll(c.Caption, captionChars)
	legendH := float64(len(c.Lines)) * legendRow
	f := frame{top: titleY + 14 + legendH + 10, left: plotLeft, width: chartWidth - plotLeft - plotRight, height: plotHeight, x: c.X, y: c.Y}
	xs, ys := c.values()
	f.xTicks, f.yTicks = Ticks(c.X, xs), Ticks(c.Y, ys)
	height := f.top + f.height + 52 + float64(len(caption))*lineHeight + 10

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%.0f" viewBox="0 0 %d %.0f" role="img" aria-label="%s" font-family="%s">`+"\n",
		chartWidth, height, chartWidth, height, attr(c.Title), attr(fontFamily))
	fmt.Fprintf(&b, "<title>%s</title>\n", text(c.Title))
	if len(c.Caption) > 0 {
		fmt.Fprintf(&b, "<desc>%s</desc>\n", text(strings.Join(c.Caption, " ")))
	}
	fmt.Fprintf(&b, `<rect class="background" x="0" y="0" width="%d" height="%.0f" fill="#ffffff"/>`+"\n", chartWidth, height)
	fmt.Fprintf(&b, `<text class="title" x="%d" y="%d" font-size="16" font-weight="600" fill="#111111">%s</text>`+"\n", plotLeft, titleY, text(c.Title))
	c.writeLegend(&b, titleY+14)
	f.writeAxes(&b)
	c.writeShades(&b, f)
	c.writeMarks(&b, f)
	c.writeLines(&b, f)
	if len(xs) == 0 {
		fmt.Fprintf(&b, `<text class="no-data" x="%.1f" y="%.1f" text-anchor="middle" font-size="14" fill="#666666">no data</text>`+"\n",
			f.left+f.width/2, f.top+f.height/2)
	}
	fmt.Fprintf(&b, `<g class="caption" font-size="11" fill="#444444">`+"\n")
	for i, l := range caption {
		fmt.Fprintf(&b, `<text x="%d" y="%.1f">%s</text>`+"\n", 12, f.top+f.height+52+float64(i+1)*lineHeight, text(l))
	}
	b.WriteString("</g>\n</svg>\n")
	return b.String()
}

// values returns the x and y values of every point both scales can place.
func (c Chart) values() (xs, ys []float64) {
	for _, l := range c.Lines {
		for _, p := range l.Points {
			_, okX := c.X.Scale.Pos(p.X)
			_, okY := c.Y.Scale.Pos(p.Y)
			if okX && okY {
				xs, ys = append(xs, p.X), append(ys, p.Y)
			}
		}
	}
	return xs, ys
}

func (c Chart) writeLegend(b *strings.Builder, top float64) {
	b.WriteString(`<g class="legend" font-size="12" fill="#222222">` + "\n")
	for i, l := range c.Lines {
		y := top + float64(i)*legendRow + 9
		fmt.Fprintf(b, `<g class="legend-entry" data-name="%s"><line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s" stroke-width="2.5"%s/><text x="%d" y="%.1f">%s</text></g>`+"\n",
			attr(l.Name), plotLeft, y-4, plotLeft+28, y-4, attr(l.Color), dash(l.Dashed), plotLeft+36, y, text(l.Name))
	}
	b.WriteString("</g>\n")
}

func (f frame) writeAxes(b *strings.Builder) {
	bottom := f.top + f.height
	fmt.Fprintf(b, `<g class="x-axis" data-scale="%s" font-size="11" fill="#333333" text-anchor="middle">`+"\n", f.x.Scale)
	for _, v := range f.xTicks {
		x, _ := f.px(v)
		fmt.Fprintf(b, `<g class="tick" data-value="%s"><line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e3e3e3"/><line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#555555"/><text x="%.1f" y="%.1f">%s</text></g>`+"\n",
			num(v), x, f.top, x, bottom, x, bottom, x, bottom+5, x, bottom+18, text(f.x.format(v)))
	}
	fmt.Fprintf(b, `<text class="axis-label" x="%.1f" y="%.1f" font-size="12" fill="#222222">%s</text>`+"\n", f.left+f.width/2, bottom+38, text(f.x.Label))
	b.WriteString("</g>\n")
	fmt.Fprintf(b, `<g class="y-axis" data-scale="%s" font-size="11" fill="#333333" text-anchor="end">`+"\n", f.y.Scale)
	for _, v := range f.yTicks {
		y, _ := f.py(v)
		fmt.Fprintf(b, `<g class="tick" data-value="%s"><line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e3e3e3"/><line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#555555"/><text x="%.1f" y="%.1f">%s</text></g>`+"\n",
			num(v), f.left, y, f.left+f.width, y, f.left-5, y, f.left, y, f.left-8, y+4, text(f.y.format(v)))
	}
	cx, cy := 16.0, f.top+f.height/2
	fmt.Fprintf(b, `<text class="axis-label" x="%.1f" y="%.1f" transform="rotate(-90 %.1f %.1f)" text-anchor="middle" font-size="12" fill="#222222">%s</text>`+"\n",
		cx, cy, cx, cy, text(f.y.Label))
	b.WriteString("</g>\n")
	fmt.Fprintf(b, `<rect class="plot" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#555555"/>`+"\n", f.left, f.top, f.width, f.height)
}

func (c Chart) writeMarks(b *strings.Builder, f frame) {
	for _, m := range c.Marks {
		x, ok := f.px(m)
		if !ok || x < f.left || x > f.left+f.width {
			continue
		}
		fmt.Fprintf(b, `<g class="mark" data-value="%s"><line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#888888" stroke-dasharray="2 3"/><text x="%.1f" y="%.1f" font-size="10" fill="#666666">%s</text></g>`+"\n",
			num(m), x, f.top, x, f.top+f.height, x+3, f.top+11, text(c.MarkLabel))
	}
}

func (c Chart) writeShades(b *strings.Builder, f frame) {
	for _, s := range c.Shades {
		x0, ok0 := f.px(s.From)
		x1, ok1 := f.px(s.To)
		if !ok0 || !ok1 {
			continue
		}
		x0, x1 = max(x0, f.left), min(x1, f.left+f.width)
		if x1 <= x0 {
			continue
		}
		fmt.Fprintf(b, `<g class="shade" data-from="%s" data-to="%s"><rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#999999" fill-opacity="0.18"/><text x="%.1f" y="%.1f" font-size="10" fill="#444444">%s</text></g>`+"\n",
			num(s.From), num(s.To), x0, f.top, x1-x0, f.height, x0+3, f.top+11, text(c.ShadeLabel))
	}
}

func (c Chart) writeLines(b *strings.Builder, f frame) {
	for _, l := range c.Lines {
		var pts []string
		for _, p := range l.Points {
			x, okX := f.px(p.X)
			y, okY := f.py(p.Y)
			if okX && okY {
				pts = append(pts, fmt.Sprintf("%.2f,%.2f", x, y))
			}
		}
		fmt.Fprintf(b, `<polyline class="series" data-name="%s" points="%s" fill="none" stroke="%s" stroke-width="2" stroke-linejoin="round"%s/>`+"\n",
			attr(l.Name), strings.Join(pts, " "), attr(l.Color), dash(l.Dashed))
	}
}

func dash(on bool) string {
	if on {
		return ` stroke-dasharray="7 4"`
	}
	return ""
}

// num writes a tick's value for its data-value attribute.
func num(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// text escapes s for an XML text node; attr for an attribute value.
func text(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func attr(s string) string { return text(s) }

// wrapAll wraps each paragraph to lines of at most n characters.
func wrapAll(paras []string, n int) []string {
	var out []string
	for _, p := range paras {
		line := ""
		for _, w := range strings.Fields(p) {
			if line != "" && len([]rune(line))+1+len([]rune(w)) > n {
				out = append(out, line)
				line = ""
			}
			if line != "" {
				line += " "
			}
			line += w
		}
		if line != "" {
			out = append(out, line)
		}
	}
	return out
}

// Ticks returns the labelled ticks of an axis for the given values: the
// first is at or below the smallest value, the last at or above the
// largest, so the data lie within them. Linear ticks are 1, 2 or 5 times a
// power of ten apart; log ticks are powers of ten (with 2 and 5 times them
// when the data span at most two decades); nines ticks are 0, 50, 90, 99
// and 99.9 as far as the data go.
func Ticks(a Axis, vs []float64) []float64 {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range vs {
		if _, ok := a.Scale.Pos(v); ok {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	switch a.Scale {
	case Log:
		if math.IsInf(lo, 0) {
			lo, hi = 1, 10
		}
		return logTicks(lo, hi)
	case Nines:
		if math.IsInf(lo, 0) {
			hi = 99
		}
		return ninesTicks(hi)
	}
	if math.IsInf(lo, 0) {
		lo, hi = 0, 1
	}
	if a.FromZero {
		lo = min(lo, 0)
	}
	return linearTicks(lo, hi)
}

func linearTicks(lo, hi float64) []float64 {
	if hi <= lo {
		hi = lo + max(1, math.Abs(lo))
	}
	raw := (hi - lo) / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * mag
	for _, m := range []float64{1, 2, 5} {
		if raw <= m*mag {
			step = m * mag
			break
		}
	}
	first, last := math.Floor(lo/step+1e-9), math.Ceil(hi/step-1e-9)
	var out []float64
	for k := first; k <= last; k++ {
		out = append(out, roundTo(k*step, step))
	}
	return out
}

// roundTo rounds v to the precision of step, dropping float noise such as
// 0.30000000000000004.
func roundTo(v, step float64) float64 {
	digits := max(0, -int(math.Floor(math.Log10(step)))+1)
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'f', digits, 64), 64)
	return r
}

func logTicks(lo, hi float64) []float64 {
	k0, k1 := math.Floor(math.Log10(lo)+1e-9), math.Ceil(math.Log10(hi)-1e-9)
	if k1 <= k0 {
		k1 = k0 + 1
	}
	var cand []float64
	for k := k0; k <= k1; k++ {
		for _, m := range []float64{1, 2, 5} {
			cand = append(cand, roundTo(m*math.Pow(10, k), math.Pow(10, k)))
		}
	}
	// The tightest candidates around the data: the last at or below lo and
	// the first at or above hi.
	i0, i1 := 0, len(cand)-1
	for i, v := range cand {
		if v <= lo*(1+1e-9) {
			i0 = i
		}
	}
	for i := len(cand) - 1; i >= 0; i-- {
		if cand[i] >= hi*(1-1e-9) {
			i1 = i
		}
	}
	if i1 <= i0 {
		i1 = i0 + 1
	}
	sel := cand[i0 : i1+1]
	if math.Log10(sel[len(sel)-1]/sel[0]) <= 2+1e-9 {
		return sel
	}
	// Over more than two decades, the ends and the powers of ten only.
	out := []float64{sel[0]}
	for _, v := range sel[1 : len(sel)-1] {
		if k := math.Log10(v); math.Abs(k-math.Round(k)) < 1e-9 {
			out = append(out, v)
		}
	}
	return append(out, sel[len(sel)-1])
}

func ninesTicks(hi float64) []float64 {
	out := []float64{0, 50, 90}
	for _, n := range []float64{99, 99.9, 99.99} {
		if out[len(out)-1] >= hi {
			break
		}
		out = append(out, n)
	}
	return out
}
