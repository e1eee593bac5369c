package choreography

import (
	"slices"

	"github.com/ordersaga/ordersaga/shop"
)

// An order's plan is the list of steps it takes, stamped at placement
// (Saga.Steps) from the plan the deployment records
// (activities.SagaStepsKey), and kept in the order's record. Inserting a
// step is rolled out in two moves: first every service learns it (the
// fraud service runs, inventory and payment read its stream), while new
// orders still take the old plan; then the recorded plan is switched
// (starter fraud-check on), and only orders placed after that take the
// step. An order keeps its plan to its end, whatever is switched meanwhile.

// planOf is the plan of an order: its stamped steps, or, for an order
// placed before plans existed, shop.StepsBeforeFraud.
func planOf(s Saga) []shop.Step {
	if len(s.Steps) == 0 {
		return shop.StepsBeforeFraud
	}
	return s.Steps
}

// applies reports whether r runs on an event of type t of the saga s: a
// compensation always does; a forward operation when its step is the one
// that follows, in the order's plan, the step t reports a success of (the
// first step on OrderPlaced).
func (r reaction) applies(t EventType, s Saga) bool {
	if r.op.IsCompensation() {
		return true
	}
	after, result := opOf(t)
	if after != "" && result != "ok" {
		return false
	}
	return nextStep(planOf(s), after.Step()) == r.op.Step()
}

// nextStep is the step of plan after the step after ("" when none), its
// first step when after is "".
func nextStep(plan []shop.Step, after shop.Step) shop.Step {
	if after == "" {
		return plan[0]
	}
	i := slices.Index(plan, after)
	if i < 0 || i+1 >= len(plan) {
		return ""
	}
	return plan[i+1]
}
