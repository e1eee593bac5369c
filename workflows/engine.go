package workflows

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ordersaga/ordersaga/shop"
)

// MemoPlacement is the memo field that holds the token of the placement
// that started an order's workflow (see Engine.Place).
const MemoPlacement = "placement"

// MemoItems is the memo field that holds the order's items as placed, so
// that verify can check its charge against their price.
const MemoItems = "items"

// Engine runs orders as OrderSaga workflows: it places, waits for, queries,
// repairs and shows the history of orders through a Temporal client.
type Engine struct {
	client  client.Client
	catalog shop.Catalog
	// PlaceAttempts bounds how often Place starts the workflow when the
	// server does not answer (each attempt with the SDK's own retries).
	PlaceAttempts int
	// FailedPoll is how often Wait looks whether an awaited order is
	// FAILED (while it long-polls for the workflow to close). Set it before
	// the first Wait.
	FailedPoll time.Duration

	watchOnce sync.Once
	watch     *failedWatch
}

// NewEngine returns an engine that places orders through c and validates
// them against catalog.
func NewEngine(c client.Client, catalog shop.Catalog) *Engine {
	return &Engine{client: c, catalog: catalog, PlaceAttempts: 3, FailedPoll: time.Second}
}

// Mode returns shop.ModeOrchestration.
func (e *Engine) Mode() shop.Mode { return shop.ModeOrchestration }

// Place validates the order and starts its workflow, with the order's story
// for the UI (a static summary and details, OrderStatus PENDING). The
// workflow ID is the order's business key and is never reused: placing an
// order ID a second time, even after the first saga ended, fails with
// shop.ErrDuplicateOrder.
//
// The order is priced here (shop.Order.Priced): its workflow charges the
// amount it was placed at, whatever the worker's catalog says later.
//
// The placement carries a token, kept in the workflow's memo: when the
// server does not answer (a lost reply, an outage longer than the client's
// own retries), Place starts the workflow again, up to PlaceAttempts times
// while ctx lasts, and a workflow that already exists with its own token
// is this placement, which succeeds.
func (e *Engine) Place(ctx context.Context, o shop.Order) error {
	if err := o.Validate(e.catalog); err != nil {
		return fmt.Errorf("place order: %w", err)
	}
	o = o.Priced(e.catalog)
	token := uuid.NewString()
	opts := e.startOptions(o, token)
	var err error
	for attempt := 1; ; attempt++ {
		_, err = e.client.ExecuteWorkflow(ctx, opts, WorkflowType, o)
		if err == nil {
			return nil
		}
		if temporal.IsWorkflowExecutionAlreadyStartedError(err) {
			return e.placedBefore(ctx, o.ID, token)
		}
		if !retryable(err) || attempt >= max(e.PlaceAttempts, 1) || ctx.Err() != nil {
			return fmt.Errorf("place order %s: %w", o.ID, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("place order %s: %w (after %v)", o.ID, ctx.Err(), err)
		case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
		}
	}
}

func (e *Engine) startOptions(o shop.Order, token string) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                                       shop.WorkflowID(o.ID),
		TaskQueue:                                TaskQueue,
		WorkflowIDReusePolicy:                    enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy:                 enums.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		// Eager only where a worker shares the client (tests); the
		// starter and the live page have none, so their orders start
		// like the bench's baseline, which does not ask for it.
		EnableEagerStart:      true,
		Memo:                  map[string]any{MemoPlacement: token, MemoItems: o.Items},
		TypedSearchAttributes: temporal.NewSearchAttributes(OrderStatusKey.ValueSet(string(shop.StatusPending))),
		StaticSummary:         StaticSummary(o, e.catalog),
		StaticDetails:         StaticDetails(o, e.catalog),
	}
}

// placedBefore tells a placement whose workflow already exists: with the
// same token it is this placement's own (its reply was lost), otherwise the
// order was placed before.
func (e *Engine) placedBefore(ctx context.Context, orderID, token string) error {
	d, err := e.client.DescribeWorkflowExecution(ctx, shop.WorkflowID(orderID), "")
	if err != nil {
		return fmt.Errorf("place order %s: it exists, and describing it failed: %w", orderID, err)
	}
	var mine string
	if p := d.GetWorkflowExecutionInfo().GetMemo().GetFields()[MemoPlacement]; p != nil {
		_ = converter.GetDefaultDataConverter().FromPayload(p, &mine)
	}
	if mine == token {
		return nil
	}
	return fmt.Errorf("place order %s: %w", orderID, shop.ErrDuplicateOrder)
}

// retryable reports whether starting a workflow again may succeed where
// this attempt failed: the server was unreachable, overloaded or slow.
func retryable(err error) bool {
	var (
		unavailable *serviceerror.Unavailable
		deadline    *serviceerror.DeadlineExceeded
		exhausted   *serviceerror.ResourceExhausted
		aborted     *serviceerror.Aborted
	)
	return errors.As(err, &unavailable) || errors.As(err, &deadline) || errors.As(err, &exhausted) ||
		errors.As(err, &aborted) || errors.Is(err, context.DeadlineExceeded)
}

// Wait blocks until the order is terminal and returns its outcome. An order
// is terminal when its workflow has closed with an outcome (COMPLETED,
// COMPENSATED, or a cancelled order's COMPENSATED outcome carried by its
// Canceled state) or when it is FAILED: then its workflow still runs,
// waiting for a repair, and Wait returns the FAILED outcome without waiting
// for it. A workflow that ended without an outcome (terminated, timed out)
// is an error.
//
// Wait long-polls for the workflow to close; the engine's failedWatch looks
// for FAILED orders among those awaited, one visibility query every
// FailedPoll for all of them.
func (e *Engine) Wait(ctx context.Context, orderID string) (shop.Outcome, error) {
	failed, stop := e.failedWatch().watch(shop.WorkflowID(orderID))
	defer stop()
	type closed struct {
		out shop.Outcome
		err error
	}
	for {
		pctx, cancel := context.WithCancel(ctx)
		done := make(chan closed, 1)
		go func() {
			out, err := e.result(pctx, orderID)
			done <- closed{out, err}
		}()
		var r closed
		select {
		case r = <-done:
			cancel()
			return r.out, r.err
		case <-failed:
			cancel()
			r = <-done
		}
		if r.err == nil || ctx.Err() != nil {
			return r.out, r.err
		}
		// Visibility says FAILED; the workflow's own state decides.
		d, err := e.describe(ctx, orderID, "wait for order")
		if err != nil {
			return shop.Outcome{}, err
		}
		if out, isFailed, err := failedOutcome(d); isFailed || err != nil {
			if err != nil {
				err = fmt.Errorf("wait for order %s: %w", orderID, err)
			}
			return out, err
		}
	}
}

func (e *Engine) failedWatch() *failedWatch {
	e.watchOnce.Do(func() {
		e.watch = &failedWatch{client: e.client, interval: max(e.FailedPoll, 10*time.Millisecond)}
	})
	return e.watch
}

// result waits for the workflow to close and reads its outcome.
func (e *Engine) result(ctx context.Context, orderID string) (shop.Outcome, error) {
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
	var canceled *temporal.CanceledError
	if errors.As(err, &canceled) && canceled.HasDetails() {
		if derr := canceled.Details(&out); derr != nil {
			return shop.Outcome{}, fmt.Errorf("wait for order %s: read outcome of %v: %w", orderID, err, derr)
		}
		return out, nil
	}
	return shop.Outcome{}, fmt.Errorf("wait for order %s: %w", orderID, err)
}

func (e *Engine) describe(ctx context.Context, orderID, what string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	d, err := e.client.DescribeWorkflowExecution(ctx, shop.WorkflowID(orderID), "")
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("%s %s: %w", what, orderID, shop.ErrUnknownOrder)
		}
		return nil, fmt.Errorf("%s %s: %w", what, orderID, err)
	}
	return d, nil
}

// failedOutcome reads, from a running workflow's description, whether the
// order is FAILED (its OrderStatus search attribute) and then its outcome
// (its MemoOutcome memo).
func failedOutcome(d *workflowservice.DescribeWorkflowExecutionResponse) (shop.Outcome, bool, error) {
	info := d.GetWorkflowExecutionInfo()
	if info.GetStatus() != enums.WORKFLOW_EXECUTION_STATUS_RUNNING || keyword(info.GetSearchAttributes(), SearchAttrOrderStatus) != string(shop.StatusFailed) {
		return shop.Outcome{}, false, nil
	}
	p := info.GetMemo().GetFields()[MemoOutcome]
	if p == nil {
		return shop.Outcome{}, true, fmt.Errorf("FAILED, but its memo has no %s", MemoOutcome)
	}
	var out shop.Outcome
	if err := converter.GetDefaultDataConverter().FromPayload(p, &out); err != nil {
		return shop.Outcome{}, true, fmt.Errorf("decode the FAILED outcome: %w", err)
	}
	return out, true, nil
}

// keyword reads a keyword search attribute, "" when it is not set.
func keyword(sa *commonpb.SearchAttributes, name string) string {
	p := sa.GetIndexedFields()[name]
	if p == nil {
		return ""
	}
	var s string
	if err := converter.GetDefaultDataConverter().FromPayload(p, &s); err != nil {
		return ""
	}
	return s
}

// Status returns the order's progress: for a closed workflow, and a FAILED
// order waiting for a repair, its outcome (no worker needed); for a running
// one the answer of its status query.
func (e *Engine) Status(ctx context.Context, orderID string) (shop.Progress, error) {
	d, err := e.describe(ctx, orderID, "status of order")
	if err != nil {
		return shop.Progress{}, err
	}
	switch st := d.GetWorkflowExecutionInfo().GetStatus(); st {
	case enums.WORKFLOW_EXECUTION_STATUS_COMPLETED, enums.WORKFLOW_EXECUTION_STATUS_FAILED, enums.WORKFLOW_EXECUTION_STATUS_CANCELED:
		out, err := e.result(ctx, orderID)
		if err != nil {
			return shop.Progress{}, err
		}
		return shop.Progress{Outcome: out}, nil
	case enums.WORKFLOW_EXECUTION_STATUS_RUNNING:
		if out, failed, err := failedOutcome(d); failed || err != nil {
			if err != nil {
				return shop.Progress{}, fmt.Errorf("status of order %s: %w", orderID, err)
			}
			return shop.Progress{Outcome: out}, nil
		}
	default:
		return shop.Progress{}, fmt.Errorf("status of order %s: its workflow ended without an outcome (%s)", orderID, st)
	}
	qctx, cancel := context.WithTimeout(ctx, statusQueryTimeout)
	defer cancel()
	v, err := e.client.QueryWorkflow(qctx, shop.WorkflowID(orderID), "", QueryStatus)
	if err != nil {
		if isNotFound(err) {
			return shop.Progress{}, fmt.Errorf("status of order %s: %w", orderID, shop.ErrUnknownOrder)
		}
		if ctx.Err() == nil && unanswered(err) {
			// No worker answers the query (none runs, or none is free):
			// the server's record says the order runs, and whether a
			// compensation of it retries past the alert threshold.
			st := shop.StatusPending
			if keyword(d.GetWorkflowExecutionInfo().GetSearchAttributes(), SearchAttrOrderStatus) == string(shop.StatusCompensating) {
				st = shop.StatusCompensating
			}
			return shop.Progress{Outcome: shop.Outcome{Status: st}}, nil
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

// Repair asks the FAILED order's workflow to run its refused compensations
// again (the UpdateRepair update) and returns once the workflow accepted:
// Wait then returns the outcome of the repair. An order that is not FAILED
// (or whose workflow has closed) is not repairable: shop.ErrNotRepairable;
// while another repair runs, shop.ErrRepairRunning; once a repair ended it,
// shop.ErrRepaired. The workflow must have a worker to accept the repair.
//
// The update's ID is the order's repair round (RepairUpdateID): the same
// for every call while the order stays in one FAILED round, so a call
// retried after a lost reply, or made twice at once, is the same update
// and returns the first one's result instead of a refusal. Once the
// repair has closed the workflow, a call says shop.ErrRepaired.
func (e *Engine) Repair(ctx context.Context, orderID string) error {
	d, err := e.describe(ctx, orderID, "repair order")
	if err != nil {
		return err
	}
	if st := d.GetWorkflowExecutionInfo().GetStatus(); st != enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return e.closedRepair(ctx, orderID, st.String())
	}
	round, err := e.repairRound(ctx, orderID)
	if err != nil {
		return err
	}
	h, err := e.client.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   shop.WorkflowID(orderID),
		UpdateID:     RepairUpdateID(round.failed),
		UpdateName:   UpdateRepair,
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, nil)
	}
	var appErr *temporal.ApplicationError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &appErr) && appErr.Type() == ErrTypeNotRepairable:
		return fmt.Errorf("repair order %s: %s: %w", orderID, appErr.Message(), shop.ErrNotRepairable)
	case errors.As(err, &appErr) && appErr.Type() == ErrTypeRepairRunning:
		return fmt.Errorf("repair order %s: %w", orderID, shop.ErrRepairRunning)
	case errors.As(err, &appErr) && appErr.Type() == ErrTypeRepaired:
		return fmt.Errorf("repair order %s: %w", orderID, shop.ErrRepaired)
	case isNotFound(err):
		return e.closedRepair(ctx, orderID, "closed")
	}
	return fmt.Errorf("repair order %s: %w", orderID, err)
}

// statusQueryTimeout bounds the status query: a worker answers it in
// milliseconds, and while none runs the server holds it until the deadline.
const statusQueryTimeout = 5 * time.Second

// unanswered: the query got no answer from a worker (it timed out, or the
// server gave up on it), as opposed to a worker's failure to answer.
func unanswered(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	switch status.Code(err) {
	case codes.DeadlineExceeded, codes.Canceled, codes.Unavailable:
		return true
	}
	var dl *serviceerror.DeadlineExceeded
	var ca *serviceerror.Canceled
	return errors.As(err, &dl) || errors.As(err, &ca)
}

// RepairUpdateID is the ID of the repair update of an order's round-th
// FAILED round (1 for its first).
func RepairUpdateID(round int) string { return fmt.Sprintf("%s-%d", UpdateRepair, round) }

// repairRound is what an order's history says of its repairs: how often
// it became FAILED, and the ID of the last repair accepted.
type repairRound struct {
	failed   int
	accepted string
}

// repairRound reads the order's history for its repair round.
func (e *Engine) repairRound(ctx context.Context, orderID string) (repairRound, error) {
	var r repairRound
	it := e.client.GetWorkflowHistory(ctx, shop.WorkflowID(orderID), "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return r, fmt.Errorf("repair order %s: read its history: %w", orderID, err)
		}
		if a := ev.GetUpsertWorkflowSearchAttributesEventAttributes(); keyword(a.GetSearchAttributes(), SearchAttrOrderStatus) == string(shop.StatusFailed) {
			r.failed++
		}
		if a := ev.GetWorkflowExecutionUpdateAcceptedEventAttributes(); a.GetAcceptedRequest().GetInput().GetName() == UpdateRepair {
			r.accepted = a.GetAcceptedRequest().GetMeta().GetUpdateId()
		}
	}
	return r, nil
}

// closedRepair is the answer to a repair of an order whose workflow has
// closed: shop.ErrRepaired when its history holds an accepted repair (the
// caller then shows the outcome that repair reached), else
// shop.ErrNotRepairable.
func (e *Engine) closedRepair(ctx context.Context, orderID, state string) error {
	r, err := e.repairRound(ctx, orderID)
	switch {
	case err != nil:
		return err
	case r.accepted != "":
		return fmt.Errorf("repair order %s: %w", orderID, shop.ErrRepaired)
	}
	return fmt.Errorf("repair order %s: its workflow has closed (%s): %w", orderID, state, shop.ErrNotRepairable)
}

func isNotFound(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf)
}
