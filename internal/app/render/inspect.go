package render

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/internal/app/admin"
	"github.com/ordersaga/ordersaga/internal/app/verify"
	"github.com/ordersaga/ordersaga/shop"
)

// StatusResult is one engine's answer of `starter status`.
type StatusResult struct {
	Result
	Found   bool    `json:"found"`
	Current shop.Op `json:"current,omitempty"`
}

// StatusResults turns a snapshot into one result per engine; uiURL gives
// the Temporal UI link of an order's workflow.
func StatusResults(s admin.Snapshot, uiURL func(orderID string) string) []StatusResult {
	var out []StatusResult
	for _, m := range s.Modes {
		r := StatusResult{Result: Result{Mode: m, OrderID: s.OrderID, Steps: []shop.Step{}, Compensated: []shop.Step{}, Why: s.Why[m]}}
		if p, ok := s.Found[m]; ok {
			r.Result = NewResult(m, s.OrderID, uiURL)
			r.set(p.Outcome)
			r.Found, r.Current, r.Why = true, p.Current, s.Why[m]
		}
		out = append(out, r)
	}
	return out
}

// Status renders status results as the table `starter status` prints.
func Status(results []StatusResult) string {
	var b strings.Builder
	tw := Table(&b)
	fmt.Fprintln(tw, "MODE\tSTATUS\tNOW RUNNING\tSTEPS DONE\tCOMPENSATED\t")
	for _, r := range results {
		if !r.Found {
			fmt.Fprintf(tw, "%s\tnot found\t\t\t\t\n", r.Mode)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", r.Mode, r.Status, Dash(string(r.Current)), Steps(r.Steps), Steps(r.Compensated))
	}
	_ = tw.Flush()
	for _, r := range results {
		if r.Reason != "" {
			b.WriteString(r.ReasonLine() + "\n")
		}
		for _, why := range r.Why {
			fmt.Fprintf(&b, "%s: why: %s\n", r.Mode, why)
		}
		if r.UIURL != "" {
			fmt.Fprintf(&b, "Temporal UI: %s\n", r.UIURL)
		}
	}
	return b.String()
}

// StatusKey is what status results say but for their reasons' wording,
// which counts the time: off a terminal, a new version is shown only when
// the key changes.
func StatusKey(results []StatusResult) string {
	key := ""
	for _, r := range results {
		key += fmt.Sprintf("%s %s %s %v %v %d;", r.Mode, r.Status, r.Current, r.Steps, r.Compensated, len(r.Why))
	}
	return key
}

// HistoryResult is one engine's answer of `starter history`.
type HistoryResult struct {
	Mode    shop.Mode    `json:"mode"`
	OrderID string       `json:"order_id"`
	Found   bool         `json:"found"`
	Events  []shop.Event `json:"events"`
}

// HistoryResults is one result per engine of modes, found when the
// engine is in found (its events the order's timeline there).
func HistoryResults(modes []shop.Mode, orderID string, found map[shop.Mode][]shop.Event) []HistoryResult {
	var out []HistoryResult
	for _, m := range modes {
		evs, ok := found[m]
		out = append(out, HistoryResult{Mode: m, OrderID: orderID, Found: ok, Events: NonNil(evs)})
	}
	return out
}

// History prints each engine's timeline of the order as a table.
func History(w io.Writer, results []HistoryResult) {
	for i, r := range results {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s — order %s\n", r.Mode, r.OrderID)
		if !r.Found {
			fmt.Fprintln(w, "  not found")
			continue
		}
		tw := Table(w)
		fmt.Fprintln(tw, "  "+strings.Join(timelineHeader, "\t")+"\t")
		for _, e := range r.Events {
			fmt.Fprintln(tw, "  "+strings.Join(timelineRow(e, r.Events[0].Time), "\t")+"\t")
		}
		_ = tw.Flush()
	}
}

var timelineHeader = []string{"AT", "TIME", "EVENT", "STEP", "RESULT", "TOOK", "BY", "DETAIL"}

// timelineRow renders an entry: offset from the first, wall time, what
// happened, the operation and its result, how long it took, who did it.
func timelineRow(e shop.Event, first time.Time) []string {
	took := "-"
	if e.Duration > 0 {
		took = Duration(e.Duration)
	}
	return []string{"+" + Duration(e.Time.Sub(first)), e.Time.Local().Format("15:04:05.000"),
		e.Name, Dash(string(e.Op)), Dash(e.Result), took, Dash(e.Source), Truncate(e.Detail, 70)}
}

// Follower prints timeline entries of several engines as they come, one
// line each, in fixed columns with the engine first.
type Follower struct {
	W     io.Writer
	first map[shop.Mode]time.Time
}

const followFormat = "%-13s  %-9s  %-12s  %-26s  %-8s  %-6s  %-8s  %-9s  %s\n"

// Header prints the column names.
func (f *Follower) Header() {
	fmt.Fprintf(f.W, followFormat, anys(append([]string{"MODE"}, timelineHeader...))...)
}

// Line prints one entry of engine m.
func (f *Follower) Line(m shop.Mode, e shop.Event) {
	if f.first == nil {
		f.first = map[shop.Mode]time.Time{}
	}
	if _, ok := f.first[m]; !ok {
		f.first[m] = e.Time
	}
	fmt.Fprintf(f.W, followFormat, anys(append([]string{string(m)}, timelineRow(e, f.first[m])...))...)
}

func anys(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// Verify prints one line per engine's report and each of its violations.
func Verify(w io.Writer, reports []verify.Report) {
	for _, r := range reports {
		verdict := "OK"
		if !r.OK() {
			verdict = fmt.Sprintf("%d violation(s)", len(r.Violations))
		}
		settled := ""
		if r.Settled > 0 {
			settled = fmt.Sprintf(", %d of them settled", r.Settled)
		}
		fmt.Fprintf(w, "%s: %d orders (%s%s), %d histories checked: %s\n", r.Mode, r.Orders, statusCounts(r.Statuses), settled, r.Histories, verdict)
		for _, v := range r.Violations {
			fmt.Fprintf(w, "  - %s\n", v)
		}
	}
}

func statusCounts(m map[shop.Status]int) string {
	var parts []string
	for _, s := range []shop.Status{shop.StatusCompleted, shop.StatusCompensated, shop.StatusFailed, shop.StatusPending} {
		if m[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", m[s], s))
		}
	}
	for s, n := range m {
		if !s.Terminal() && s != shop.StatusPending && n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, s))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// StockRow is one SKU of `starter stock --json`.
type StockRow struct {
	SKU     string              `json:"sku"`
	Name    string              `json:"name"`
	Price   int64               `json:"price_cents"`
	Initial int64               `json:"initial"`
	Stock   map[shop.Mode]int64 `json:"available"`
}

// StockRows lists the catalog with each engine's available stock.
func StockRows(catalog shop.Catalog, modes []shop.Mode, levels map[shop.Mode]map[string]int64) []StockRow {
	var rows []StockRow
	for _, sku := range catalog.SKUs() {
		p := catalog[sku]
		r := StockRow{SKU: sku, Name: p.Name, Price: p.PriceCents, Initial: p.InitialStock, Stock: map[shop.Mode]int64{}}
		for _, m := range modes {
			r.Stock[m] = levels[m][sku]
		}
		rows = append(rows, r)
	}
	return rows
}

// Stock prints the rows as a right-aligned table, one column per engine.
func Stock(w io.Writer, modes []shop.Mode, rows []StockRow) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "SKU\tPRICE\tINITIAL\t"
	for _, m := range modes {
		head += strings.ToUpper(string(m)) + "\t"
	}
	fmt.Fprintln(tw, head)
	for _, r := range rows {
		line := fmt.Sprintf("%s\t%d.%02d\t%d\t", r.SKU, r.Price/100, r.Price%100, r.Initial)
		for _, m := range modes {
			line += fmt.Sprintf("%d\t", r.Stock[m])
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}

// NotificationRow is one notification sent by one engine.
type NotificationRow struct {
	Mode shop.Mode `json:"mode"`
	activities.Notification
}

// NotificationRows lists the notifications of every mode, mode by mode.
func NotificationRows(modes []shop.Mode, sent map[shop.Mode][]activities.Notification) []NotificationRow {
	rows := []NotificationRow{}
	for _, m := range modes {
		for _, n := range sent[m] {
			rows = append(rows, NotificationRow{Mode: m, Notification: n})
		}
	}
	return rows
}

// Notifications prints a table of the notifications sent, per engine.
func Notifications(w io.Writer, rows []NotificationRow) error {
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, "no notifications")
		return err
	}
	tw := Table(w)
	fmt.Fprintln(tw, "ENGINE	WHEN	ORDER	STATUS	FAILED STEP	REASON	")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s	%s	%s	%s	%s	%s	\n", r.Mode, r.Time.Local().Format("15:04:05"), r.OrderID, r.Status,
			Dash(string(r.FailedStep)), Dash(Truncate(r.Reason, 80)))
	}
	return tw.Flush()
}

// DeadLetters prints the count of dead-lettered entries, then a table of dl.
func DeadLetters(w io.Writer, total int64, stream string, dl []choreography.DeadLetter) error {
	fmt.Fprintf(w, "%d dead-lettered entries in %s\n", total, stream)
	if len(dl) == 0 {
		return nil
	}
	tw := Table(w)
	fmt.Fprintln(tw, "ID\tWHEN\tFROM\tGROUP\tTYPE\tDELIVERIES\tREASON\t")
	for _, d := range dl {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t\n", d.ID, d.Time.Local().Format("15:04:05"), d.Stream, d.Group,
			Dash(d.Type), d.Deliveries, Truncate(d.Reason, 80))
	}
	return tw.Flush()
}

// Redriven says which dead-lettered entries went back to their stream, then how many.
func Redriven(w io.Writer, done []choreography.DeadLetter) {
	for _, d := range done {
		fmt.Fprintf(w, "redrove %s (%s) back to %s\n", d.ID, Dash(d.Type), d.Stream)
	}
	fmt.Fprintf(w, "%d entries redriven\n", len(done))
}
