package experiment

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/internal/app/admin"
	"github.com/ordersaga/ordersaga/internal/app/bench"
	"github.com/ordersaga/ordersaga/internal/platform/poll"
	"github.com/ordersaga/ordersaga/shop"
)

// A Change is a change of the saga that `experiment change` rolls out
// with orders in flight (docs/changing.md).
type Change struct {
	Name string
	// What says what the change is, for the report.
	What string
	// Before is the last commit without the change, in either engine:
	// the old worker is built from it.
	Before string
	// OldServices are the choreography services the worker of Before has.
	OldServices []string
	// took reports whether an order that ended with out took the
	// change's path, and whether its outcome can tell (an order refused
	// before the changed step cannot).
	took func(ctx context.Context, rdb redis.UniversalClient, prefix string, out shop.Outcome) (took, tells bool)
	// switched: the choreography's placements take the change only once
	// it is switched on, after every service runs the new build.
	switched bool
}

// Changes are the changes of the saga: adding a subscriber and inserting
// a step.
var Changes = []Change{
	{Name: "notify", What: "adding a subscriber: the customer notified of the order's end", Before: "fa12805~1",
		OldServices: []string{"order", "inventory", "payment", "shipping"}, took: notified},
	{Name: "fraud", What: "inserting a step: the fraud check between the reservation and the charge", Before: "2f640e1~1",
		OldServices: []string{"order", "inventory", "payment", "shipping", "notify"}, took: checkedForFraud, switched: true},
}

// ChangeNames are the names of Changes.
func ChangeNames() []string {
	out := make([]string, len(Changes))
	for i, c := range Changes {
		out[i] = c.Name
	}
	return out
}

// changeNamed is the change of that name.
func changeNamed(name string) (Change, bool) {
	i := slices.IndexFunc(Changes, func(c Change) bool { return c.Name == name })
	if i < 0 {
		return Change{}, false
	}
	return Changes[i], true
}

// notified: the customer was told how the order ended.
func notified(ctx context.Context, rdb redis.UniversalClient, prefix string, out shop.Outcome) (bool, bool) {
	st, err := activities.NotifyStates(ctx, rdb, prefix, []string{out.OrderID})
	return err == nil && st[0].Status == "ok", err == nil
}

// checkedForFraud: the order went through the fraud check; an order that
// ended before the step after the reservation cannot tell.
func checkedForFraud(_ context.Context, _ redis.UniversalClient, _ string, out shop.Outcome) (bool, bool) {
	if slices.Contains(out.Steps, shop.StepFraud) || out.FailedStep == shop.StepFraud {
		return true, true
	}
	return false, slices.Contains(out.Steps, shop.StepPayment) || out.FailedStep == shop.StepPayment
}

// Parked adds a delay of 1 s to the orders without faults, in turn at the
// reserve, the charge and the schedule, so that orders wait at every step
// while workers are replaced; every tenth order instead has its shipment
// declined and its refund fail nine times, so that it stays in flight,
// compensating, for about 20 s.
func Parked(orders []shop.Order) []shop.Order {
	ops := []shop.Op{shop.OpReserve, shop.OpCharge, shop.OpSchedule}
	for i := range orders {
		switch {
		case i%10 == 0:
			orders[i].Faults = shop.FaultPlan{shop.OpSchedule: {Kind: shop.FaultDecline}, shop.OpRefund: {Kind: shop.FaultTransient, Attempts: 10}}
		case orders[i].Faults == nil:
			orders[i].Faults = shop.FaultPlan{ops[i%len(ops)]: {Kind: shop.FaultDelay, Delay: time.Second}}
		}
	}
	return orders
}

// ChangeWorkload is a rollout's workload: Parked, with every seventh
// order a large one ($2,016 by a named customer, no fault), which
// completes on the old path and which the fraud check refuses on the new.
func ChangeWorkload(orders []shop.Order) []shop.Order {
	orders = Parked(orders)
	for i := 3; i < len(orders); i += 7 {
		orders[i].Items, orders[i].Faults = []shop.Item{{SKU: "book", Quantity: 48}}, nil
	}
	return orders
}

// switchFraudCheckOn switches the choreography's placements to the plan
// with the fraud check, as `starter fraud-check on` does. It is refused
// while a consumer of an older build is seen live (its presence record
// outlives it by a few seconds), so it is tried again, up to a minute;
// then it waits out the engines' plan cache, so that every later placement
// takes it.
func switchFraudCheckOn(ctx context.Context, e *choreography.Engine) error {
	var last error
	err := poll.For(ctx, time.Minute, poll.Every(250*time.Millisecond), func(ctx context.Context) (bool, error) {
		last = e.SetFraudCheck(ctx, true)
		if last != nil && !errors.Is(last, choreography.ErrConsumersBehind) {
			return false, last
		}
		return last == nil, nil
	})
	if err != nil {
		return fmt.Errorf("switch the fraud check on: %w (last: %v)", err, last)
	}
	return poll.Sleep(ctx, choreography.PlanCacheFor+500*time.Millisecond)
}

// taskHistory reads an order's workflow history: the build ID of the
// worker that completed its first workflow task (the one that recorded its
// version), and the workflow tasks that failed (an old worker handed a
// history written by newer code would fail one).
func taskHistory(ctx context.Context, tc client.Client, orderID string) (first string, failed []string, err error) {
	it := tc.GetWorkflowHistory(ctx, shop.WorkflowID(orderID), "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return "", nil, fmt.Errorf("history of %s: %w", orderID, err)
		}
		if a := ev.GetWorkflowTaskCompletedEventAttributes(); a != nil && first == "" {
			if first = a.GetDeploymentVersion().GetBuildId(); first == "" {
				_, first, _ = strings.Cut(a.GetWorkerDeploymentVersion(), ".")
			}
		}
		if ev.GetEventType() == enums.EVENT_TYPE_WORKFLOW_TASK_FAILED {
			a := ev.GetWorkflowTaskFailedEventAttributes()
			failed = append(failed, fmt.Sprintf("order %s: workflow task failed (%s): %s", orderID, a.GetCause(), a.GetFailure().GetMessage()))
		}
	}
	return first, failed, nil
}

// RollResult is one engine's rollout of a change.
type RollResult struct {
	Mode   shop.Mode   `json:"mode"`
	Events []RollEvent `json:"events"`
	// Rolled is when the rollout ended (s since the first placement);
	// the orders placed after it must take the change's path.
	Rolled float64 `json:"rolled_s"`
	// OldPath and NewPath count the orders that took each; Untold those
	// whose outcome cannot tell (refused before the changed step).
	OldPath int `json:"old_path"`
	NewPath int `json:"new_path"`
	Untold  int `json:"untold"`
	// InFlight is, at each event, the orders placed and not yet ended.
	InFlight   []int64  `json:"in_flight"`
	Violations []string `json:"violations,omitempty"`
}

// change rolls a change out on each engine with orders in flight.
func change(ctx context.Context, eng *admin.EngineSet, cfg Config) (*bench.Report, error) {
	c, _ := changeNamed(cfg.Change)
	work, err := bench.Generate(cfg.Seed, nonce(), cfg.Orders, nil, eng.Catalog)
	if err != nil {
		return nil, err
	}
	orders := ChangeWorkload(work.Orders)
	k := cfg.Instances
	rep := newReport(ctx, eng, cfg, "change ("+c.Name+")", fmt.Sprintf(
		"%d orders (seed %d) placed at %g/s in %d waves, parked at every step (a 1 s delay at the reserve, the charge or the schedule; every tenth compensating for about 20 s; every seventh a $2,016 order); "+
			"%d worker processes of the build before %s (%s) replaced one by one by the new build's, one after each wave but the last.",
		len(orders), cfg.Seed, cfg.Rate, k+1, k, c.Name, c.Before))
	rep.Notes = strings.Replace(rep.Notes, "with their participants in the experiment's process", "with their participants in worker processes the experiment started", 1)
	var runs []*engineRun
	var results []RollResult
	for _, m := range modesOf(eng) {
		cfg.logf("%s: rolling out %s", m, c.Name)
		var r *roll
		start := func(ctx context.Context) (Participants, error) {
			var err error
			r, err = startRoll(ctx, eng, m, cfg, c, len(orders))
			return r, err
		}
		run, err := runOne(ctx, eng, m, cfg, plan{orders: orders, start: start})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m, err)
		}
		res := cfg.judge(ctx, eng, r, run, orders)
		run.Result.Violations = append(run.Result.Violations, res.Violations...)
		run.Result.InvariantsOK = run.Result.InvariantsOK && len(res.Violations) == 0
		runs, results = append(runs, run), append(results, res)
	}
	addResults(rep, runs)
	rep.Sections = append(rep.Sections, rollSection(c, results), timelineSection(results))
	rep.Extra = rollCharts(rep, runs, results)
	rep.Data = results
	return rep, nil
}

// maxViolations bounds the violations a rollout lists by order.
const maxViolations = 10

// judge checks which path each of the run's orders took: those started
// before the change (for the orchestration: whose first workflow task an
// old build ran; for the choreography: placed before the switch) the old
// one, those placed after the rollout the new one; and, for the
// orchestration, that no workflow task failed.
func (cfg Config) judge(ctx context.Context, eng *admin.EngineSet, r *roll, run *engineRun, orders []shop.Order) RollResult {
	res := RollResult{Mode: r.m, Events: r.events, Rolled: r.rolled}
	var byOrder []string
	rolled := r.rolled
	if r.err != nil {
		res.Violations = append(res.Violations, "the rollout: "+shop.OneLine(r.err))
		rolled = math.Inf(1) // no order was placed after a rollout that did not end
	}
	prefix := activities.ChoreographyPrefix
	if r.m == shop.ModeOrchestration {
		prefix = activities.OrchestrationPrefix
	}
	expectOld := false
	for i, o := range run.Load.orders {
		if o.refused || o.ended == 0 {
			continue
		}
		oldPath, failed, err := r.startedOld(ctx, orders[i].ID, o.placed.Seconds())
		byOrder = append(byOrder, failed...)
		if err != nil {
			byOrder = append(byOrder, fmt.Sprintf("order %s: %v", orders[i].ID, shop.OneLine(err)))
			continue
		}
		expectOld = expectOld || oldPath
		out := o.out
		took, tells := r.c.took(ctx, eng.Redis, prefix, out)
		switch {
		case !tells:
			res.Untold++
		case o.placed.Seconds() >= rolled && !took:
			byOrder = append(byOrder, fmt.Sprintf("order %s, placed after the rollout, did not take the new path (%s)", out.OrderID, out.Status))
		case oldPath && took:
			byOrder = append(byOrder, fmt.Sprintf("order %s, started before the change, took the new path (%s)", out.OrderID, out.Status))
		case took:
			res.NewPath++
		default:
			res.OldPath++
		}
	}
	if res.NewPath == 0 || (expectOld && res.OldPath == 0) {
		res.Violations = append(res.Violations, fmt.Sprintf("%d orders took the old path and %d the new one: want both", res.OldPath, res.NewPath))
	}
	if len(byOrder) > maxViolations {
		byOrder = append(byOrder[:maxViolations], fmt.Sprintf("and %d more", len(byOrder)-maxViolations))
	}
	res.Violations = append(res.Violations, byOrder...)
	for _, e := range res.Events {
		res.InFlight = append(res.InFlight, run.inFlightAt(e.At+e.Took))
	}
	return res
}

// startedOld reports whether the order started before the change: on the
// orchestration, an old build ran its first workflow task (with the
// workflow tasks of it that failed); on the choreography, it was placed
// before the change was switched on, if the change has a switch (a
// subscriber has none: it reads the stream from its start, so it also
// tells the customers of orders that ended before it ran).
func (r *roll) startedOld(ctx context.Context, orderID string, placed float64) (bool, []string, error) {
	if r.m == shop.ModeOrchestration {
		first, failed, err := taskHistory(ctx, r.eng.Temporal, orderID)
		return first != buildOf(r.c, true), failed, err
	}
	return r.switchT >= 0 && placed < r.switchT, nil, nil
}

// inFlightAt is how many of the run's orders were placed and not yet
// ended at t seconds since the first placement.
func (r *engineRun) inFlightAt(t float64) int64 {
	var n int64
	for _, o := range r.Load.orders {
		if !o.refused && o.placed.Seconds() <= t && (o.ended == 0 || o.ended.Seconds() > t) {
			n++
		}
	}
	return n
}

// rollSection is the table of the rollout per engine.
func rollSection(c Change, results []RollResult) bench.Section {
	sec := bench.Section{
		Title: "The rollout, per engine",
		Text: []string{"The change: " + c.What + ". " +
			"Old path and new path count the orders that took each (an order refused before the changed step cannot tell). " +
			"An order started before the change must finish on the old path: on the orchestration, one whose first workflow task an old build ran (its version marker); " +
			"on the choreography, one placed before the change was switched on, where it needs a switch. Every order placed after the rollout must take the new path. " +
			"A subscriber added to the choreography has no old path: its group reads the stream from its start, so it also tells the customers of orders that ended before it ran."},
		Header: []string{"ENGINE", "ROLLOUT DONE", "IN FLIGHT AT EACH STEP", "OLD PATH", "NEW PATH", "CANNOT TELL", "VERDICT"},
	}
	for _, r := range results {
		var flight []string
		for _, n := range r.InFlight {
			flight = append(flight, fmt.Sprint(n))
		}
		verdict := "OK"
		if len(r.Violations) > 0 {
			verdict = strings.Join(r.Violations, "; ")
		}
		sec.Rows = append(sec.Rows, []string{string(r.Mode), fmt.Sprintf("%.1fs", r.Rolled), strings.Join(flight, ", "),
			fmt.Sprint(r.OldPath), fmt.Sprint(r.NewPath), fmt.Sprint(r.Untold), verdict})
	}
	return sec
}

// timelineSection lists each engine's rollout as it happened.
func timelineSection(results []RollResult) bench.Section {
	sec := bench.Section{Title: "Timeline", Text: []string{"Seconds since the first placement; took is how long the step took (a new orchestration worker: until its build was the deployment's current version; an old worker: until it had drained and ended)."},
		Header: []string{"ENGINE", "AT", "TOOK", "WHAT", "ORDERS IN FLIGHT"}}
	for _, r := range results {
		for i, e := range r.Events {
			sec.Rows = append(sec.Rows, []string{string(r.Mode), fmt.Sprintf("%.1fs", e.At), fmt.Sprintf("%.1fs", e.Took), e.What, fmt.Sprint(r.InFlight[i])})
		}
	}
	return sec
}

// rollCharts are, per engine, its orders in flight over the load with
// the rollout's steps marked.
func rollCharts(rep *bench.Report, runs []*engineRun, results []RollResult) []bench.ReportChart {
	var out []bench.ReportChart
	for i, run := range runs {
		c := overTime(fmt.Sprintf("Orders in flight while the %s workers are replaced", run.Mode), "orders placed and not ended", runs[i:i+1], shading{}, inFlight)
		c.MarkLabel = "a worker started or stopped, a switch"
		for _, e := range results[i].Events {
			c.Marks = append(c.Marks, e.At+e.Took)
		}
		c.Caption = append([]string{"Sampled every second; each dashed line is a step of the rollout done (the timeline)."}, captions(rep)...)
		out = append(out, bench.ReportChart{Name: "in-flight-" + string(run.Mode), Mode: run.Mode, Chart: c})
	}
	return out
}

// checkChange refuses a change experiment that cannot run, in one line.
func (c Config) checkChange() error {
	if _, ok := changeNamed(c.Change); !ok {
		return fmt.Errorf("--change must be one of %s, got %q", strings.Join(ChangeNames(), ", "), c.Change)
	}
	for _, b := range []struct{ flag, path string }{{"--old-worker", c.OldWorker}, {"--new-worker", c.NewWorker}} {
		if st, err := os.Stat(b.path); b.path == "" || err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			return fmt.Errorf("%s %q: no such executable file (the worker binary to roll from or to)", b.flag, b.path)
		}
	}
	switch {
	case c.Instances < 1 || c.Instances > 8:
		return fmt.Errorf("--instances must be from 1 to 8 for a rollout, got %d", c.Instances)
	case c.Orders < 10*(c.Instances+1) || c.Orders > bench.MaxOrders:
		return fmt.Errorf("--orders must be from %d (ten per wave) to %d, got %d", 10*(c.Instances+1), bench.MaxOrders, c.Orders)
	}
	return nil
}
