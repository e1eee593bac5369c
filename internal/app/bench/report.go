package bench

import (
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ordersaga/ordersaga/shop"
)

// Result is one saga engine's measurement and verdict.
type Result struct {
	Mode shop.Mode `json:"mode"`
	Stats
	Statuses map[shop.Status]int `json:"statuses"`
	// ExpectedStatuses is what the workload's fault plans lead to (see Expected).
	ExpectedStatuses map[shop.Status]int `json:"expected_statuses"`
	// Retries is the sum over orders of participant attempts beyond the
	// first, for operations with a transient fault.
	Retries int64 `json:"retries"`
	// InvariantsOK is true when verify found no violation other than the
	// FAILED orders the workload planned, and saw every order placed.
	InvariantsOK bool     `json:"invariants_ok"`
	Violations   []string `json:"violations"`
	// PlannedFailed is how many FAILED orders verify reported that the
	// workload planned (a declined compensation); they are not violations here.
	PlannedFailed int `json:"planned_failed"`
}

// invariants says ok when the invariants held, else how many broke (bad
// formats the count).
func (res Result) invariants(ok, bad string) string {
	if res.InvariantsOK {
		return ok
	}
	return fmt.Sprintf(bad, len(res.Violations))
}

// invariantsCell is the INVARIANTS cell of the results table.
func (res Result) invariantsCell() string {
	cell := res.invariants("OK", "%d violation(s)")
	if res.Errors > 0 {
		cell += fmt.Sprintf(", %d error(s)", res.Errors)
	}
	return cell
}

// verdict is the closing line of one engine.
func (res Result) verdict() string {
	v := res.invariants("invariants hold", "%d invariant violation(s)")
	if res.PlannedFailed > 0 {
		v += fmt.Sprintf(" (%d FAILED order(s) planned by the workload accepted)", res.PlannedFailed)
	}
	if res.Errors > 0 {
		v += fmt.Sprintf("; %d order(s) not finished: %s", res.Errors, res.FirstError)
	}
	return fmt.Sprintf("%s: %s", res.Mode, v)
}

// BaselineResult is one bare engine's measurement, with the saga engine's
// numbers divided by it.
type BaselineResult struct {
	Name string `json:"name"`
	Stats
	// ThroughputRatio is the saga engine's throughput over the bare one's.
	ThroughputRatio float64 `json:"throughput_ratio"`
	// P50Ratio is the saga engine's median latency over the bare one's.
	P50Ratio float64 `json:"p50_ratio"`
	// P99Ratio is the saga engine's p99 latency over the bare one's.
	P99Ratio float64 `json:"p99_ratio"`
	// RedisCPURatio is the saga engine's Redis CPU per saga over the bare
	// one's, when both were sampled and the bare one used some.
	RedisCPURatio float64 `json:"redis_cpu_ratio,omitempty"`
}

// SetRatios fills the ratios of b from the saga engine's stats.
func (b *BaselineResult) SetRatios(ours Stats) {
	b.ThroughputRatio = ratio(ours.Throughput, b.Throughput)
	b.P50Ratio = ratio(ours.P50, b.P50)
	b.P99Ratio = ratio(ours.P99, b.P99)
	if ours.RedisCPU != nil && b.RedisCPU != nil {
		b.RedisCPURatio = ratio(ours.RedisCPU.PerSaga, b.RedisCPU.PerSaga)
	}
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// Machine describes where the run happened: the machine and the servers
// measured, as StackText says them in one line.
type Machine struct {
	// Stack is what the run was told of the stack (bench --stack), e.g. "make up".
	Stack    string `json:"stack,omitempty"`
	CPUs     int    `json:"cpus"`
	CPUModel string `json:"cpu_model,omitempty"`
	OS       string `json:"os"`
	Arch     string `json:"arch"`
	// GoVersion is the Go the starter was built with.
	GoVersion    string `json:"go_version"`
	RedisVersion string `json:"redis_version,omitempty"`
	// RedisPersistence says how Redis keeps its data (append-only file, snapshots).
	RedisPersistence string `json:"redis_persistence,omitempty"`
	TemporalVersion  string `json:"temporal_version,omitempty"`
	// TemporalVersionFrom says where TemporalVersion comes from.
	TemporalVersionFrom string `json:"temporal_version_from,omitempty"`
	// TemporalPersistence is the server's persistence store (e.g. sqlite).
	TemporalPersistence string `json:"temporal_persistence,omitempty"`
	TemporalShards      int    `json:"temporal_history_shards,omitempty"`
	TemporalSDK         string `json:"temporal_sdk,omitempty"`
	// LoadAverage is /proc/loadavg when the run started, where there is one.
	LoadAverage string `json:"load_average,omitempty"`
}

// Report is a whole bench run: what `starter bench --json` prints. An
// experiment (internal/app/experiment) writes its report through it too,
// with a title, its own sections and charts.
type Report struct {
	// Title heads the report ("ordersaga bench" when empty).
	Title       string     `json:"title,omitempty"`
	Command     string     `json:"command"`
	Date        time.Time  `json:"date"`
	Seed        uint64     `json:"seed"`
	Orders      int        `json:"orders"`
	Concurrency int        `json:"concurrency"`
	Faults      string     `json:"faults"`
	Results     []Result   `json:"results"`
	Baseline    *Baselines `json:"baseline,omitempty"`
	// OutcomesMatch is set when both engines ran: whether their status
	// counts are the same.
	OutcomesMatch *bool   `json:"outcomes_match,omitempty"`
	OK            bool    `json:"ok"`
	Machine       Machine `json:"machine"`
	// WorkloadText, when set, says what the workload was instead of the
	// bench's orders-in-flight sentence; Notes replaces the bench's notes
	// under the results table.
	WorkloadText string `json:"workload_text,omitempty"`
	Notes        string `json:"notes,omitempty"`
	// Sections are tables and paragraphs of an experiment, after the results.
	Sections []Section `json:"sections,omitempty"`
	// Extra are charts drawn before the per-engine ones (an experiment's).
	Extra []ReportChart `json:"-"`
	// Data is an experiment's measurements, as they are, for the JSON report.
	Data any `json:"data,omitempty"`
}

// Section is a part of a report after its results: a heading, paragraphs
// and a table.
type Section struct {
	Title  string     `json:"title"`
	Text   []string   `json:"text,omitempty"`
	Header []string   `json:"header,omitempty"`
	Rows   [][]string `json:"rows,omitempty"`
}

// title is the report's heading.
func (r *Report) title() string {
	if r.Title == "" {
		return "ordersaga bench"
	}
	return r.Title
}

// notes explains the results table.
func (r *Report) notes() string {
	if r.Notes == "" {
		return notes
	}
	return r.Notes
}

// SectionsMarkdown is the report's sections as Markdown, each headed at
// level depth (2: "##").
func (r *Report) SectionsMarkdown(depth int) string {
	var b strings.Builder
	r.writeSections(&b)
	return strings.ReplaceAll(b.String(), "\n## ", "\n"+strings.Repeat("#", depth)+" ")
}

// writeSections writes the sections as Markdown.
func (r *Report) writeSections(b *strings.Builder) {
	for _, sec := range r.Sections {
		fmt.Fprintf(b, "\n## %s\n\n", sec.Title)
		for _, t := range sec.Text {
			fmt.Fprintf(b, "%s\n\n", t)
		}
		if len(sec.Header) == 0 {
			continue
		}
		fmt.Fprintf(b, "| %s |\n", strings.Join(sec.Header, " | "))
		aligns := make([]string, len(sec.Header))
		for i := range aligns {
			aligns[i] = "---"
		}
		fmt.Fprintf(b, "| %s |\n", strings.Join(aligns, " | "))
		for _, row := range sec.Rows {
			fmt.Fprintf(b, "| %s |\n", strings.Join(row, " | "))
		}
	}
}

// Baselines holds the bare engines measured, each next to the saga engine it
// is the bare form of.
type Baselines struct {
	Orchestration *BaselineResult `json:"orchestration,omitempty"`
	Choreography  *BaselineResult `json:"choreography,omitempty"`
}

// For returns the baseline of a mode, or nil.
func (b *Baselines) For(m shop.Mode) *BaselineResult {
	if b == nil {
		return nil
	}
	switch m {
	case shop.ModeOrchestration:
		return b.Orchestration
	case shop.ModeChoreography:
		return b.Choreography
	}
	return nil
}

// statusOrder is the order statuses are shown in.
var statusOrder = []shop.Status{shop.StatusCompleted, shop.StatusCompensated, shop.StatusFailed}

// row is one line of the results table.
type row struct {
	engine, throughput, p50, p90, p99, max string
	statuses                               []string
	retries, invariants                    string
}

func (r *Report) rows() []row {
	var out []row
	for _, res := range r.Results {
		inv := res.invariantsCell()
		st := make([]string, 0, len(statusOrder)+1)
		for _, s := range statusOrder {
			st = append(st, fmt.Sprint(res.Statuses[s]))
		}
		st = append(st, otherStatuses(res.Statuses))
		out = append(out, row{
			engine: string(res.Mode), throughput: fmt.Sprintf("%.1f", res.Throughput),
			p50: msText(res.P50), p90: msText(res.P90), p99: msText(res.P99), max: msText(res.Max),
			statuses: st, retries: fmt.Sprint(res.Retries), invariants: inv,
		})
	}
	for _, m := range shop.Modes {
		b := r.Baseline.For(m)
		if b == nil {
			continue
		}
		errs := "-"
		if b.Errors > 0 {
			errs = fmt.Sprintf("%d error(s)", b.Errors)
		}
		out = append(out, row{
			engine: b.Name, throughput: fmt.Sprintf("%.1f", b.Throughput),
			p50: msText(b.P50), p90: msText(b.P90), p99: msText(b.P99), max: msText(b.Max),
			statuses: []string{fmt.Sprint(b.Orders - b.Errors), "-", "-", "-"}, retries: "-", invariants: errs,
		})
	}
	return out
}

var tableHeader = []string{"ENGINE", "SAGAS/S", "P50", "P90", "P99", "MAX", "COMPLETED", "COMPENSATED", "FAILED", "OTHER", "RETRIES", "INVARIANTS"}

func (rw row) cells() []string {
	c := []string{rw.engine, rw.throughput, rw.p50, rw.p90, rw.p99, rw.max}
	c = append(c, rw.statuses...)
	return append(c, rw.retries, rw.invariants)
}

func otherStatuses(m map[shop.Status]int) string {
	var parts []string
	for s, n := range m {
		if !slices.Contains(statusOrder, s) && n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, s))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

func msText(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.2fs", v/1000)
	case v >= 100:
		return fmt.Sprintf("%.0fms", v)
	case v >= 10:
		return fmt.Sprintf("%.1fms", v)
	}
	return fmt.Sprintf("%.2fms", v)
}

// RatioLines says, per saga engine with a baseline, how it compares with
// its bare engine.
func (r *Report) RatioLines() []string {
	var out []string
	for _, res := range r.Results {
		b := r.Baseline.For(res.Mode)
		if b == nil {
			continue
		}
		line := fmt.Sprintf("%s vs %s: throughput %.2f× (%.0f%% of bare), p50 %.2f× (%s vs %s), p99 %.2f× (%s vs %s)",
			res.Mode, b.Name, b.ThroughputRatio, 100*b.ThroughputRatio, b.P50Ratio, msText(res.P50), msText(b.P50),
			b.P99Ratio, msText(res.P99), msText(b.P99))
		if b.RedisCPURatio > 0 {
			line += fmt.Sprintf(", Redis CPU per saga %.2f× (%.0fµs vs %.0fµs)", b.RedisCPURatio, res.RedisCPU.PerSaga, b.RedisCPU.PerSaga)
		}
		out = append(out, line)
	}
	return out
}

// RedisLines say, per engine measured with Redis sampled, Redis's CPU time
// per saga and the costliest commands (calls and µs per saga).
func (r *Report) RedisLines() []string {
	var out []string
	add := func(name string, c *RedisCPU) {
		if c != nil && len(c.Commands) > 0 {
			out = append(out, fmt.Sprintf("%s: Redis CPU %.0fµs per saga; per saga: %s", name, c.PerSaga, c.topText(8)))
		}
	}
	for _, res := range r.Results {
		add(string(res.Mode), res.RedisCPU)
	}
	for _, m := range shop.Modes {
		if b := r.Baseline.For(m); b != nil {
			add(b.Name, b.RedisCPU)
		}
	}
	return out
}

// WriteText writes the results table and verdicts for a terminal.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(tableHeader, "\t")+"\t")
	for _, rw := range r.rows() {
		fmt.Fprintln(tw, strings.Join(rw.cells(), "\t")+"\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, lines := range [][]string{r.RatioLines(), r.RedisLines()} {
		if len(lines) > 0 {
			fmt.Fprintln(w)
			for _, l := range lines {
				fmt.Fprintln(w, l)
			}
		}
	}
	if err := r.writeSectionsText(w); err != nil {
		return err
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "measured on: %s\n", r.Machine.StackText())
	for _, l := range r.verdicts() {
		fmt.Fprintln(w, l)
	}
	return nil
}

// writeSectionsText writes the sections' tables for a terminal.
func (r *Report) writeSectionsText(w io.Writer) error {
	for _, sec := range r.Sections {
		if len(sec.Header) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s:\n", sec.Title)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, strings.Join(sec.Header, "\t")+"\t")
		for _, row := range sec.Rows {
			fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// verdicts are the closing lines: invariants per engine and the agreement.
func (r *Report) verdicts() []string {
	var out []string
	for _, res := range r.Results {
		out = append(out, res.verdict())
		for i, vl := range res.Violations {
			if i == 20 {
				out = append(out, fmt.Sprintf("  … and %d more", len(res.Violations)-i))
				break
			}
			out = append(out, "  - "+vl)
		}
	}
	if r.OutcomesMatch != nil {
		if *r.OutcomesMatch {
			out = append(out, "outcomes: both engines agree ("+CountsText(r.Results[0].Statuses)+")")
		} else {
			var parts []string
			for _, res := range r.Results {
				parts = append(parts, fmt.Sprintf("%s %s", res.Mode, CountsText(res.Statuses)))
			}
			out = append(out, "outcomes DIFFER for the same seed: "+strings.Join(parts, "; "))
		}
	}
	return out
}

// CountsText says how many orders ended in each status, e.g. "9 COMPLETED, 1 COMPENSATED".
func CountsText(m map[shop.Status]int) string {
	var parts []string
	for _, s := range statusOrder {
		if m[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", m[s], s))
		}
	}
	if o := otherStatuses(m); o != "-" {
		parts = append(parts, o)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// notes explains the results table.
const notes = "SAGAS/S is orders over the wall time from the first placement to the last terminal status; latencies are from placement to terminal status (HDR histogram, 3 significant digits). " +
	"RETRIES sums the participant attempts beyond the first caused by transient faults. " +
	"FAILED orders that the workload planned (a declined compensation after a declined step) are expected and not counted as violations. " +
	"The engines ran one after the other, each right after a reset of its state; a bare engine ran half of its units just before its saga engine and half just after, " +
	"so that a server slowing down as work accumulates weighs on both alike."

// workloadText says what the workload was.
func (r *Report) workloadText() string {
	if r.WorkloadText != "" {
		return r.WorkloadText
	}
	return fmt.Sprintf("%d orders (seed %d), %d in flight, faults `%s`; every order has 1–%d distinct SKUs (the scarce %q excluded) with quantities 1–%d.",
		r.Orders, r.Seed, r.Concurrency, r.Faults, MaxItems, ScarceSKU, MaxQuantity)
}

// ChartImage is a chart written as an image file next to a Markdown report.
type ChartImage struct {
	ReportChart
	// File is the image's file name, relative to the report.
	File string
}

// WriteMarkdown writes the report as a Markdown document without charts;
// WriteReport writes it with them.
func (r *Report) WriteMarkdown(w io.Writer) error { return r.writeMarkdown(w, nil) }

// writeMarkdown writes the report as Markdown, with the charts as images.
func (r *Report) writeMarkdown(w io.Writer, charts []ChartImage) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", r.title())
	fmt.Fprintf(&b, "Date: %s\n\n", r.Date.UTC().Format("2006-01-02 15:04:05 UTC"))
	fmt.Fprintf(&b, "Command:\n\n```\n%s\n```\n\n", r.Command)
	fmt.Fprintf(&b, "Workload: %s\n\n", r.workloadText())
	fmt.Fprintf(&b, "Measured on: %s.\n\n", r.Machine.StackText())
	fmt.Fprintf(&b, "## Results\n\n")
	fmt.Fprintf(&b, "| %s |\n", strings.Join(tableHeader, " | "))
	aligns := make([]string, len(tableHeader))
	for i := range aligns {
		aligns[i] = "---:"
	}
	aligns[0], aligns[len(aligns)-1] = "---", "---"
	fmt.Fprintf(&b, "| %s |\n", strings.Join(aligns, " | "))
	for _, rw := range r.rows() {
		fmt.Fprintf(&b, "| %s |\n", strings.Join(rw.cells(), " | "))
	}
	b.WriteString("\n" + r.notes() + "\n")
	if lines := r.RatioLines(); len(lines) > 0 {
		b.WriteString("\n### Against the bare engines (same run, same servers, same N and concurrency)\n\n")
		for _, l := range lines {
			fmt.Fprintf(&b, "- %s\n", l)
		}
	}
	if lines := r.RedisLines(); len(lines) > 0 {
		b.WriteString("\n### Redis CPU per saga (INFO cpu and commandstats, every master, over each run)\n\n")
		for _, l := range lines {
			fmt.Fprintf(&b, "- %s\n", l)
		}
		b.WriteString("\nA command a script runs counts in its own row and in the script's (evalsha).\n")
	}
	b.WriteString("\n### Verdict\n\n")
	for _, l := range r.verdicts() {
		if strings.HasPrefix(l, "  ") {
			fmt.Fprintf(&b, "  %s\n", strings.TrimSpace(l))
			continue
		}
		fmt.Fprintf(&b, "- %s\n", l)
	}
	r.writeSections(&b)
	writeMarkdownCharts(&b, charts)
	b.WriteString("\n## Machine\n\n")
	for _, l := range r.machineLines() {
		fmt.Fprintf(&b, "- %s\n", l)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeMarkdownCharts links the chart images, one section per saga engine.
func writeMarkdownCharts(b *strings.Builder, charts []ChartImage) {
	if len(charts) == 0 {
		return
	}
	b.WriteString("\n## Charts\n\nEach chart's caption names the workload and the stack it was measured on.\n")
	mode := shop.Mode("-")
	for _, c := range charts {
		if c.Mode != mode {
			mode = c.Mode
			fmt.Fprintf(b, "\n### %s\n", modeHeading(mode))
		}
		alt := strings.NewReplacer("[", "(", "]", ")").Replace(c.Chart.Title)
		fmt.Fprintf(b, "\n![%s](%s)\n", alt, url.PathEscape(c.File))
	}
}

// modeHeading heads the charts of a mode; "" is both engines.
func modeHeading(m shop.Mode) string {
	if m == "" {
		return "both engines"
	}
	return string(m)
}

// machineLines describe the machine and the servers, one fact a line.
func (r *Report) machineLines() []string {
	m := r.Machine
	var out []string
	if m.Stack != "" {
		out = append(out, "Stack: "+m.Stack)
	}
	cpu := fmt.Sprintf("CPUs: %d (runtime.NumCPU), %s/%s", m.CPUs, m.OS, m.Arch)
	if m.CPUModel != "" {
		cpu += ", " + m.CPUModel
	}
	out = append(out, cpu, "Go: "+m.GoVersion)
	if m.RedisVersion != "" {
		out = append(out, fmt.Sprintf("Redis: %s (INFO server)", m.RedisVersion))
	}
	if m.RedisPersistence != "" {
		out = append(out, "Redis persistence: "+m.RedisPersistence)
	}
	if m.TemporalVersion != "" {
		out = append(out, fmt.Sprintf("Temporal server: %s (%s)", m.TemporalVersion, m.TemporalVersionFrom))
	}
	if m.TemporalPersistence != "" {
		p := "Temporal persistence: " + m.TemporalPersistence
		if m.TemporalShards > 0 {
			p += ", " + shardsText(m.TemporalShards)
		}
		out = append(out, p)
	}
	if m.TemporalSDK != "" {
		out = append(out, "Temporal Go SDK: "+m.TemporalSDK)
	}
	if m.LoadAverage != "" {
		out = append(out, "Load average at the start (/proc/loadavg): "+m.LoadAverage)
	}
	return out
}
