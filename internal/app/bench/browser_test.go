package bench_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
)

// browser is a headless Chromium tab, with what its console said.
type browser struct {
	ctx     context.Context
	mu      sync.Mutex
	console []chromedp.ConsoleMessage
}

func newBrowser(t *testing.T, width, height int) *browser {
	t.Helper()
	ctx := testenv.Chromium(t, width, height)
	b := &browser{ctx: ctx}
	listen, stopListening := context.WithCancel(ctx)
	messages := chromedp.Console(listen)
	var wg sync.WaitGroup
	wg.Go(func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.console = append(b.console, m)
			b.mu.Unlock()
		}
	})
	t.Cleanup(func() { stopListening(); wg.Wait() })
	return b
}

// do runs browser actions with a time limit.
func (b *browser) do(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// evalJSON runs JavaScript that returns JSON text and decodes it into v.
func (b *browser) evalJSON(t *testing.T, js string, v any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		t.Fatalf("evaluate: %v", err)
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("evaluate: %v in %s", err, s)
	}
}

// errors are the console's errors, warnings and uncaught exceptions.
func (b *browser) errors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, m := range b.console {
		if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning || m.IsException() {
			out = append(out, m.String())
		}
	}
	return out
}

// screenshot saves a PNG of the whole page in $ORDERSAGA_SCREENSHOTS, or
// in the test's temporary directory.
func (b *browser) screenshot(t *testing.T, name string) {
	t.Helper()
	dir := os.Getenv("ORDERSAGA_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if len(png) < 8 || string(png[1:4]) != "PNG" {
		t.Fatalf("screenshot is not a PNG (%d bytes)", len(png))
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d KB)", p, len(png)/1024)
}

func fileURL(p string) string { return (&url.URL{Scheme: "file", Path: p}).String() }

// drawn is what the page says of one rendered chart.
type drawn struct {
	Chart  string  `json:"chart"`
	Width  float64 `json:"width"`
	Height float64 `json:"height"`
	Lines  []struct {
		Name   string  `json:"name"`
		Width  float64 `json:"width"`
		Height float64 `json:"height"`
	} `json:"lines"`
	Ticks  int `json:"ticks"`  // tick labels drawn with a size
	Labels int `json:"labels"` // all tick labels
}

const measureCharts = `JSON.stringify([...document.querySelectorAll('figure.chart')].map(f => {
  const svg = f.querySelector('svg'), r = svg.getBoundingClientRect();
  const labels = [...svg.querySelectorAll('.tick text')];
  return {
    chart: f.dataset.chart, width: r.width, height: r.height,
    lines: [...svg.querySelectorAll('polyline.series')].map(p => { const b = p.getBoundingClientRect(); return {name: p.dataset.name, width: b.width, height: b.height}; }),
    ticks: labels.filter(t => { const b = t.getBoundingClientRect(); return b.width > 0 && b.height > 0; }).length,
    labels: labels.length,
  };
}))`

// TestHTMLReportInChromium opens the HTML report in a real headless
// Chromium and checks that every chart renders: an SVG with a size, each
// line drawn with a size, every tick label laid out, and nothing on the
// console. It takes a screenshot of the page.
func TestHTMLReportInChromium(t *testing.T) {
	rep := chartReport()
	page := filepath.Join(t.TempDir(), "report.html")
	if _, err := rep.WriteReport(page); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, 1100, 900)
	b.do(t, "open the report", chromedp.Navigate(fileURL(page)),
		chromedp.Poll[chromedp.Void](`document.readyState === 'complete'`, chromedp.WithPollingTimeout(10*time.Second)))
	var charts []drawn
	b.evalJSON(t, measureCharts, &charts)
	want := rep.Charts()
	if len(charts) != len(want) {
		t.Fatalf("%d charts on the page, want %d", len(charts), len(want))
	}
	for i, c := range charts {
		if c.Chart != want[i].Name || c.Width < 300 || c.Height < 200 {
			t.Errorf("chart %d: %s drawn %.0f×%.0f, want %s at least 300×200", i, c.Chart, c.Width, c.Height, want[i].Name)
		}
		if len(c.Lines) != len(want[i].Chart.Lines) {
			t.Errorf("%s: %d lines drawn, want %d", c.Chart, len(c.Lines), len(want[i].Chart.Lines))
		}
		for _, l := range c.Lines {
			if l.Width <= 10 || l.Height <= 1 {
				t.Errorf("%s: line %q drawn %.1f×%.1f", c.Chart, l.Name, l.Width, l.Height)
			}
		}
		if c.Labels < 4 || c.Ticks != c.Labels {
			t.Errorf("%s: %d of %d tick labels laid out", c.Chart, c.Ticks, c.Labels)
		}
	}
	var cells int
	b.evalJSON(t, `String(document.querySelectorAll('#results tbody td').length)`, &cells)
	if cells != 4*12 {
		t.Errorf("the results table has %d cells, want 4 rows of 12", cells)
	}
	if errs := b.errors(); len(errs) > 0 {
		t.Errorf("the console says:\n%s", strings.Join(errs, "\n"))
	}
	b.screenshot(t, "bench-report.png")
}

// TestMarkdownChartsInChromium loads the Markdown report's SVG files the
// way a Git forge shows them, as images, in a real headless Chromium: each
// one must decode and have its size.
func TestMarkdownChartsInChromium(t *testing.T) {
	rep := chartReport()
	dir := t.TempDir()
	if _, err := rep.WriteReport(filepath.Join(dir, "results.md")); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	var imgs strings.Builder
	links := regexp.MustCompile(`!\[[^\]]*\]\(([^)]+)\)`).FindAllStringSubmatch(string(md), -1)
	for _, l := range links {
		fmt.Fprintf(&imgs, "<p><img src=%q alt=\"\"></p>\n", l[1])
	}
	page := filepath.Join(dir, "images.html")
	if err := os.WriteFile(page, []byte("<!doctype html><meta charset=utf-8><body>"+imgs.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, 900, 900)
	b.do(t, "open the images", chromedp.Navigate(fileURL(page)),
		chromedp.Poll[chromedp.Void](`[...document.images].every(i => i.complete)`, chromedp.WithPollingTimeout(10*time.Second)))
	var sizes []struct{ W, H float64 }
	b.evalJSON(t, `JSON.stringify([...document.images].map(i => ({w: i.naturalWidth, h: i.naturalHeight})))`, &sizes)
	if len(sizes) != len(rep.Charts()) {
		t.Fatalf("%d images, want %d", len(sizes), len(rep.Charts()))
	}
	for i, s := range sizes {
		if s.W != 760 || s.H < 300 {
			t.Errorf("image %s decoded as %.0f×%.0f, want 760 wide", links[i][1], s.W, s.H)
		}
	}
	if errs := b.errors(); len(errs) > 0 {
		t.Errorf("the console says:\n%s", strings.Join(errs, "\n"))
	}
}
