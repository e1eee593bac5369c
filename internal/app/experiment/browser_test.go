package experiment_test

import (
	"context"
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ordersaga/ordersaga/internal/app/bench"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
)

// measured is what Chromium lays out of an experiment's HTML report.
type measured struct {
	Charts []struct {
		Name          string  `json:"name"`
		Width         float64 `json:"w"`
		Height        float64 `json:"h"`
		Lines, Shades int
	} `json:"charts"`
	Tables int `json:"tables"`
}

const measure = `JSON.stringify({
  charts: [...document.querySelectorAll('figure.chart')].map(f => {
    const r = f.querySelector('svg').getBoundingClientRect();
    const drawn = [...f.querySelectorAll('polyline.series')].filter(p => { const b = p.getBBox(); return b.width > 1; });
    const shades = [...f.querySelectorAll('g.shade rect')].filter(s => s.getBBox().width > 1);
    return {name: f.dataset.chart, w: r.width, h: r.height, Lines: drawn.length, Shades: shades.length};
  }),
  tables: document.querySelectorAll('table.experiment').length,
})`

// openInChromium opens the HTML report of rep in headless Chromium and
// checks every chart is laid out with its lines, and the outage's shaded.
func openInChromium(t *testing.T, rep *bench.Report, html string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(testenv.Chromium(t, 1100, 900), 60*time.Second)
	defer cancel()
	u := url.URL{Scheme: "file", Path: html}
	if err := chromedp.Do(ctx, chromedp.Navigate(u.String()),
		chromedp.Poll[chromedp.Void](`document.readyState === 'complete'`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("open %s: %v", html, err)
	}
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](measure))
	if err != nil {
		t.Fatalf("open %s: %v", html, err)
	}
	var m measured
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("%v in %s", err, s)
	}
	want := rep.Charts()
	if len(m.Charts) != len(want) || m.Tables != len(rep.Sections) {
		t.Fatalf("%d charts and %d tables laid out, want %d and %d: %s", len(m.Charts), m.Tables, len(want), len(rep.Sections), s)
	}
	for i, c := range m.Charts {
		if c.Width < 300 || c.Height < 200 || c.Lines < len(want[i].Chart.Lines)-1 || c.Shades != len(want[i].Chart.Shades) {
			t.Errorf("chart %s: %.0f×%.0f, %d lines of %d, %d shades of %d", c.Name, c.Width, c.Height, c.Lines, len(want[i].Chart.Lines), c.Shades, len(want[i].Chart.Shades))
		}
	}
}
