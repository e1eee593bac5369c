// Package baseline holds the bare Temporal workload that the bench measures
// the orchestration engine against: a workflow that runs three no-op
// activities one after the other, as OrderSaga runs its three steps, with no
// saga logic, no Redis and no fault plan. The orchestration worker registers
// both, so a running worker can serve a baseline run on the saga's task queue.
package baseline

import (
	"context"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Steps is how many activities BaselineWorkflow runs, one per saga step.
const Steps = 3

// BaselineWorkflow runs NoopActivity Steps times in a row and returns.
func BaselineWorkflow(ctx workflow.Context, id string) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 50 * time.Millisecond, MaximumAttempts: 3},
	})
	for step := range Steps {
		if err := workflow.ExecuteActivity(ctx, NoopActivity, step).Get(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}

// NoopActivity does nothing.
func NoopActivity(context.Context, int) error { return nil }
