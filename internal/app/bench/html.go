package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ordersaga/ordersaga/shop"
)

// WriteReport writes the report to path in the format its extension names:
// .html or .htm is one self-contained page with the charts inline, .json is
// the document `bench --json` prints, and anything else is Markdown with
// each chart as an SVG file next to it, named after the report
// (results.md: results-latency-orchestration.svg, …), which a Git forge
// shows as images. It returns the files it wrote, the report first.
func (r *Report) WriteReport(path string) ([]string, error) {
	var buf bytes.Buffer
	var images []ChartImage
	switch strings.ToLower(filepath.Ext(path)) {
	case ".html", ".htm":
		if err := r.WriteHTML(&buf); err != nil {
			return nil, err
		}
	case ".json":
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return nil, fmt.Errorf("encode report: %w", err)
		}
		buf.Write(append(b, '\n'))
	default:
		stem := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
		for _, c := range r.Charts() {
			images = append(images, ChartImage{ReportChart: c, File: stem + "-" + c.Name + ".svg"})
		}
		if err := r.writeMarkdown(&buf, images); err != nil {
			return nil, err
		}
	}
	written := []string{path}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return nil, fmt.Errorf("write report: %w", err)
	}
	for _, img := range images {
		p := filepath.Join(filepath.Dir(path), img.File)
		if err := os.WriteFile(p, []byte(img.Chart.SVG()), 0o644); err != nil {
			return written, fmt.Errorf("write chart: %w", err)
		}
		written = append(written, p)
	}
	return written, nil
}

// htmlPage is what the HTML report's template reads.
type htmlPage struct {
	Title, Date, Command, Workload, Stack, Notes string
	Extra                                        []Section
	Header                                       []string
	Rows                                         [][]string
	Ratios                                       []string
	Verdicts                                     []htmlVerdict
	Sections                                     []htmlSection
	Machine                                      []string
}

type htmlVerdict struct {
	Text   string
	Detail bool // a violation under its engine's line
}

type htmlSection struct {
	Mode   shop.Mode
	Head   string
	Charts []htmlChart
}

type htmlChart struct {
	Name string
	// SVG is the chart as Chart.SVG draws it: every text in it escaped.
	SVG template.HTML
}

// WriteHTML writes the report as one HTML page that needs nothing else: the
// tables of the Markdown report and its charts as inline SVG.
func (r *Report) WriteHTML(w io.Writer) error {
	p := htmlPage{
		Title: r.title(), Date: r.Date.UTC().Format("2006-01-02 15:04:05 UTC"), Command: r.Command, Extra: r.Sections,
		Workload: strings.ReplaceAll(r.workloadText(), "`", ""), Stack: r.Machine.StackText(), Notes: r.notes(),
		Header: tableHeader, Ratios: append(r.RatioLines(), r.RedisLines()...), Machine: r.machineLines(),
	}
	for _, rw := range r.rows() {
		p.Rows = append(p.Rows, rw.cells())
	}
	for _, l := range r.verdicts() {
		p.Verdicts = append(p.Verdicts, htmlVerdict{Text: strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "- ")), Detail: strings.HasPrefix(l, "  ")})
	}
	for _, c := range r.Charts() {
		if len(p.Sections) == 0 || p.Sections[len(p.Sections)-1].Mode != c.Mode {
			p.Sections = append(p.Sections, htmlSection{Mode: c.Mode, Head: modeHeading(c.Mode)})
		}
		s := &p.Sections[len(p.Sections)-1]
		s.Charts = append(s.Charts, htmlChart{Name: c.Name, SVG: template.HTML(c.Chart.SVG())}) // drawn by Chart.SVG, which escapes every text
	}
	if err := htmlReport.Execute(w, p); err != nil {
		return fmt.Errorf("write HTML report: %w", err)
	}
	return nil
}

var htmlReport = template.Must(template.New("report").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}, {{.Date}}</title>
<style>
body { margin: 0; background: #f6f7f9; color: #1b1f24; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
main { max-width: 1080px; margin: 0 auto; padding: 24px 20px 48px; }
h1 { margin: 0 0 4px; font-size: 26px; }
h2 { margin-top: 36px; border-bottom: 1px solid #d8dde3; padding-bottom: 4px; }
pre { background: #fff; border: 1px solid #d8dde3; border-radius: 6px; padding: 10px 12px; white-space: pre-wrap; overflow-wrap: anywhere; }
.meta, .stack, .notes { color: #444c56; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; background: #fff; font-size: 12.5px; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #d8dde3; padding: 4px 6px; white-space: nowrap; }
th { background: #eef1f4; text-align: left; font-size: 11px; }
td { text-align: right; }
td:first-child, td:last-child { text-align: left; }
td:first-child { white-space: normal; min-width: 12em; }
li.detail { list-style: circle; margin-left: 20px; color: #a40e26; }
figure { margin: 16px 0; background: #fff; border: 1px solid #d8dde3; border-radius: 6px; padding: 8px; }
figure svg { display: block; margin: 0 auto; max-width: 100%; height: auto; }
</style>
</head>
<body>
<main>
<h1>{{.Title}}</h1>
<p class="meta">{{.Date}}</p>
<pre><code>{{.Command}}</code></pre>
<p>Workload: {{.Workload}}</p>
<p class="stack">Measured on: {{.Stack}}.</p>
<h2>Results</h2>
<div class="table-wrap"><table id="results">
<thead><tr>{{range .Header}}<th>{{.}}</th>{{end}}</tr></thead>
<tbody>{{range .Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</tbody>
</table></div>
<p class="notes">{{.Notes}}</p>
{{if .Ratios}}<h3>Against the bare engines (same run, same servers, same N and concurrency)</h3>
<ul>{{range .Ratios}}<li>{{.}}</li>{{end}}</ul>{{end}}
<h3>Verdict</h3>
<ul id="verdict">{{range .Verdicts}}<li{{if .Detail}} class="detail"{{end}}>{{.Text}}</li>{{end}}</ul>
{{range .Extra}}<h2>{{.Title}}</h2>
{{range .Text}}<p>{{.}}</p>
{{end}}{{if .Header}}<div class="table-wrap"><table class="experiment">
<thead><tr>{{range .Header}}<th>{{.}}</th>{{end}}</tr></thead>
<tbody>{{range .Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</tbody>
</table></div>{{end}}
{{end}}<h2>Charts</h2>
<p>Each chart's caption names the workload and the stack it was measured on.</p>
{{range .Sections}}<section class="engine" data-mode="{{.Mode}}">
<h3>{{.Head}}</h3>
{{range .Charts}}<figure class="chart" data-chart="{{.Name}}">
{{.SVG}}</figure>
{{end}}</section>
{{end}}<h2>Machine</h2>
<ul>{{range .Machine}}<li>{{.}}</li>{{end}}</ul>
</main>
</body>
</html>
`))
