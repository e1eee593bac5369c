package render

import (
	"slices"

	"github.com/ordersaga/ordersaga/shop"
)

// StepLine is what became of one step of an order.
type StepLine struct {
	Step shop.Step `json:"step"`
	// State is "running", "done", "failed", "undoing", "undone" or "kept"
	// (done, and not undone by an order that did not complete: its
	// compensation failed or has not run yet).
	State string `json:"state"`
	// Text says it in words: "reserved, then released", "failed:
	// FraudSuspected: …".
	Text string `json:"text"`
}

// stepWords are what a step does and what its compensation does ("" for
// the fraud check, which has none).
var stepWords = map[shop.Step]struct{ done, undone string }{
	shop.StepInventory: {"reserved", "released"},
	shop.StepFraud:     {"cleared", ""},
	shop.StepPayment:   {"charged", "refunded"},
	shop.StepShipping:  {"scheduled", "cancelled"},
}

// StepLines lists the steps an order reached, in saga order, each with
// what became of it. A step the order never reached has no line: an order
// of the plan before the fraud check has none for it, and neither has an
// order that stopped before it.
func StepLines(p shop.Progress) []StepLine {
	var out []StepLine
	for _, s := range shop.Steps {
		if l, ok := stepLine(p, s); ok {
			out = append(out, l)
		}
	}
	return out
}

func stepLine(p shop.Progress, s shop.Step) (StepLine, bool) {
	words := stepWords[s]
	done := slices.Contains(p.Steps, s)
	switch {
	case done && slices.Contains(p.Compensated, s):
		return StepLine{s, "undone", words.done + ", then " + words.undone}, true
	case done && p.Current != "" && p.Current == s.Compensation():
		return StepLine{s, "undoing", words.done + ", " + string(p.Current) + " running"}, true
	case done && p.Status != shop.StatusCompleted && p.Status.Terminal() && s.Compensation() != "":
		return StepLine{s, "kept", words.done + ", not " + words.undone}, true
	case done:
		return StepLine{s, "done", words.done}, true
	case s == p.FailedStep:
		return StepLine{s, "failed", "failed: " + Dash(p.Reason)}, true
	case p.Current != "" && p.Current == s.Forward():
		return StepLine{s, "running", string(p.Current) + " running"}, true
	}
	return StepLine{}, false
}
