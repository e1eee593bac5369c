package workflows

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"
	"golang.org/x/sync/errgroup"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/internal/platform/config"
	"github.com/ordersaga/ordersaga/shop"
)

// Source is the engine together with the Redis its participants use: what
// the invariant checks need.
type Source struct {
	*Engine
	rdb redis.UniversalClient
}

// WithRedis returns the engine as a source of invariant checks (see internal/app/verify) over rdb.
func (e *Engine) WithRedis(rdb redis.UniversalClient) *Source { return &Source{Engine: e, rdb: rdb} }

// Place refuses the order at once, with config.ErrRedisFull, when the
// participants' Redis is full (see config.Writable): Temporal would accept
// the workflow, and its first step could only wait for memory. Otherwise it
// places the order as Engine.Place does. An order placed just before Redis
// fills up waits in its step, and finishes once memory frees.
func (s *Source) Place(ctx context.Context, o shop.Order) error {
	if err := o.Validate(s.catalog); err != nil {
		return fmt.Errorf("place order: %w", err)
	}
	if err := config.Writable(ctx, s.rdb); err != nil {
		return fmt.Errorf("place order %s: %w", o.ID, err)
	}
	return s.Engine.Place(ctx, o)
}

// Prefix is the Redis key prefix of the orchestration participants.
func (s *Source) Prefix() string { return activities.OrchestrationPrefix }

// Orders lists the OrderSaga workflows started since the engine's state was
// last reset and not settled since (see Settler), with each one's outcome.
// Visibility can lag a moment behind, so a workflow listed as running is
// described again before it counts.
func (s *Source) Orders(ctx context.Context) ([]shop.Record, error) {
	epoch, err := activities.Epoch(ctx, s.rdb, activities.OrchestrationPrefix)
	if err != nil {
		return nil, err
	}
	query := "WorkflowType = 'OrderSaga'"
	if !epoch.IsZero() {
		query += fmt.Sprintf(" AND StartTime >= '%s'", epoch.UTC().Format(time.RFC3339Nano))
	}
	var all []listed
	var token []byte
	for {
		resp, err := s.client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: query, PageSize: 1000, NextPageToken: token,
		})
		if err != nil {
			return nil, fmt.Errorf("list order workflows: %w", err)
		}
		for _, ex := range resp.GetExecutions() {
			l := listed{id: ex.GetExecution().GetWorkflowId(), start: ex.GetStartTime().AsTime(), status: ex.GetStatus()}
			if p := ex.GetMemo().GetFields()[MemoItems]; p != nil { // none before the memo existed
				if err := converter.GetDefaultDataConverter().FromPayload(p, &l.items); err != nil {
					return nil, fmt.Errorf("%s: decode its items: %w", l.id, err)
				}
			}
			l.notifies = notifies(ex.GetSearchAttributes().GetIndexedFields()[changeVersionAttr])
			all = append(all, l)
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 {
			break
		}
	}
	if all, err = s.unsettled(ctx, all); err != nil {
		return nil, err
	}

	out := make([]shop.Record, len(all))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i, l := range all {
		g.Go(func() (err error) {
			out[i], err = s.order(gctx, l.id, l.start, l.status)
			out[i].Items, out[i].Unnotified = l.items, !l.notifies
			return err
		})
	}
	return out, g.Wait()
}

// listed is a workflow as visibility lists it, with its items as placed
// (from its memo; none for orders placed before the memo held them).
type listed struct {
	id     string
	start  time.Time
	status enums.WorkflowExecutionStatus
	items  []shop.Item
	// notifies: the workflow runs versionNotify or later, so it tells
	// the customer once the order ends.
	notifies bool
}

// changeVersionAttr is the search attribute workflow.GetVersion tags a
// workflow with: "<change ID>-<version>".
const changeVersionAttr = "TemporalChangeVersion"

// notifies reports whether a workflow's TemporalChangeVersion says it runs
// versionNotify or later.
func notifies(p *commonpb.Payload) bool {
	var versions []string
	if p == nil || converter.GetDefaultDataConverter().FromPayload(p, &versions) != nil {
		return false
	}
	for _, v := range versions {
		n, ok := strings.CutPrefix(v, changeID+"-")
		if k, err := strconv.Atoi(n); ok && err == nil && workflow.Version(k) >= versionNotify {
			return true
		}
	}
	return false
}

// unsettled leaves out the workflows whose orders were settled after they
// started: their records are folded into the settled totals.
func (s *Source) unsettled(ctx context.Context, all []listed) ([]listed, error) {
	lay, err := activities.LayoutOf(ctx, s.rdb, activities.OrchestrationPrefix)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(all))
	for i, l := range all {
		ids[i] = l.id[len(shop.WorkflowID("")):]
	}
	at, err := activities.SettledAt(ctx, s.rdb, lay, ids)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for i, l := range all {
		if at[i].IsZero() || at[i].Before(l.start) {
			out = append(out, l)
		}
	}
	return out, nil
}

func (s *Source) order(ctx context.Context, workflowID string, start time.Time, status enums.WorkflowExecutionStatus) (shop.Record, error) {
	id := workflowID[len(shop.WorkflowID("")):]
	o := shop.Record{ID: id, Placed: start, Status: shop.StatusPending}
	if status == enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
		d, err := s.client.DescribeWorkflowExecution(ctx, workflowID, "")
		if err != nil {
			return o, fmt.Errorf("describe %s: %w", workflowID, err)
		}
		status = d.GetWorkflowExecutionInfo().GetStatus()
		// A FAILED order's workflow runs on, waiting for a repair.
		out, failed, err := failedOutcome(d)
		if err != nil {
			return o, fmt.Errorf("order %s: %w", id, err)
		}
		if failed {
			o.Status, o.Outcome = out.Status, out
			return o, nil
		}
	}
	switch status {
	case enums.WORKFLOW_EXECUTION_STATUS_RUNNING:
		return o, nil
	case enums.WORKFLOW_EXECUTION_STATUS_COMPLETED, enums.WORKFLOW_EXECUTION_STATUS_FAILED, enums.WORKFLOW_EXECUTION_STATUS_CANCELED:
		out, err := s.result(ctx, id)
		if err != nil && status == enums.WORKFLOW_EXECUTION_STATUS_CANCELED {
			break // cancelled without an outcome
		}
		if err != nil {
			return o, err
		}
		o.Status, o.Outcome = out.Status, out
		return o, nil
	}
	// Terminated, timed out, cancelled without an outcome: the saga never
	// reached a status of its own.
	o.Status = shop.Status("ENDED_" + status.String())
	return o, nil
}

// Extra has nothing to add for orchestration: Temporal keeps no queue of
// ours that could be left behind.
func (s *Source) Extra(context.Context) ([]shop.Violation, error) { return nil, nil }

// Settled returns the totals of the orders settled by the worker's order
// retention (see Settler).
func (s *Source) Settled(ctx context.Context) (shop.Settled, error) {
	lay, err := activities.LayoutOf(ctx, s.rdb, activities.OrchestrationPrefix)
	if err != nil {
		return shop.Settled{}, err
	}
	parts, err := activities.SettledTotals(ctx, s.rdb, lay)
	if err != nil {
		return shop.Settled{}, err
	}
	out := shop.Settled{Statuses: map[shop.Status]int{}, Held: map[string]int64{}}
	for _, h := range parts {
		for k, v := range h {
			n, _ := strconv.ParseInt(v, 10, 64)
			switch {
			case strings.HasPrefix(k, "held:"):
				out.Held[strings.TrimPrefix(k, "held:")] += n
			case strings.HasPrefix(k, "status:"):
				out.Statuses[shop.Status(strings.TrimPrefix(k, "status:"))] += int(n)
			case k == "net_cents":
				out.NetCents += n
			case k == "charges":
				out.Charges += n
			case k == "refunds":
				out.Refunds += n
			}
		}
	}
	return out, nil
}
