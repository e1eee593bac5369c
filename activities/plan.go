package activities

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/shop"
)

// SagaStepsKey records the steps new orders of an engine's prefix take:
// the plan placement stamps on each order (see the choreography's Saga
// Steps). Like P it is a setting of the deployment, not state: a reset
// keeps it. Every process records it when none is (EnsureSagaSteps); an
// operator switches it (starter fraud-check).
func SagaStepsKey(prefix string) string { return prefix + "saga-steps" }

// FormatSteps writes a plan as it is recorded: its steps' names joined by
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

// EnsureSagaSteps records the plan of new orders when none is recorded:
// shop.Steps on a fresh deployment (fresh: no partitions were recorded
// before this process came), shop.StepsBeforeFraud on a deployment set up
// by an older version, so that an upgrade never switches the plan by
// itself. It is called where P is recorded (SET NX, like it).
func EnsureSagaSteps(ctx context.Context, rdb redis.UniversalClient, prefix string, fresh bool) error {
	plan := shop.StepsBeforeFraud
	if fresh {
		plan = shop.Steps
	}
	if err := rdb.SetNX(ctx, SagaStepsKey(prefix), FormatSteps(plan), 0).Err(); err != nil {
		return fmt.Errorf("record the saga's steps: %w", err)
	}
	return nil
}

// SagaSteps returns the plan recorded for prefix, and whether one is; with
// none, shop.StepsBeforeFraud.
func SagaSteps(ctx context.Context, rdb redis.UniversalClient, prefix string) ([]shop.Step, bool, error) {
	s, err := rdb.Get(ctx, SagaStepsKey(prefix)).Result()
	if errors.Is(err, redis.Nil) {
		return slices.Clone(shop.StepsBeforeFraud), false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read the saga's steps: %w", err)
	}
	steps, err := ParseSteps(s)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", SagaStepsKey(prefix), err)
	}
	return steps, true, nil
}
