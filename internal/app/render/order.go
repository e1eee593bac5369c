package render

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/ordersaga/ordersaga/internal/app/admin"
	"github.com/ordersaga/ordersaga/shop"
)

// Result is what order and status both say of one engine.
type Result struct {
	Mode        shop.Mode   `json:"mode"`
	OrderID     string      `json:"order_id"`
	Status      shop.Status `json:"status,omitempty"`
	Steps       []shop.Step `json:"steps"`
	Compensated []shop.Step `json:"compensated"`
	FailedStep  shop.Step   `json:"failed_step,omitempty"`
	Reason      string      `json:"reason,omitempty"`
	UIURL       string      `json:"ui_url,omitempty"`
	// ListURL is the Temporal UI's list of every order with this one's
	// status, for orchestration once the status is known.
	ListURL string `json:"list_url,omitempty"`
	// Why says what keeps the order when it does not move or did not finish.
	Why []string `json:"why,omitempty"`
}

// ReasonLine says why the order did not complete: "MODE: STEP failed:
// REASON", or "MODE: REASON" when no step failed (a cancel).
func (r Result) ReasonLine() string {
	if r.FailedStep == "" {
		return fmt.Sprintf("%s: %s", r.Mode, r.Reason)
	}
	return fmt.Sprintf("%s: %s failed: %s", r.Mode, r.FailedStep, r.Reason)
}

// NewResult is an engine's result about an order, PENDING, with the
// Temporal UI link (from uiURL) for orchestration.
func NewResult(m shop.Mode, orderID string, uiURL func(orderID string) string) Result {
	r := Result{Mode: m, OrderID: orderID, Status: shop.StatusPending, Steps: []shop.Step{}, Compensated: []shop.Step{}}
	if m == shop.ModeOrchestration {
		r.UIURL = uiURL(orderID)
	}
	return r
}

func (r *Result) set(out shop.Outcome) {
	r.Status, r.Steps, r.Compensated = out.Status, NonNil(out.Steps), NonNil(out.Compensated)
	r.FailedStep, r.Reason = out.FailedStep, out.Reason
}

// OrderResult is one engine's result of `starter order`.
type OrderResult struct {
	Result
	ElapsedMS float64 `json:"elapsed_ms"`
	Error     string  `json:"error,omitempty"`
	Note      string  `json:"note,omitempty"`
}

// PlacementResults are the engines' results of the placements of an
// order: with their outcomes, unless placedOnly (not waited for).
func PlacementResults(ps []admin.Placement, orderID string, uiURL func(orderID string) string, placedOnly bool) []OrderResult {
	out := make([]OrderResult, len(ps))
	for i, p := range ps {
		out[i].Result = NewResult(p.Mode, orderID, uiURL)
		if !placedOnly {
			out[i].SetOutcome(p)
		}
	}
	return out
}

// SetOutcome fills in an engine's outcome, or why it has none.
func (r *OrderResult) SetOutcome(p admin.Placement) {
	r.ElapsedMS = float64(p.Elapsed.Microseconds()) / 1000
	r.Note = p.Note
	if p.Err != nil {
		r.Error, r.Why = strings.Join(strings.Fields(p.Err.Error()), " "), p.Why
		return
	}
	r.set(p.Outcome)
}

// Order prints an order, then a table of each engine's result (or that it
// was placed without waiting), why a step failed, and the Temporal UI link.
func Order(w io.Writer, o shop.Order, results []OrderResult, placedOnly bool) {
	var items []string
	for _, it := range o.Items {
		items = append(items, fmt.Sprintf("%s:%d", it.SKU, it.Quantity))
	}
	var faults []string
	for _, op := range append(slices.Clone(shop.Ops), shop.OpNotify) {
		if f, ok := o.Faults[op]; ok {
			faults = append(faults, fmt.Sprintf("%s:%s", op.Target(), f))
		}
	}
	if len(faults) == 0 {
		faults = []string{"none"}
	}
	fmt.Fprintf(w, "order %s  items: %s  faults: %s\n\n", o.ID, strings.Join(items, " "), strings.Join(faults, " "))
	Outcomes(w, results, placedOnly)
}

// Outcomes prints a table of each engine's result (or that the order was
// placed without waiting), why a step failed, and the Temporal UI links.
func Outcomes(w io.Writer, results []OrderResult, placedOnly bool) {
	tw := Table(w)
	if placedOnly {
		fmt.Fprintln(tw, "MODE\tSTATUS\t")
	} else {
		fmt.Fprintln(tw, "MODE\tSTATUS\tSTEPS DONE\tCOMPENSATED\tELAPSED\t")
	}
	for _, r := range results {
		status := string(r.Status)
		if r.Error != "" {
			status = "ERROR"
		}
		if placedOnly {
			fmt.Fprintf(tw, "%s\tplaced, not waiting\t\n", r.Mode)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", r.Mode, status, Steps(r.Steps), Steps(r.Compensated), MS(r.ElapsedMS))
	}
	_ = tw.Flush()
	for _, r := range results {
		if r.Note != "" {
			fmt.Fprintf(w, "\n%s: %s", r.Mode, r.Note)
		}
		switch {
		case r.Error != "":
			fmt.Fprintf(w, "\n%s error: %s", r.Mode, r.Error)
			for _, why := range r.Why {
				fmt.Fprintf(w, "\n  why: %s", why)
			}
		case r.Reason != "":
			fmt.Fprintf(w, "\n%s", r.ReasonLine())
		}
	}
	for _, r := range results {
		if r.UIURL != "" {
			fmt.Fprintf(w, "\nTemporal UI: %s", r.UIURL)
		}
		if r.ListURL != "" {
			fmt.Fprintf(w, "\nAll %s orders: %s", r.Status, r.ListURL)
		}
	}
	fmt.Fprintln(w)
}

// Progress says, one line per engine, where the order is and, when it does
// not move, why: what `starter order` shows while it waits.
func Progress(s admin.Snapshot) string {
	var b strings.Builder
	for _, m := range s.Modes {
		p, ok := s.Found[m]
		switch {
		case !ok:
			fmt.Fprintf(&b, "  %-13s not placed yet\n", m)
		case s.NoAnswer[m] != nil:
			fmt.Fprintf(&b, "  %-13s %s: %v\n", m, p.Status, s.NoAnswer[m])
		case p.Status.Terminal():
			fmt.Fprintf(&b, "  %-13s %s\n", m, p.Status)
		default:
			fmt.Fprintf(&b, "  %-13s %s, now running %s (done: %s)\n", m, p.Status, Dash(string(p.Current)), Steps(p.Steps))
		}
		for _, why := range s.Why[m] {
			fmt.Fprintf(&b, "  %-13s why: %s\n", "", Truncate(why, 160))
		}
	}
	return b.String()
}
