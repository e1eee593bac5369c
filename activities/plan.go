package activities

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ordersaga/ordersaga/shop"
)

// FormatSteps writes an order's plan as it is recorded: its steps' names joined by
// commas, "inventory,fraud,payment,shipping".
func FormatSteps(steps []shop.Step) string {
	names := make([]string, len(steps))
	for i, s := range steps {
		names[i] = string(s)
	}
	return strings.Join(names, ",")
}

// ParseSteps reads a plan written by FormatSteps: known steps, none twice,
// the reservation first.
func ParseSteps(s string) ([]shop.Step, error) {
	var out []shop.Step
	for name := range strings.SplitSeq(s, ",") {
		st, err := shop.ParseStep(strings.TrimSpace(name))
		if err != nil {
			return nil, err
		}
		if slices.Contains(out, st) {
			return nil, fmt.Errorf("step %s listed twice in %q", st, s)
		}
		out = append(out, st)
	}
	if len(out) == 0 || out[0] != shop.StepInventory {
		return nil, fmt.Errorf("plan %q does not start with the reservation", s)
	}
	return out, nil
}
