// Package verify checks the saga's invariants against the live state of an
// engine: every order terminal, stock and money conserved, compensations in
// reverse order after the steps they undo, nothing pending on the streams.
package verify

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/internal/parallel"
	"github.com/ordersaga/ordersaga/shop"
)

// Order is one placed order as its engine reports it.
type Order struct {
	ID      string
	Placed  time.Time
	Status  shop.Status
	Outcome shop.Outcome // set when terminal
}

// Source is what verify needs of an engine.
type Source interface {
	shop.Engine
	// Prefix is the Redis key prefix of the engine's participants.
	Prefix() string
	// Orders lists every order placed since the engine's state was last reset.
	Orders(ctx context.Context) ([]Order, error)
	// Extra checks that only this engine has (pending stream entries, …).
	Extra(ctx context.Context) ([]string, error)
	// Settled returns the totals of orders whose own records were folded
	// away by the engine's order retention (zero when it has none).
	Settled(ctx context.Context) (Settled, error)
}

// Settled is what settled orders still account for: their statuses, the
// stock they hold per SKU, and their charges and refunds.
type Settled struct {
	Statuses map[shop.Status]int `json:"statuses"`
	Held     map[string]int64    `json:"held"`
	NetCents int64               `json:"net_cents"`
	Charges  int64               `json:"charges"`
	Refunds  int64               `json:"refunds"`
}

// Count is how many orders were settled.
func (s Settled) Count() int {
	n := 0
	for _, c := range s.Statuses {
		n += c
	}
	return n
}

// Options tune a check.
type Options struct {
	// StuckAfter: a non-terminal order older than this is reported as stuck;
	// younger ones as still in flight. Both are violations.
	StuckAfter time.Duration
	// MaxHistories bounds how many compensated orders have their history
	// read to check the order of compensations (0 = all).
	MaxHistories int
	Now          func() time.Time
}

// Report is the result of checking one engine.
type Report struct {
	Mode   shop.Mode `json:"mode"`
	Orders int       `json:"orders"`
	// Settled is how many of the orders were settled by order retention:
	// they count in Orders and Statuses through their totals only.
	Settled    int                 `json:"settled"`
	Statuses   map[shop.Status]int `json:"statuses"`
	Histories  int                 `json:"histories_checked"`
	Violations []string            `json:"violations"`
}

// OK reports whether no invariant broke.
func (r Report) OK() bool { return len(r.Violations) == 0 }

// Check verifies the invariants of one engine.
func Check(ctx context.Context, rdb redis.UniversalClient, src Source, catalog shop.Catalog, opts Options) (Report, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.StuckAfter <= 0 {
		opts.StuckAfter = 5 * time.Minute
	}
	rep := Report{Mode: src.Mode(), Statuses: map[shop.Status]int{}, Violations: []string{}}
	bad := func(format string, args ...any) {
		rep.Violations = append(rep.Violations, fmt.Sprintf(format, args...))
	}

	orders, states, settled, err := snapshot(ctx, rdb, src)
	if err != nil {
		return rep, err
	}
	rep.Orders = len(orders)
	rep.Settled = settled.Count()
	rep.Orders += rep.Settled
	for s, c := range settled.Statuses {
		rep.Statuses[s] += c
	}

	unreleased := map[string]int64{}
	for sku, q := range settled.Held {
		unreleased[sku] += q
	}
	charges, refunds, net := settled.Charges, settled.Refunds, settled.NetCents
	var compensated []Order
	for i, o := range orders {
		rep.Statuses[o.Status]++
		st := states[i]
		// Invariant 1: terminal.
		if !o.Status.Terminal() {
			age := opts.Now().Sub(o.Placed).Round(time.Second)
			if age >= opts.StuckAfter {
				bad("order %s is stuck: %s for %s", o.ID, o.Status, age)
			} else {
				bad("order %s is not terminal yet: %s for %s", o.ID, o.Status, age)
			}
		}
		if o.Status == shop.StatusFailed {
			bad("order %s FAILED: %s (repair it, then check again)", o.ID, o.Outcome.Reason)
		}
		// Invariant 2 and 3, per order.
		held := st.Done(shop.OpReserve) && !st.Done(shop.OpRelease)
		if held {
			for sku, q := range st.Reserved {
				unreleased[sku] += q
			}
		}
		charged := st.Done(shop.OpCharge) && !st.Done(shop.OpRefund)
		if st.Done(shop.OpCharge) {
			charges++
		}
		if st.Done(shop.OpRefund) && st.Ops[shop.OpRefund].Detail != "0" {
			refunds++
		}
		if charged {
			net += st.ChargedCents
		}
		switch o.Status {
		case shop.StatusCompleted:
			for _, op := range []shop.Op{shop.OpReserve, shop.OpCharge, shop.OpSchedule} {
				if !st.Done(op) {
					bad("order %s is COMPLETED but %s did not succeed", o.ID, op)
				}
			}
			for _, op := range []shop.Op{shop.OpRelease, shop.OpRefund, shop.OpCancel} {
				if st.Ops[op].Status != "" {
					bad("order %s is COMPLETED but was compensated (%s)", o.ID, op)
				}
			}
		case shop.StatusCompensated:
			if held {
				bad("order %s is COMPENSATED but still holds its reservation", o.ID)
			}
			if charged {
				bad("order %s is COMPENSATED but its charge of %d cents was not refunded", o.ID, st.ChargedCents)
			}
			if st.Done(shop.OpSchedule) && !st.Done(shop.OpCancel) {
				bad("order %s is COMPENSATED but its shipment was not cancelled", o.ID)
			}
		}
		if o.Status.Terminal() {
			if err := OutcomeMatches(o.Outcome, st); err != nil {
				bad("order %s: %v", o.ID, err)
			}
			if o.Status != shop.StatusCompleted && len(o.Outcome.Steps) > 0 {
				compensated = append(compensated, o)
			}
		}
	}

	// Invariant 2: stock.
	stock, err := activities.Stock(ctx, rdb, src.Prefix(), catalog)
	if err != nil {
		return rep, err
	}
	for _, sku := range catalog.SKUs() {
		avail, held := stock[sku], unreleased[sku]
		if avail < 0 {
			bad("stock of %s is negative: %d", sku, avail)
		}
		if initial := catalog[sku].InitialStock; avail+held != initial {
			bad("stock of %s: %d available + %d held by orders = %d, want the initial %d", sku, avail, held, avail+held, initial)
		}
	}
	// Invariant 3: money.
	ledger, err := activities.ReadLedger(ctx, rdb, src.Prefix())
	if err != nil {
		return rep, err
	}
	if got := ledger.ChargedCents - ledger.RefundedCents; got != net {
		bad("ledger: charged %d − refunded %d = %d cents, but the orders still charged add up to %d", ledger.ChargedCents, ledger.RefundedCents, got, net)
	}
	if ledger.Charges != charges {
		bad("ledger counts %d charges, orders show %d: a charge happened twice or outside an order", ledger.Charges, charges)
	}
	if ledger.Refunds != refunds {
		bad("ledger counts %d refunds, orders show %d: a refund happened twice or outside an order", ledger.Refunds, refunds)
	}

	// Invariant 4: compensations after the steps they undo, in reverse order.
	if opts.MaxHistories > 0 && len(compensated) > opts.MaxHistories {
		compensated = compensated[:opts.MaxHistories]
	}
	problems, err := checkHistories(ctx, src, compensated)
	if err != nil {
		return rep, err
	}
	rep.Histories = len(compensated)
	rep.Violations = append(rep.Violations, problems...)

	// Invariant 5 and anything else the engine knows.
	extra, err := src.Extra(ctx)
	if err != nil {
		return rep, err
	}
	rep.Violations = append(rep.Violations, extra...)
	return rep, nil
}

// snapshot reads the orders, their participant records and the settled
// totals. Settling can run meanwhile (the order service does it in the
// background), so the read is repeated until the totals did not move during
// it; an order settled between the listing and the reading of its records
// would otherwise count twice or not at all.
func snapshot(ctx context.Context, rdb redis.UniversalClient, src Source) ([]Order, []activities.OrderState, Settled, error) {
	for attempt := 1; ; attempt++ {
		before, err := src.Settled(ctx)
		if err != nil {
			return nil, nil, Settled{}, err
		}
		orders, err := src.Orders(ctx)
		if err != nil {
			return nil, nil, Settled{}, err
		}
		orders = slices.Clone(orders)
		sort.Slice(orders, func(i, j int) bool { return orders[i].ID < orders[j].ID })
		states, err := readStates(ctx, rdb, src.Prefix(), orders)
		if err != nil {
			return nil, nil, Settled{}, err
		}
		after, err := src.Settled(ctx)
		if err != nil {
			return nil, nil, Settled{}, err
		}
		if reflect.DeepEqual(before, after) {
			return orders, states, after, nil
		}
		if attempt == 10 {
			return nil, nil, Settled{}, fmt.Errorf("orders kept being settled while they were read; check again")
		}
		select {
		case <-ctx.Done():
			return nil, nil, Settled{}, ctx.Err()
		case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
		}
	}
}

func readStates(ctx context.Context, rdb redis.UniversalClient, prefix string, orders []Order) ([]activities.OrderState, error) {
	out := make([]activities.OrderState, len(orders))
	err := parallel.Do(len(orders), 16, func(i int) error {
		var err error
		out[i], err = activities.ReadOrderState(ctx, rdb, prefix, orders[i].ID)
		return err
	})
	return out, err
}

// OutcomeMatches checks an outcome against what the participants recorded:
// every step listed done succeeded, every step listed compensated was
// undone, and a COMPENSATED order undid each of its done steps.
func OutcomeMatches(out shop.Outcome, st activities.OrderState) error {
	for _, s := range out.Steps {
		if !st.Done(s.Forward()) {
			return fmt.Errorf("outcome lists %s done, but %s did not succeed", s, s.Forward())
		}
	}
	for _, s := range out.Compensated {
		if !st.Done(s.Compensation()) {
			return fmt.Errorf("outcome lists %s compensated, but %s did not succeed", s, s.Compensation())
		}
	}
	if out.Status == shop.StatusCompensated {
		for _, s := range out.Steps {
			if !slices.Contains(out.Compensated, s) {
				return fmt.Errorf("COMPENSATED but %s was not undone", s)
			}
		}
	}
	return nil
}

func checkHistories(ctx context.Context, src Source, orders []Order) ([]string, error) {
	problems := make([]string, len(orders))
	err := parallel.Do(len(orders), 8, func(i int) error {
		h, err := src.History(ctx, orders[i].ID)
		if errors.Is(err, shop.ErrUnknownOrder) {
			return nil // settled since the snapshot: its books were checked there
		}
		if err != nil {
			return err
		}
		if err := CompensationOrder(h); err != nil {
			problems[i] = fmt.Sprintf("order %s: %v", orders[i].ID, err)
		}
		return nil
	})
	problems = slices.DeleteFunc(problems, func(p string) bool { return p == "" })
	sort.Strings(problems)
	return problems, err
}

// CompensationOrder checks a timeline: each compensation happens after the
// step it undoes, and compensations run in the reverse order of the steps.
func CompensationOrder(events []shop.Event) error {
	forward := map[shop.Step]int{}
	var undone []shop.Step
	for i, e := range events {
		if e.Result == "repair" { // compensations run again, in an order of their own
			undone = nil
			continue
		}
		if e.Result != "ok" || e.Op == "" {
			continue
		}
		s := e.Op.Step()
		if e.Op.IsCompensation() {
			f, ok := forward[s]
			if ok && f > i {
				return fmt.Errorf("%s happened before %s", e.Op, s.Forward())
			}
			if ok && !slices.Contains(undone, s) {
				undone = append(undone, s)
			}
			continue
		}
		if _, seen := forward[s]; !seen {
			forward[s] = i
		}
	}
	// undone must follow the reverse of saga order.
	for i := 1; i < len(undone); i++ {
		if slices.Index(shop.Steps, undone[i]) > slices.Index(shop.Steps, undone[i-1]) {
			return fmt.Errorf("compensations ran as %v, not in reverse saga order", undone)
		}
	}
	return nil
}
