package workflows

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/ordersaga/ordersaga/shop"
)

// Engine runs orders as OrderSaga workflows: it places, waits for, queries
// and shows the history of orders through a Temporal client.
type Engine struct {
	client  client.Client
	catalog shop.Catalog
}

var _ shop.Engine = (*Engine)(nil)

// NewEngine returns an engine that places orders through c and validates
// them against catalog.
func NewEngine(c client.Client, catalog shop.Catalog) *Engine {
	return &Engine{client: c, catalog: catalog}
}

// Mode returns shop.ModeOrchestration.
func (e *Engine) Mode() shop.Mode { return shop.ModeOrchestration }

// Place validates the order and starts its workflow. The workflow ID is the
// order's business key and is never reused: placing an order ID a second
// time, even after the first saga ended, fails with shop.ErrDuplicateOrder.
func (e *Engine) Place(ctx context.Context, o shop.Order) error {
	if err := o.Validate(e.catalog); err != nil {
		return fmt.Errorf("place order: %w", err)
	}
	opts := client.StartWorkflowOptions{
		ID:                                       shop.WorkflowID(o.ID),
		TaskQueue:                                TaskQueue,
		WorkflowIDReusePolicy:                    enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy:                 enums.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		EnableEagerStart:                         true,
	}
	if _, err := e.client.ExecuteWorkflow(ctx, opts, OrderSaga, o); err != nil {
		if temporal.IsWorkflowExecutionAlreadyStartedError(err) {
			return fmt.Errorf("place order %s: %w", o.ID, shop.ErrDuplicateOrder)
		}
		return fmt.Errorf("place order %s: %w", o.ID, err)
	}
	return nil
}

// Wait blocks until the order's saga has ended and returns its outcome. A
// FAILED outcome (a compensation could not finish) is returned with a nil
// error, taken from the details of the workflow's CompensationFailed error.
// A workflow that ended without an outcome (terminated, timed out) is an error.
func (e *Engine) Wait(ctx context.Context, orderID string) (shop.Outcome, error) {
	var out shop.Outcome
	err := e.client.GetWorkflow(ctx, shop.WorkflowID(orderID), "").Get(ctx, &out)
	if err == nil {
		return out, nil
	}
	if isNotFound(err) {
		return shop.Outcome{}, fmt.Errorf("wait for order %s: %w", orderID, shop.ErrUnknownOrder)
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == ErrTypeCompensationFailed && appErr.HasDetails() {
		if derr := appErr.Details(&out); derr != nil {
			return shop.Outcome{}, fmt.Errorf("wait for order %s: read outcome of %v: %w", orderID, err, derr)
		}
		return out, nil
	}
	return shop.Outcome{}, fmt.Errorf("wait for order %s: %w", orderID, err)
}

// Status returns the order's progress: for a closed workflow its result
// (no worker needed), for a running one the answer of its status query.
func (e *Engine) Status(ctx context.Context, orderID string) (shop.Progress, error) {
	d, err := e.client.DescribeWorkflowExecution(ctx, shop.WorkflowID(orderID), "")
	if err != nil {
		if isNotFound(err) {
			return shop.Progress{}, fmt.Errorf("status of order %s: %w", orderID, shop.ErrUnknownOrder)
		}
		return shop.Progress{}, fmt.Errorf("status of order %s: %w", orderID, err)
	}
	switch d.GetWorkflowExecutionInfo().GetStatus() {
	case enums.WORKFLOW_EXECUTION_STATUS_COMPLETED, enums.WORKFLOW_EXECUTION_STATUS_FAILED:
		out, err := e.Wait(ctx, orderID)
		if err != nil {
			return shop.Progress{}, err
		}
		return shop.Progress{Outcome: out}, nil
	case enums.WORKFLOW_EXECUTION_STATUS_RUNNING:
	default:
		return shop.Progress{}, fmt.Errorf("status of order %s: its workflow ended without an outcome (%s)",
			orderID, d.GetWorkflowExecutionInfo().GetStatus())
	}
	v, err := e.client.QueryWorkflow(ctx, shop.WorkflowID(orderID), "", QueryStatus)
	if err != nil {
		if isNotFound(err) {
			return shop.Progress{}, fmt.Errorf("status of order %s: %w", orderID, shop.ErrUnknownOrder)
		}
		return shop.Progress{}, fmt.Errorf("status of order %s: %w", orderID, err)
	}
	var p shop.Progress
	if err := v.Get(&p); err != nil {
		return shop.Progress{}, fmt.Errorf("status of order %s: decode: %w", orderID, err)
	}
	return p, nil
}

// History returns the order's workflow history as a timeline; see Timeline.
func (e *Engine) History(ctx context.Context, orderID string) ([]shop.Event, error) {
	it := e.client.GetWorkflowHistory(ctx, shop.WorkflowID(orderID), "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var t timeline
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			if isNotFound(err) {
				return nil, fmt.Errorf("history of order %s: %w", orderID, shop.ErrUnknownOrder)
			}
			return nil, fmt.Errorf("history of order %s: %w", orderID, err)
		}
		t.add(ev)
	}
	return t.events, nil
}

func isNotFound(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf)
}

// Repair is not implemented yet for orchestration.
func (e *Engine) Repair(_ context.Context, orderID string) error {
	return fmt.Errorf("repair order %s: %w", orderID, errors.ErrUnsupported)
}
