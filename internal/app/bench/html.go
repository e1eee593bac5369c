package bench

import (
	"bytes"
	_ "embed"
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

// reportPage is the HTML report's template.
//
//go:embed assets/report.html
var reportPage string

var htmlReport = template.Must(template.New("report").Parse(reportPage))
