package bench_test

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ordersaga/ordersaga/internal/app/bench"
	"github.com/ordersaga/ordersaga/shop"
)

// node is any XML element, as encoding/xml reads it.
type node struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Text    string     `xml:",chardata"`
	Nodes   []node     `xml:",any"`
}

func (n node) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (n node) hasClass(c string) bool { return slices.Contains(strings.Fields(n.attr("class")), c) }

// all returns n and its descendants for which keep is true, in document order.
func (n node) all(keep func(node) bool) []node {
	var out []node
	if keep(n) {
		out = append(out, n)
	}
	for _, c := range n.Nodes {
		out = append(out, c.all(keep)...)
	}
	return out
}

func (n node) byClass(c string) []node { return n.all(func(m node) bool { return m.hasClass(c) }) }

func (n node) byName(name string) []node {
	return n.all(func(m node) bool { return m.XMLName.Local == name })
}

// texts joins the text of n and its descendants.
func (n node) texts() string {
	var parts []string
	for _, m := range n.all(func(node) bool { return true }) {
		if s := strings.TrimSpace(m.Text); s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, " ")
}

// parseSVG checks that s is one well-formed XML document whose root is an
// SVG element with a size, and returns it.
func parseSVG(t *testing.T, s string) node {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(s))
	var root node
	if err := dec.Decode(&root); err != nil {
		t.Fatalf("the SVG is not well-formed XML: %v\n%s", err, s)
	}
	if tok, err := dec.Token(); err == nil && strings.TrimSpace(fmt.Sprint(tok)) != "" {
		if cd, ok := tok.(xml.CharData); !ok || strings.TrimSpace(string(cd)) != "" {
			t.Fatalf("content after the root element: %v", tok)
		}
	}
	if root.XMLName.Local != "svg" || root.XMLName.Space != "http://www.w3.org/2000/svg" {
		t.Fatalf("root element %v, want svg in the SVG namespace", root.XMLName)
	}
	w, errW := strconv.Atoi(root.attr("width"))
	h, errH := strconv.Atoi(root.attr("height"))
	if errW != nil || errH != nil || w <= 0 || h <= 0 || root.attr("viewBox") != fmt.Sprintf("0 0 %d %d", w, h) {
		t.Fatalf("svg size %q×%q, viewBox %q", root.attr("width"), root.attr("height"), root.attr("viewBox"))
	}
	return root
}

// tick is a labelled tick: its value, its label and where it is drawn.
type tick struct {
	value, pos float64
	label      string
}

// axisTicks reads an axis's ticks; pos is the x of an x axis's tick line,
// the y of a y axis's.
func axisTicks(t *testing.T, axis node, horizontal bool) []tick {
	t.Helper()
	var out []tick
	for _, g := range axis.byClass("tick") {
		v, err := strconv.ParseFloat(g.attr("data-value"), 64)
		if err != nil {
			t.Fatalf("tick data-value %q", g.attr("data-value"))
		}
		ln := g.byName("line")[0]
		coord := "y1"
		if horizontal {
			coord = "x1"
		}
		p, err := strconv.ParseFloat(ln.attr(coord), 64)
		if err != nil {
			t.Fatalf("tick line %s %q", coord, ln.attr(coord))
		}
		out = append(out, tick{value: v, pos: p, label: g.byName("text")[0].Text})
	}
	if len(out) < 2 {
		t.Fatalf("axis has %d ticks, want at least 2", len(out))
	}
	return out
}

// labelValue reads a tick label back into the axis's unit: "2 ms", "1.5 s"
// and "500 µs" in ms, "99.9%" in percent, else a plain number.
func labelValue(t *testing.T, label string) float64 {
	t.Helper()
	m := regexp.MustCompile(`^([0-9.e+-]+)\s*(ms|s|µs|%)?$`).FindStringSubmatch(label)
	if m == nil {
		t.Fatalf("tick label %q is not a number with a unit", label)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("tick label %q: %v", label, err)
	}
	switch m[2] {
	case "s":
		v *= 1000
	case "µs":
		v /= 1000
	}
	return v
}

// scalePos is where a scale places a value (as bench.Scale.Pos); scaleValue
// is its inverse.
func scalePos(scale string, v float64) float64 {
	switch scale {
	case "log":
		return math.Log10(v)
	case "nines":
		return -math.Log10(1 - v/100)
	}
	return v
}

func scaleValue(scale string, u float64) float64 {
	switch scale {
	case "log":
		return math.Pow(10, u)
	case "nines":
		return 100 * (1 - math.Pow(10, -u))
	}
	return u
}

// axis is one axis of a drawn chart, able to read a position back into data.
type axis struct {
	scale string
	ticks []tick
}

func readAxis(t *testing.T, root node, class string) axis {
	t.Helper()
	gs := root.byClass(class)
	if len(gs) != 1 {
		t.Fatalf("%d elements of class %s, want 1", len(gs), class)
	}
	a := axis{scale: gs[0].attr("data-scale"), ticks: axisTicks(t, gs[0], class == "x-axis")}
	for i, tk := range a.ticks {
		if got := labelValue(t, tk.label); math.Abs(got-tk.value) > 1e-9*math.Max(1, math.Abs(tk.value)) {
			t.Errorf("%s tick labelled %q has the value %v", class, tk.label, tk.value)
		}
		if i > 0 && (tk.value <= a.ticks[i-1].value || tk.pos == a.ticks[i-1].pos) {
			t.Errorf("%s ticks out of order: %v then %v", class, a.ticks[i-1], tk)
		}
	}
	// Evenly placed on the axis's scale: each tick where the first and the
	// last put it.
	first, last := a.ticks[0], a.ticks[len(a.ticks)-1]
	lo, hi := scalePos(a.scale, first.value), scalePos(a.scale, last.value)
	for _, tk := range a.ticks {
		want := first.pos + (scalePos(a.scale, tk.value)-lo)/(hi-lo)*(last.pos-first.pos)
		if math.Abs(tk.pos-want) > 0.11 {
			t.Errorf("%s tick %q drawn at %.1f, want %.1f (the axis has %v at %.1f, %v at %.1f)", class, tk.label, tk.pos, want, first.value, first.pos, last.value, last.pos)
		}
	}
	return a
}

// value reads a position back into data.
func (a axis) value(pos float64) float64 {
	first, last := a.ticks[0], a.ticks[len(a.ticks)-1]
	lo, hi := scalePos(a.scale, first.value), scalePos(a.scale, last.value)
	return scaleValue(a.scale, lo+(pos-first.pos)/(last.pos-first.pos)*(hi-lo))
}

// covers checks that the axis's ticks span the values.
func (a axis) covers(t *testing.T, name string, vs []float64) {
	t.Helper()
	lo, hi := slices.Min(vs), slices.Max(vs)
	if a.ticks[0].value > lo || a.ticks[len(a.ticks)-1].value < hi {
		t.Errorf("%s axis %v..%v does not span the data %v..%v", name, a.ticks[0].value, a.ticks[len(a.ticks)-1].value, lo, hi)
	}
}

// polylinePoints reads a polyline's points.
func polylinePoints(t *testing.T, pl node) [][2]float64 {
	t.Helper()
	var out [][2]float64
	for _, pair := range strings.Fields(pl.attr("points")) {
		x, y, ok := strings.Cut(pair, ",")
		fx, errX := strconv.ParseFloat(x, 64)
		fy, errY := strconv.ParseFloat(y, 64)
		if !ok || errX != nil || errY != nil {
			t.Fatalf("polyline point %q", pair)
		}
		out = append(out, [2]float64{fx, fy})
	}
	return out
}

// checkChart parses a chart's SVG and checks that its lines, read back
// through its axes, are the chart's data, that the axes span the data, and
// that the legend and the caption say what the chart says.
func checkChart(t *testing.T, c bench.Chart) node {
	t.Helper()
	root := parseSVG(t, c.SVG())
	if got := root.byName("title"); len(got) != 1 || got[0].Text != c.Title {
		t.Errorf("title %v, want %q", got, c.Title)
	}
	xa, ya := readAxis(t, root, "x-axis"), readAxis(t, root, "y-axis")
	if xa.scale != c.X.Scale.String() || ya.scale != c.Y.Scale.String() {
		t.Errorf("scales %s and %s, want %s and %s", xa.scale, ya.scale, c.X.Scale, c.Y.Scale)
	}
	lines := root.byClass("series")
	if len(lines) != len(c.Lines) {
		t.Fatalf("%d series drawn, want %d", len(lines), len(c.Lines))
	}
	for i, l := range c.Lines {
		var want []bench.Point
		for _, p := range l.Points {
			_, okX := c.X.Scale.Pos(p.X)
			_, okY := c.Y.Scale.Pos(p.Y)
			if okX && okY {
				want = append(want, p)
			}
		}
		if lines[i].XMLName.Local != "polyline" || lines[i].attr("data-name") != l.Name || lines[i].attr("stroke") != l.Color {
			t.Errorf("series %d: <%s data-name=%q stroke=%q>, want a polyline %q in %s", i, lines[i].XMLName.Local, lines[i].attr("data-name"), lines[i].attr("stroke"), l.Name, l.Color)
		}
		got := polylinePoints(t, lines[i])
		if len(got) != len(want) || len(want) < 2 {
			t.Fatalf("series %q: %d points drawn, want %d (at least 2)", l.Name, len(got), len(want))
		}
		var xs, ys []float64
		for j, p := range want {
			xs, ys = append(xs, p.X), append(ys, p.Y)
			gx, gy := xa.value(got[j][0]), ya.value(got[j][1])
			if !near(gx, p.X, c.X.Scale) || !near(gy, p.Y, c.Y.Scale) {
				t.Errorf("series %q point %d drawn at %v reads back as (%.4g, %.4g), want (%.4g, %.4g)", l.Name, j, got[j], gx, gy, p.X, p.Y)
			}
		}
		xa.covers(t, "x", xs)
		ya.covers(t, "y", ys)
	}
	legend := root.byClass("legend-entry")
	if len(legend) != len(c.Lines) {
		t.Errorf("%d legend entries, want %d", len(legend), len(c.Lines))
	}
	for i := range min(len(legend), len(c.Lines)) {
		if got := legend[i].texts(); got != c.Lines[i].Name {
			t.Errorf("legend entry %d says %q, want %q", i, got, c.Lines[i].Name)
		}
	}
	if caption := root.byClass("caption"); len(caption) != 1 || caption[0].texts() != strings.Join(strings.Fields(strings.Join(c.Caption, " ")), " ") {
		t.Errorf("caption %q, want %q", root.byClass("caption")[0].texts(), strings.Join(c.Caption, " "))
	}
	for _, lbl := range []string{c.X.Label, c.Y.Label} {
		if !strings.Contains(root.texts(), lbl) {
			t.Errorf("the axis label %q is not drawn", lbl)
		}
	}
	return root
}

// near compares a value read back from a drawing (2-decimal pixels) with
// the data: within 1% of it, or of the axis unit for a linear value near 0.
func near(got, want float64, s bench.Scale) bool {
	if s == bench.Nines {
		return math.Abs(scalePos("nines", got)-scalePos("nines", want)) < 0.005
	}
	return math.Abs(got-want) <= 0.01*math.Abs(want)+1e-3
}

// fakeRun is a run of n units whose latencies and ends are given by lat(i)
// and end(i).
func fakeRun(n, c int, lat func(i int) time.Duration, end func(i int) time.Duration) bench.Run {
	r := bench.Run{N: n, Concurrency: c, Latency: bench.NewHistogram(), Statuses: make([]shop.Status, n), Ends: make([]time.Duration, n)}
	for i := range n {
		r.Statuses[i] = shop.StatusCompleted
		r.Ends[i] = end(i)
		r.Wall = max(r.Wall, r.Ends[i])
		bench.Record(r.Latency, lat(i))
	}
	return r
}

// chartReport is a report with realistic distributions and series: an
// orchestration of ~1 s sagas at ~50/s against a bare Temporal a bit faster,
// a choreography of ~20 ms sagas against a bare pipeline three times faster.
func chartReport() *bench.Report {
	rep := sampleReport()
	spread := func(base time.Duration) func(int) time.Duration {
		return func(i int) time.Duration {
			q := float64(i%1000) / 1000
			return time.Duration(float64(base) * math.Exp(2*(q-0.5)+math.Pow(q, 40)*2))
		}
	}
	at := func(rate float64) func(int) time.Duration {
		return func(i int) time.Duration {
			return time.Duration((float64(i+1) + 15*math.Sin(float64(i)/40)) / rate * float64(time.Second))
		}
	}
	orch := fakeRun(2000, 64, spread(time.Second), at(50))
	bareT := bench.Combine(fakeRun(1000, 64, spread(900*time.Millisecond), at(55)), fakeRun(1000, 64, spread(900*time.Millisecond), at(52)))
	chor := fakeRun(2000, 64, spread(20*time.Millisecond), at(2500))
	bareS := bench.Combine(fakeRun(1000, 64, spread(7*time.Millisecond), at(7500)), fakeRun(1000, 64, spread(7*time.Millisecond), at(7000)))
	rep.Results[0].Stats, rep.Results[1].Stats = orch.Stats(), chor.Stats()
	rep.Baseline.Orchestration.Stats, rep.Baseline.Choreography.Stats = bareT.Stats(), bareS.Stats()
	rep.Machine.RedisPersistence = "an append-only file (appendfsync everysec)"
	rep.Machine.TemporalPersistence, rep.Machine.TemporalShards, rep.Machine.Stack = "sqlite", 1, "make up"
	for i, r := range rep.Results {
		rep.Baseline.For(r.Mode).SetRatios(rep.Results[i].Stats)
	}
	return rep
}

func TestReportCharts(t *testing.T) {
	rep := chartReport()
	charts := rep.Charts()
	var names []string
	for _, c := range charts {
		names = append(names, c.Name)
	}
	if want := []string{"latency-orchestration", "throughput-orchestration", "latency-choreography", "throughput-choreography"}; !slices.Equal(names, want) {
		t.Fatalf("charts %v, want %v", names, want)
	}
	for _, c := range charts {
		t.Run(c.Name, func(t *testing.T) {
			root := checkChart(t, c.Chart)
			caption := root.byClass("caption")[0].texts()
			for _, want := range []string{"Measured on: make up", "2 CPUs", "Redis 7.0.15 with an append-only file (appendfsync everysec)", "Temporal server 1.2.3 on sqlite", "Workload: 10 orders (seed 7), 2 in flight"} {
				if !strings.Contains(caption, want) {
					t.Errorf("caption lacks %q: %s", want, caption)
				}
			}
			if len(c.Chart.Lines) != 2 || !strings.HasPrefix(c.Chart.Lines[1].Name, "bare ") || !c.Chart.Lines[1].Dashed {
				t.Errorf("want the engine and its bare engine, dashed: %+v", c.Chart.Lines)
			}
		})
	}
	// The latency chart goes to p99.9 on its nines axis and draws p0..p99.9.
	lat := checkChart(t, charts[0].Chart)
	xa := readAxis(t, lat, "x-axis")
	if got := xa.ticks[len(xa.ticks)-1].label; got != "99.9%" {
		t.Errorf("last percentile tick %q, want 99.9%%", got)
	}
	// The bare engines' two halves are joined at a mark.
	thr := parseSVG(t, charts[1].Chart.SVG())
	if marks := thr.byClass("mark"); len(marks) != 1 {
		t.Errorf("%d marks on the throughput chart, want the one join", len(marks))
	}
}

func TestTicks(t *testing.T) {
	tests := []struct {
		axis bench.Axis
		vs   []float64
		want []float64
	}{
		{bench.Axis{Scale: bench.Linear, FromZero: true}, []float64{120, 2100}, []float64{0, 500, 1000, 1500, 2000, 2500}},
		{bench.Axis{Scale: bench.Linear}, []float64{0.13, 0.91}, []float64{0, 0.2, 0.4, 0.6, 0.8, 1}},
		{bench.Axis{Scale: bench.Linear}, []float64{3.1, 3.9}, []float64{3, 3.2, 3.4, 3.6, 3.8, 4}},
		{bench.Axis{Scale: bench.Linear, FromZero: true}, []float64{7, 7}, []float64{0, 2, 4, 6, 8}},
		{bench.Axis{Scale: bench.Log}, []float64{2.4, 45}, []float64{2, 5, 10, 20, 50}},
		{bench.Axis{Scale: bench.Log}, []float64{0.9, 45}, []float64{0.5, 1, 2, 5, 10, 20, 50}},
		{bench.Axis{Scale: bench.Log}, []float64{2, 3000}, []float64{2, 10, 100, 1000, 5000}},
		{bench.Axis{Scale: bench.Log}, []float64{10, 10}, []float64{10, 20}},
		{bench.Axis{Scale: bench.Log}, []float64{0, -1, 3}, []float64{2, 5}},
		{bench.Axis{Scale: bench.Nines}, []float64{0, 50, 99.9, 100}, []float64{0, 50, 90, 99, 99.9}},
		{bench.Axis{Scale: bench.Nines}, []float64{0, 95}, []float64{0, 50, 90, 99}},
		{bench.Axis{Scale: bench.Linear}, nil, []float64{0, 0.2, 0.4, 0.6, 0.8, 1}},
	}
	for _, tt := range tests {
		if got := bench.Ticks(tt.axis, tt.vs); !slices.Equal(got, tt.want) {
			t.Errorf("Ticks(%s, %v) = %v, want %v", tt.axis.Scale, tt.vs, got, tt.want)
		}
	}
}

func TestChartEdgeCases(t *testing.T) {
	// Text that needs escaping, and a line with no point to draw.
	c := bench.Chart{
		Title: `a <b> & "c"`, X: bench.Axis{Label: "x < 1", Scale: bench.Linear}, Y: bench.Axis{Label: "y & z", Scale: bench.Log},
		Lines:   []bench.Line{{Name: "<one>", Color: "#000000", Points: []bench.Point{{0, 1}, {1, 100}}}, {Name: "none", Color: "#111111"}},
		Caption: []string{strings.Repeat("word ", 100)},
	}
	root := parseSVG(t, c.SVG())
	if got := root.byName("title")[0].Text; got != c.Title {
		t.Errorf("title %q, want %q", got, c.Title)
	}
	if n := len(root.byClass("caption")[0].byName("text")); n < 4 {
		t.Errorf("a 500-character caption is %d line(s), want it wrapped", n)
	}
	// No data at all: still a chart, saying so.
	empty := parseSVG(t, bench.Chart{Title: "empty", X: bench.Axis{Scale: bench.Nines}, Y: bench.Axis{Scale: bench.Log}}.SVG())
	if len(empty.byClass("no-data")) != 1 {
		t.Error("an empty chart does not say 'no data'")
	}
}

func TestSeries(t *testing.T) {
	// 1,000 units ending evenly over 10 s: 25 buckets of 0.4 s, 100/s each.
	r := fakeRun(1000, 8, func(int) time.Duration { return time.Millisecond }, func(i int) time.Duration {
		return time.Duration(i)*10*time.Millisecond + 5*time.Millisecond
	})
	r.Wall = 10 * time.Second
	s := r.Stats().Series
	if s == nil || len(s.PerSecond) != 25 || math.Abs(s.BucketSeconds-0.4) > 1e-9 {
		t.Fatalf("series %+v, want 25 buckets of 0.4 s", s)
	}
	for i, v := range s.PerSecond {
		if math.Abs(v-100) > 1e-6 {
			t.Errorf("bucket %d: %v/s, want 100", i, v)
		}
	}
	// Failed units are not counted; a short run has one bucket per PerBucket units.
	r = fakeRun(200, 1, func(int) time.Duration { return time.Millisecond }, func(i int) time.Duration { return time.Duration(i+1) * time.Millisecond })
	r.Statuses[0], r.Statuses[1] = bench.StatusError, bench.StatusError
	s = r.Series()
	total := 0.0
	for _, v := range s.PerSecond {
		total += v * s.BucketSeconds
	}
	if len(s.PerSecond) != 198/bench.PerBucket || math.Abs(total-198) > 1e-6 {
		t.Errorf("%d buckets holding %v units, want %d holding 198", len(s.PerSecond), total, 198/bench.PerBucket)
	}
	if (bench.Run{Latency: bench.NewHistogram()}).Series() != nil {
		t.Error("an empty run has a series")
	}
	// Parts put end to end: the second's ends follow the first's wall time.
	a := fakeRun(40, 1, func(int) time.Duration { return time.Millisecond }, func(i int) time.Duration { return time.Duration(i+1) * time.Millisecond })
	b := fakeRun(40, 1, func(int) time.Duration { return time.Millisecond }, func(i int) time.Duration { return time.Duration(i+1) * 2 * time.Millisecond })
	whole := bench.Combine(a, b)
	if !slices.Equal(whole.Joins, []time.Duration{40 * time.Millisecond}) || whole.Ends[40] != 42*time.Millisecond || whole.Ends[79] != 120*time.Millisecond {
		t.Errorf("joins %v, ends %v and %v; want [40ms], 42ms and 120ms", whole.Joins, whole.Ends[40], whole.Ends[79])
	}
	if s := whole.Series(); !slices.Equal(s.JoinsSeconds, []float64{0.04}) {
		t.Errorf("series joins %v, want [0.04]", s.JoinsSeconds)
	}
}

func TestPercentiles(t *testing.T) {
	h := bench.NewHistogram()
	for ms := 1; ms <= 1000; ms++ {
		bench.Record(h, time.Duration(ms)*time.Millisecond)
	}
	ps := bench.Percentiles(h)
	if len(ps) != len(bench.Quantiles) || ps[0].P != 0 || ps[len(ps)-1].P != 100 {
		t.Fatalf("percentiles %v", ps)
	}
	for i, p := range ps {
		want := math.Max(1, 10*p.P) // the value at p% of 1..1000 ms
		if math.Abs(p.Ms-want)/want > 0.002 {
			t.Errorf("p%v = %v ms, want %v", p.P, p.Ms, want)
		}
		if i > 0 && p.Ms < ps[i-1].Ms {
			t.Errorf("p%v = %v ms is below p%v = %v ms", p.P, p.Ms, ps[i-1].P, ps[i-1].Ms)
		}
	}
	if got := bench.Percentiles(bench.NewHistogram()); got == nil || len(got) != 0 {
		t.Errorf("empty histogram: %v, want an empty list", got)
	}
}

func TestWriteReportFiles(t *testing.T) {
	rep := chartReport()
	dir := t.TempDir()
	md := filepath.Join(dir, "my results.md")
	files, err := rep.WriteReport(md)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 5 || files[0] != md {
		t.Fatalf("wrote %v, want the report and 4 charts", files)
	}
	text, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	links := regexp.MustCompile(`!\[[^\]]*\]\(([^)]+)\)`).FindAllStringSubmatch(string(text), -1)
	if len(links) != 4 {
		t.Fatalf("the Markdown links %d images, want 4:\n%s", len(links), text)
	}
	for i, l := range links {
		if l[1] != strings.ReplaceAll(filepath.Base(files[i+1]), " ", "%20") {
			t.Errorf("image %d links %q, want %q", i, l[1], filepath.Base(files[i+1]))
		}
		svg, err := os.ReadFile(files[i+1])
		if err != nil {
			t.Fatal(err)
		}
		parseSVG(t, string(svg))
	}
	for _, want := range []string{"## Charts", "### orchestration", "### choreography", "Measured on: make up; 2 CPUs"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("the Markdown lacks %q", want)
		}
	}

	// JSON: the distribution and the series of every engine and baseline.
	files, err = rep.WriteReport(filepath.Join(dir, "r.json"))
	if err != nil || len(files) != 1 {
		t.Fatalf("JSON report: %v %v", files, err)
	}
	b, _ := os.ReadFile(files[0])
	var doc struct {
		Results  []bench.Stats          `json:"results"`
		Baseline map[string]bench.Stats `json:"baseline"`
		Machine  bench.Machine          `json:"machine"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	all := append(doc.Results, doc.Baseline["orchestration"], doc.Baseline["choreography"])
	for i, s := range all {
		if len(s.Percentiles) != len(bench.Quantiles) || s.Series == nil || len(s.Series.PerSecond) == 0 {
			t.Errorf("stats %d: %d percentiles, series %+v", i, len(s.Percentiles), s.Series)
		}
	}
	if len(doc.Baseline["choreography"].Series.JoinsSeconds) != 1 || doc.Machine.Stack != "make up" || doc.Machine.TemporalPersistence != "sqlite" {
		t.Errorf("JSON report: joins %v, machine %+v", doc.Baseline["choreography"].Series.JoinsSeconds, doc.Machine)
	}
}
