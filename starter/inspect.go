package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/internal/verify"
	"github.com/ordersaga/ordersaga/shop"
)

// orderArg reads the single ORDER_ID argument of status and history.
func orderArg(cmd string, pos []string) (string, error) {
	if len(pos) == 0 {
		return "", usagef("%s needs an ORDER_ID (see 'starter %s --help')", cmd, cmd)
	}
	if len(pos) > 1 {
		return "", usagef("%s takes one ORDER_ID, got %d arguments", cmd, len(pos))
	}
	if !shop.ValidOrderID(pos[0]) {
		return "", usagef("%q is not an order ID", pos[0])
	}
	return pos[0], nil
}

type statusResult struct {
	Mode        shop.Mode   `json:"mode"`
	OrderID     string      `json:"order_id"`
	Found       bool        `json:"found"`
	Status      shop.Status `json:"status,omitempty"`
	Current     shop.Op     `json:"current,omitempty"`
	Steps       []shop.Step `json:"steps"`
	Compensated []shop.Step `json:"compensated"`
	FailedStep  shop.Step   `json:"failed_step,omitempty"`
	Reason      string      `json:"reason,omitempty"`
	UIURL       string      `json:"ui_url,omitempty"`
}

// lookup is what status and history share: parse ORDER_ID [--mode M]
// [--json], open the engines and ask each one about the order. An engine
// that does not know the order is left out of found; none knowing it is an
// error.
type lookup[T any] struct {
	id     string
	modes  []shop.Mode
	found  map[shop.Mode]T
	asJSON bool
}

func lookupOrder[T any](a *app, ctx context.Context, args []string, name, summary string,
	ask func(ctx context.Context, e verify.Source, id string) (T, error)) (*lookup[T], error) {
	fs := a.flags(name, "ORDER_ID [--mode M] [--json]", summary)
	mode := addMode(fs)
	asJSON := fs.Bool("json", false, "print one JSON document on stdout")
	pos, err := parse(fs, args)
	if err != nil {
		return nil, err
	}
	id, err := orderArg(name, pos)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	eng, err := a.open(ctx, mode.modes)
	if err != nil {
		return nil, err
	}
	defer eng.close()
	l := &lookup[T]{id: id, modes: eng.modes, found: map[shop.Mode]T{}, asJSON: *asJSON}
	for _, m := range eng.modes {
		v, err := ask(ctx, eng.byMode[m], id)
		switch {
		case isUnknown(err):
		case err != nil:
			return nil, err
		default:
			l.found[m] = v
		}
	}
	if len(l.found) == 0 {
		return nil, fmt.Errorf("unknown order %s on %s", id, modesText(eng.modes))
	}
	return l, nil
}

func (a *app) status(ctx context.Context, args []string) error {
	l, err := lookupOrder(a, ctx, args, "status", "Show an order's current status and step on each engine",
		func(ctx context.Context, e verify.Source, id string) (shop.Progress, error) { return e.Status(ctx, id) })
	if err != nil {
		return err
	}
	id := l.id
	var results []statusResult
	for _, m := range l.modes {
		r := statusResult{Mode: m, OrderID: id, Steps: []shop.Step{}, Compensated: []shop.Step{}}
		if p, ok := l.found[m]; ok {
			r.Found, r.Status, r.Current = true, p.Status, p.Current
			r.Steps, r.Compensated, r.FailedStep, r.Reason = nonNil(p.Steps), nonNil(p.Compensated), p.FailedStep, p.Reason
			if m == shop.ModeOrchestration {
				r.UIURL = a.cfg.WorkflowURL(shop.WorkflowID(id))
			}
		}
		results = append(results, r)
	}
	if l.asJSON {
		return a.printJSON(map[string]any{"results": results})
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MODE\tSTATUS\tNOW RUNNING\tSTEPS DONE\tCOMPENSATED\t")
	for _, r := range results {
		if !r.Found {
			fmt.Fprintf(tw, "%s\tnot found\t\t\t\t\n", r.Mode)
			continue
		}
		cur := string(r.Current)
		if cur == "" {
			cur = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", r.Mode, r.Status, cur, steps(r.Steps), steps(r.Compensated))
	}
	_ = tw.Flush()
	for _, r := range results {
		if r.Reason != "" {
			fmt.Fprintf(a.stdout, "%s: %s failed: %s\n", r.Mode, r.FailedStep, r.Reason)
		}
		if r.UIURL != "" {
			fmt.Fprintf(a.stdout, "Temporal UI: %s\n", r.UIURL)
		}
	}
	return nil
}

func nonNil(s []shop.Step) []shop.Step {
	if s == nil {
		return []shop.Step{}
	}
	return s
}

func modesText(ms []shop.Mode) string {
	if len(ms) == len(shop.Modes) {
		return "either engine"
	}
	return string(ms[0])
}

type historyResult struct {
	Mode    shop.Mode    `json:"mode"`
	OrderID string       `json:"order_id"`
	Found   bool         `json:"found"`
	Events  []shop.Event `json:"events"`
}

func (a *app) history(ctx context.Context, args []string) error {
	l, err := lookupOrder(a, ctx, args, "history", "Show an order's timeline on each engine: every step with its time, duration and outcome",
		func(ctx context.Context, e verify.Source, id string) ([]shop.Event, error) { return e.History(ctx, id) })
	if err != nil {
		return err
	}
	id := l.id
	var results []historyResult
	for _, m := range l.modes {
		r := historyResult{Mode: m, OrderID: id, Events: []shop.Event{}}
		if evs, ok := l.found[m]; ok {
			r.Found, r.Events = true, evs
		}
		results = append(results, r)
	}
	if l.asJSON {
		return a.printJSON(map[string]any{"results": results})
	}
	for i, r := range results {
		if i > 0 {
			fmt.Fprintln(a.stdout)
		}
		fmt.Fprintf(a.stdout, "%s — order %s\n", r.Mode, id)
		if !r.Found {
			fmt.Fprintln(a.stdout, "  not found")
			continue
		}
		a.printTimeline(r.Events)
	}
	return nil
}

// printTimeline renders events as: offset from the first, wall time, what
// happened, the operation and its result, how long it took, who did it.
func (a *app) printTimeline(evs []shop.Event) {
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  AT\tTIME\tEVENT\tSTEP\tRESULT\tTOOK\tBY\tDETAIL\t")
	var first time.Time
	for i, e := range evs {
		if i == 0 {
			first = e.Time
		}
		op, res, took := dash(string(e.Op)), dash(e.Result), "-"
		if e.Duration > 0 {
			took = ms(float64(e.Duration.Microseconds()) / 1000)
		}
		fmt.Fprintf(tw, "  +%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", ms(float64(e.Time.Sub(first).Microseconds())/1000),
			e.Time.Local().Format("15:04:05.000"), e.Name, op, res, took, dash(e.Source), truncate(e.Detail, 70))
	}
	_ = tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func truncate(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n-1] + "…"
	}
	return s
}

func (a *app) verify(ctx context.Context, args []string) error {
	fs := a.flags("verify", "[--mode M] [--json]", "Check the invariants against the live state: every order terminal, stock and money conserved,\n"+
		"compensations in reverse order, nothing pending on the streams. Exits 1 on any violation")
	mode := addMode(fs)
	asJSON := fs.Bool("json", false, "print one JSON document on stdout")
	stuck := fs.Duration("stuck-after", 5*time.Minute, "report a non-terminal order older than this as stuck")
	maxHist := fs.Int("max-histories", 1000, "read at most this many compensated orders' histories to check compensation order (0 = all)")
	deadLetters := fs.Int64("expect-dead-letters", 0, "dead-lettered entries to accept (injected poison)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("verify takes no arguments, got %q", pos[0])
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	eng, err := a.open(ctx, mode.modes)
	if err != nil {
		return err
	}
	defer eng.close()
	reports, err := verifyAll(ctx, eng, verify.Options{StuckAfter: *stuck, MaxHistories: *maxHist}, *deadLetters)
	if err != nil {
		return err
	}
	ok := true
	violations := []string{}
	for _, r := range reports {
		for _, v := range r.Violations {
			violations = append(violations, fmt.Sprintf("%s: %s", r.Mode, v))
		}
		ok = ok && r.OK()
	}
	if *asJSON {
		if err := a.printJSON(map[string]any{"ok": ok, "violations": violations, "results": reports}); err != nil {
			return err
		}
	} else {
		for _, r := range reports {
			verdict := "OK"
			if !r.OK() {
				verdict = fmt.Sprintf("%d violation(s)", len(r.Violations))
			}
			settled := ""
			if r.Settled > 0 {
				settled = fmt.Sprintf(", %d of them settled", r.Settled)
			}
			fmt.Fprintf(a.stdout, "%s: %d orders (%s%s), %d histories checked: %s\n", r.Mode, r.Orders, statusCounts(r.Statuses), settled, r.Histories, verdict)
			for _, v := range r.Violations {
				fmt.Fprintf(a.stdout, "  - %s\n", v)
			}
		}
	}
	if !ok {
		return errReported
	}
	return nil
}

// verifyAll checks every engine of eng.
func verifyAll(ctx context.Context, eng *engines, opts verify.Options, deadLetters int64) ([]verify.Report, error) {
	var reports []verify.Report
	for _, m := range eng.modes {
		src := eng.byMode[m]
		if ch, ok := src.(interface{ SetExpectedDeadLetters(int64) }); ok {
			ch.SetExpectedDeadLetters(deadLetters)
		}
		r, err := verify.Check(ctx, eng.rdb, src, eng.catalog, opts)
		if err != nil {
			return nil, fmt.Errorf("verify %s: %w", m, err)
		}
		reports = append(reports, r)
	}
	return reports, nil
}

func statusCounts(m map[shop.Status]int) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, s := range []shop.Status{shop.StatusCompleted, shop.StatusCompensated, shop.StatusFailed, shop.StatusPending} {
		if m[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", m[s], s))
		}
	}
	for s, n := range m {
		if s != shop.StatusCompleted && s != shop.StatusCompensated && s != shop.StatusFailed && s != shop.StatusPending {
			parts = append(parts, fmt.Sprintf("%d %s", n, s))
		}
	}
	return strings.Join(parts, ", ")
}

func (a *app) stock(ctx context.Context, args []string) error {
	fs := a.flags("stock", "[--reset] [--mode M]", "Show the catalog's available stock per engine. --reset deletes an engine's\n"+
		"orders, participant state and streams and seeds the catalog again")
	mode := addMode(fs)
	reset := fs.Bool("reset", false, "start the engines of --mode afresh")
	force := fs.Bool("force", false, "with --reset: reset even while orders are in flight")
	asJSON := fs.Bool("json", false, "print one JSON document on stdout")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("stock takes no arguments, got %q", pos[0])
	}
	if *force && !*reset {
		return usagef("--force goes with --reset")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	eng, err := a.open(ctx, mode.modes)
	if err != nil {
		return err
	}
	defer eng.close()
	if *reset {
		for _, m := range eng.modes {
			src := eng.byMode[m]
			if !*force {
				orders, err := src.Orders(ctx)
				if err != nil {
					return err
				}
				for _, o := range orders {
					if !o.Status.Terminal() {
						return fmt.Errorf("not resetting %s: order %s is still %s (wait for it, or pass --force)", m, o.ID, o.Status)
					}
				}
			}
			n, err := activities.Reset(ctx, eng.rdb, src.Prefix(), eng.catalog)
			if err != nil {
				return err
			}
			if !*asJSON {
				fmt.Fprintf(a.stdout, "%s: reset (%d keys deleted), stock back to its initial values\n", m, n)
			}
		}
	}
	levels := map[shop.Mode]map[string]int64{}
	for _, m := range eng.modes {
		s, err := activities.Stock(ctx, eng.rdb, eng.byMode[m].Prefix(), eng.catalog)
		if err != nil {
			return err
		}
		levels[m] = s
	}
	if *asJSON {
		type row struct {
			SKU     string              `json:"sku"`
			Name    string              `json:"name"`
			Price   int64               `json:"price_cents"`
			Initial int64               `json:"initial"`
			Stock   map[shop.Mode]int64 `json:"available"`
		}
		var rows []row
		for _, sku := range eng.catalog.SKUs() {
			p := eng.catalog[sku]
			r := row{SKU: sku, Name: p.Name, Price: p.PriceCents, Initial: p.InitialStock, Stock: map[shop.Mode]int64{}}
			for _, m := range eng.modes {
				r.Stock[m] = levels[m][sku]
			}
			rows = append(rows, r)
		}
		return a.printJSON(map[string]any{"stock": rows})
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "SKU\tPRICE\tINITIAL\t"
	for _, m := range eng.modes {
		head += strings.ToUpper(string(m)) + "\t"
	}
	fmt.Fprintln(tw, head)
	for _, sku := range eng.catalog.SKUs() {
		p := eng.catalog[sku]
		line := fmt.Sprintf("%s\t%d.%02d\t%d\t", sku, p.PriceCents/100, p.PriceCents%100, p.InitialStock)
		for _, m := range eng.modes {
			line += fmt.Sprintf("%d\t", levels[m][sku])
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}
