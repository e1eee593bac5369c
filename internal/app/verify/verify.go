// Package verify checks the saga's invariants against the live state of an
// engine: every order terminal, stock and money conserved, outcomes that
// follow one of the saga's plans (with the fraud check or before it),
// compensations in reverse order after the steps they undo (the fraud
// check has none), nothing charged past a fraud refusal, one notification
// per ended order, nothing pending on the streams.
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
	"golang.org/x/sync/errgroup"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/internal/platform/poll"
	"github.com/ordersaga/ordersaga/shop"
)

// Source is what verify needs of an engine.
type Source interface {
	shop.Engine
	// Prefix is the Redis key prefix of the engine's participants.
	Prefix() string
	// Orders lists every order placed since the engine's state was last reset.
	Orders(ctx context.Context) ([]shop.Record, error)
	// Extra checks what only this engine has (pending stream entries, …).
	// Check sets the violations' Engine.
	Extra(ctx context.Context) ([]shop.Violation, error)
	// Settled returns the totals of orders whose own records were folded
	// away by the engine's order retention (zero when it has none).
	Settled(ctx context.Context) (shop.Settled, error)
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
	Violations []shop.Violation    `json:"violations"`
}

// OK reports whether no invariant broke.
func (r Report) OK() bool { return len(r.Violations) == 0 }

// Summary is the verdict over the reports of several engines, as
// `starter verify --json` prints it.
type Summary struct {
	OK         bool             `json:"ok"`
	Results    []Report         `json:"results"`
	Violations []shop.Violation `json:"violations"`
}

// Summarize sums reports up: OK when every one is, with all their
// violations in the order of the reports.
func Summarize(reports []Report) Summary {
	s := Summary{OK: true, Results: reports, Violations: []shop.Violation{}}
	for _, r := range reports {
		s.Violations = append(s.Violations, r.Violations...)
		s.OK = s.OK && r.OK()
	}
	return s
}

// Check verifies the invariants of one engine.
func Check(ctx context.Context, rdb redis.UniversalClient, src Source, catalog shop.Catalog, opts Options) (Report, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.StuckAfter <= 0 {
		opts.StuckAfter = 5 * time.Minute
	}
	rep := Report{Mode: src.Mode(), Statuses: map[shop.Status]int{}, Violations: []shop.Violation{}}
	defer func() {
		for i := range rep.Violations {
			rep.Violations[i].Engine = rep.Mode
		}
	}()
	orders, states, settled, err := snapshot(ctx, rdb, src)
	if err != nil {
		return rep, err
	}
	c := newChecker(&rep, opts, settled)
	c.catalog = catalog
	rep.Orders = len(orders) + rep.Settled
	for i, o := range orders {
		c.order(o, states[i])
	}
	if err := c.stock(ctx, rdb, src.Prefix(), catalog); err != nil {
		return rep, err
	}
	if err := c.money(ctx, rdb, src.Prefix()); err != nil {
		return rep, err
	}
	if err := c.notifications(ctx, rdb, src.Prefix(), orders); err != nil {
		return rep, err
	}
	// Invariant 4: compensations after the steps they undo, in reverse order.
	if opts.MaxHistories > 0 && len(c.compensated) > opts.MaxHistories {
		c.compensated = c.compensated[:opts.MaxHistories]
	}
	problems, err := checkHistories(ctx, src, c.compensated)
	if err != nil {
		return rep, err
	}
	rep.Histories = len(c.compensated)
	rep.Violations = append(rep.Violations, problems...)
	// Invariant 5 and anything else the engine knows.
	extra, err := src.Extra(ctx)
	if err != nil {
		return rep, err
	}
	rep.Violations = append(rep.Violations, extra...)
	return rep, nil
}

// checker adds up what the orders hold while it checks them one by one.
type checker struct {
	rep  *Report
	opts Options
	// unreleased is the stock per SKU that orders still hold.
	unreleased map[string]int64
	// charges and refunds count the orders' charges and refunds; net is
	// what the orders still charged add up to.
	charges, refunds, net int64
	// compensated are the terminal orders whose history is worth reading.
	compensated []shop.Record
	catalog     shop.Catalog
}

func newChecker(rep *Report, opts Options, settled shop.Settled) *checker {
	c := &checker{rep: rep, opts: opts, unreleased: map[string]int64{},
		charges: settled.Charges, refunds: settled.Refunds, net: settled.NetCents}
	rep.Settled = settled.Count()
	for s, n := range settled.Statuses {
		rep.Statuses[s] += n
	}
	for sku, q := range settled.Held {
		c.unreleased[sku] += q
	}
	return c
}

func (c *checker) bad(kind shop.ViolationKind, orderID, format string, args ...any) {
	c.rep.Violations = append(c.rep.Violations, shop.Violationf(kind, orderID, format, args...))
}

// order checks one order (invariant 1, and 2 and 3 for what it holds).
func (c *checker) order(o shop.Record, st activities.OrderState) {
	c.rep.Statuses[o.Status]++
	if !o.Status.Terminal() {
		age := c.opts.Now().Sub(o.Placed).Round(time.Second)
		if age >= c.opts.StuckAfter {
			c.bad(shop.ViolationStuck, o.ID, "order %s is stuck: %s for %s", o.ID, o.Status, age)
		} else {
			c.bad(shop.ViolationInFlight, o.ID, "order %s is not terminal yet: %s for %s", o.ID, o.Status, age)
		}
	}
	if o.Status == shop.StatusFailed {
		c.bad(shop.ViolationFailed, o.ID, "order %s FAILED: %s (repair it, then check again)", o.ID, o.Outcome.Reason)
	}
	held := st.Done(shop.OpReserve) && !st.Done(shop.OpRelease)
	if held {
		for sku, q := range st.Reserved {
			c.unreleased[sku] += q
		}
	}
	charged := st.Done(shop.OpCharge) && !st.Done(shop.OpRefund)
	if st.Done(shop.OpCharge) {
		c.charges++
	}
	if st.Done(shop.OpRefund) && st.Ops[shop.OpRefund].Detail != "0" {
		c.refunds++
	}
	if charged {
		c.net += st.ChargedCents
	}
	if st.Done(shop.OpCharge) && o.Items != nil {
		if price := (shop.Order{Items: o.Items}).Total(c.catalog); st.ChargedCents != price {
			c.bad(shop.ViolationMoney, o.ID, "order %s was charged %d cents, but its price as placed is %d", o.ID, st.ChargedCents, price)
		}
	}
	c.statusMatches(o, st, held, charged)
	c.fraud(o, st)
	if o.Status.Terminal() {
		if err := OutcomeMatches(o.Outcome, st); err != nil {
			c.bad(shop.ViolationOutcome, o.ID, "order %s: %v", o.ID, err)
		}
		if o.Status != shop.StatusCompleted && len(o.Outcome.Steps) > 0 {
			c.compensated = append(c.compensated, o)
		}
	}
}

// statusMatches checks that a COMPLETED order did every step and undid
// none, and that a COMPENSATED one holds nothing any more.
func (c *checker) statusMatches(o shop.Record, st activities.OrderState, held, charged bool) {
	switch o.Status {
	case shop.StatusCompleted:
		for _, s := range shop.StepsBeforeFraud { // the steps of every plan
			if !st.Done(s.Forward()) {
				c.bad(shop.ViolationOutcome, o.ID, "order %s is COMPLETED but %s did not succeed", o.ID, s.Forward())
			}
		}
		for _, op := range shop.Ops {
			if op.IsCompensation() && st.Ops[op].Status != "" {
				c.bad(shop.ViolationOutcome, o.ID, "order %s is COMPLETED but was compensated (%s)", o.ID, op)
			}
		}
	case shop.StatusCompensated:
		if held {
			c.bad(shop.ViolationOutcome, o.ID, "order %s is COMPENSATED but still holds its reservation", o.ID)
		}
		if charged {
			c.bad(shop.ViolationOutcome, o.ID, "order %s is COMPENSATED but its charge of %d cents was not refunded", o.ID, st.ChargedCents)
		}
		if st.Done(shop.OpSchedule) && !st.Done(shop.OpCancel) {
			c.bad(shop.ViolationOutcome, o.ID, "order %s is COMPENSATED but its shipment was not cancelled", o.ID)
		}
	}
}

// fraud checks what the fraud check decided: a COMPLETED order it cleared
// lists it among its steps; an order it refused (its record says so, or
// the order failed at it) was never charged nor shipped. That it
// holds no stock once COMPENSATED is statusMatches' check; a FAILED one
// waits for its release to be repaired.
func (c *checker) fraud(o shop.Record, st activities.OrderState) {
	if o.Status == shop.StatusCompleted && st.Done(shop.OpCheck) && !slices.Contains(o.Outcome.Steps, shop.StepFraud) {
		c.bad(shop.ViolationOutcome, o.ID, "order %s passed the fraud check, but its outcome lists steps %v", o.ID, o.Outcome.Steps)
	}
	refused := st.Ops[shop.OpCheck].Status == "fail" || o.Outcome.FailedStep == shop.StepFraud
	if !refused {
		return
	}
	for _, op := range []shop.Op{shop.OpCharge, shop.OpSchedule} {
		if st.Ops[op].Status == "ok" {
			c.bad(shop.ViolationOutcome, o.ID, "order %s was refused by the fraud check, but its %s ran", o.ID, op)
		}
	}
}

// stock checks invariant 2: per SKU, available plus held is the initial stock.
func (c *checker) stock(ctx context.Context, rdb redis.UniversalClient, prefix string, catalog shop.Catalog) error {
	stock, err := activities.Stock(ctx, rdb, prefix, catalog)
	if err != nil {
		return err
	}
	for _, sku := range catalog.SKUs() {
		avail, held := stock[sku], c.unreleased[sku]
		if avail < 0 {
			c.bad(shop.ViolationStock, "", "stock of %s is negative: %d", sku, avail)
		}
		if initial := catalog[sku].InitialStock; avail+held != initial {
			c.bad(shop.ViolationStock, "", "stock of %s: %d available + %d held by orders = %d, want the initial %d", sku, avail, held, avail+held, initial)
		}
	}
	return nil
}

// money checks invariant 3: the ledger agrees with the orders.
func (c *checker) money(ctx context.Context, rdb redis.UniversalClient, prefix string) error {
	ledger, err := activities.ReadLedger(ctx, rdb, prefix)
	if err != nil {
		return err
	}
	if got := ledger.ChargedCents - ledger.RefundedCents; got != c.net {
		c.bad(shop.ViolationMoney, "", "ledger: charged %d − refunded %d = %d cents, but the orders still charged add up to %d", ledger.ChargedCents, ledger.RefundedCents, got, c.net)
	}
	if ledger.Charges != c.charges {
		c.bad(shop.ViolationMoney, "", "ledger counts %d charges, orders show %d: a charge happened twice or outside an order", ledger.Charges, c.charges)
	}
	if ledger.Refunds != c.refunds {
		c.bad(shop.ViolationMoney, "", "ledger counts %d refunds, orders show %d: a refund happened twice or outside an order", ledger.Refunds, c.refunds)
	}
	return nil
}

// notifications checks invariant 6: at most one notification per order;
// once an order is terminal and its notify was not refused (--fail notify),
// exactly one, of the order's outcome (unless its engine ends it without
// one by design: Record.Unnotified). A FAILED order repaired since keeps
// the notification of its first end. Settled orders are not checked: their
// notifications are trimmed with them (see activities.Notifier).
func (c *checker) notifications(ctx context.Context, rdb redis.UniversalClient, prefix string, orders []shop.Record) error {
	sent, err := activities.Notifications(ctx, rdb, prefix, 0)
	if err != nil {
		return err
	}
	byOrder := map[string][]activities.Notification{}
	for _, n := range sent {
		byOrder[n.OrderID] = append(byOrder[n.OrderID], n)
	}
	ids := make([]string, len(orders))
	for i, o := range orders {
		ids[i] = o.ID
	}
	states, err := activities.NotifyStates(ctx, rdb, prefix, ids)
	if err != nil {
		return err
	}
	for i, o := range orders {
		got := byOrder[o.ID]
		switch {
		case len(got) > 1:
			c.bad(shop.ViolationNotification, o.ID, "order %s was notified %d times", o.ID, len(got))
		case len(got) == 1 && got[0].Status != o.Status && got[0].Status != shop.StatusFailed:
			c.bad(shop.ViolationNotification, o.ID, "order %s is %s but its customer was told %s", o.ID, o.Status, got[0].Status)
		case len(got) == 0 && o.Status.Terminal() && states[i].Status != "fail" && !o.Unnotified:
			c.bad(shop.ViolationNotification, o.ID, "order %s is %s but its customer was not notified", o.ID, o.Status)
		}
	}
	return nil
}

// snapshot reads the orders, their participant records and the settled
// totals. Settling can run meanwhile (the order service does it in the
// background), so the read is repeated until the totals did not move during
// it; an order settled between the listing and the reading of its records
// would otherwise count twice or not at all.
func snapshot(ctx context.Context, rdb redis.UniversalClient, src Source) ([]shop.Record, []activities.OrderState, shop.Settled, error) {
	var (
		orders  []shop.Record
		states  []activities.OrderState
		settled shop.Settled
		tries   int
	)
	err := poll.Until(ctx, poll.Backoff{Min: 100 * time.Millisecond, Max: time.Second}, func(ctx context.Context) (bool, error) {
		if tries++; tries > 10 {
			return false, fmt.Errorf("orders kept being settled while they were read; check again")
		}
		before, err := src.Settled(ctx)
		if err != nil {
			return false, err
		}
		if orders, err = src.Orders(ctx); err != nil {
			return false, err
		}
		orders = slices.Clone(orders)
		sort.Slice(orders, func(i, j int) bool { return orders[i].ID < orders[j].ID })
		if states, err = readStates(ctx, rdb, src.Prefix(), orders); err != nil {
			return false, err
		}
		if settled, err = src.Settled(ctx); err != nil {
			return false, err
		}
		return reflect.DeepEqual(before, settled), nil
	})
	return orders, states, settled, err
}

func readStates(ctx context.Context, rdb redis.UniversalClient, prefix string, orders []shop.Record) ([]activities.OrderState, error) {
	out := make([]activities.OrderState, len(orders))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i, o := range orders {
		g.Go(func() error {
			var err error
			out[i], err = activities.ReadOrderState(ctx, rdb, prefix, o.ID)
			return err
		})
	}
	return out, g.Wait()
}

// Plans are the steps an order may run, in saga order: every step since
// the fraud check, and the steps before it (orders placed, or workflows
// started, before the check was inserted still run those).
var Plans = [][]shop.Step{shop.Steps, shop.StepsBeforeFraud}

// PlanOf returns the plan an outcome follows: the first of Plans whose
// steps begin with the outcome's steps, followed by its failed step if
// any, all of them when it COMPLETED. Nil when it follows none.
func PlanOf(out shop.Outcome) []shop.Step {
	for _, p := range Plans {
		n := len(out.Steps)
		if n > len(p) || !slices.Equal(p[:n], out.Steps) {
			continue
		}
		if out.FailedStep != "" && (n == len(p) || p[n] != out.FailedStep) {
			continue
		}
		if out.Status == shop.StatusCompleted && n != len(p) {
			continue
		}
		return p
	}
	return nil
}

// OutcomeMatches checks an outcome against what the participants recorded:
// its steps follow one of the plans, every step listed done succeeded,
// every step listed compensated was undone (a step with no compensation
// never is), and a COMPENSATED order undid each of its done steps that
// has a compensation.
func OutcomeMatches(out shop.Outcome, st activities.OrderState) error {
	if out.Status.Terminal() && PlanOf(out) == nil {
		return fmt.Errorf("steps %v (failed step %q) follow no plan of the saga: %v, or %v before the fraud check",
			out.Steps, out.FailedStep, shop.Steps, shop.StepsBeforeFraud)
	}
	for _, s := range out.Steps {
		if !st.Done(s.Forward()) {
			return fmt.Errorf("outcome lists %s done, but %s did not succeed", s, s.Forward())
		}
	}
	for _, s := range out.Compensated {
		if s.Compensation() == "" {
			return fmt.Errorf("outcome lists %s compensated, but %s has no compensation", s, s)
		}
		if !st.Done(s.Compensation()) {
			return fmt.Errorf("outcome lists %s compensated, but %s did not succeed", s, s.Compensation())
		}
	}
	if out.Status == shop.StatusCompensated {
		for _, s := range out.Steps {
			if s.Compensation() != "" && !slices.Contains(out.Compensated, s) {
				return fmt.Errorf("COMPENSATED but %s was not undone", s)
			}
		}
	}
	return nil
}

func checkHistories(ctx context.Context, src Source, orders []shop.Record) ([]shop.Violation, error) {
	problems := make([]*shop.Violation, len(orders))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, o := range orders {
		g.Go(func() error {
			h, err := src.History(gctx, o.ID)
			if errors.Is(err, shop.ErrUnknownOrder) {
				return nil // settled since the snapshot: its books were checked there
			}
			if err != nil {
				return err
			}
			if err := CompensationOrder(h); err != nil {
				v := shop.Violationf(shop.ViolationCompensationOrder, o.ID, "order %s: %v", o.ID, err)
				problems[i] = &v
			}
			return nil
		})
	}
	err := g.Wait()
	var out []shop.Violation
	for _, p := range problems {
		if p != nil {
			out = append(out, *p)
		}
	}
	return out, err
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
