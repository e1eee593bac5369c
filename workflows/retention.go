package workflows

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/shop"
)

// DefaultMarkerRetention is how long a settled order's marker is kept, as
// in the choreography: verify tells a settled order from one Temporal still
// lists by it, so it must outlast the namespace's retention.
const DefaultMarkerRetention = 7 * 24 * time.Hour

// visibilityLag is how far back each round looks again, for workflows that
// closed before the last round's cut-off but reached visibility after it.
const visibilityLag = time.Minute

// Settler settles the participant records of orders whose workflows closed
// more than Retention ago (see activities.SettleOrder), the orchestration's
// side of the worker's --order-retention. It finds them in Temporal's
// visibility, from where the previous round stopped (recorded in Redis), so
// each round reads only the orders closed since. A FAILED order's workflow
// waits for a repair and stays open: it is never settled.
type Settler struct {
	Engine          *Engine
	Redis           redis.UniversalClient
	Retention       time.Duration
	MarkerRetention time.Duration
	Now             func() time.Time
	Log             *slog.Logger
}

// throughKey records up to when closed workflows have been settled (ms).
const throughKey = activities.OrchestrationPrefix + "settled-through"

// Settle runs one round and returns how many orders it settled.
func (s *Settler) Settle(ctx context.Context) (int, error) {
	now := s.Now()
	lay, err := activities.LayoutOf(ctx, s.Redis, activities.OrchestrationPrefix)
	if err != nil {
		return 0, err
	}
	cutoff := now.Add(-s.Retention)
	query, err := s.query(ctx, cutoff)
	if err != nil {
		return 0, err
	}
	settled := 0
	var token []byte
	for {
		resp, err := s.Engine.client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, PageSize: 1000, NextPageToken: token})
		if err != nil {
			return settled, fmt.Errorf("list closed order workflows: %w", err)
		}
		for _, ex := range resp.GetExecutions() {
			done, err := s.settle(ctx, lay, ex, now)
			if err != nil {
				return settled, err
			}
			if done {
				settled++
			}
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	if err := s.Redis.Set(ctx, throughKey, cutoff.UnixMilli(), 0).Err(); err != nil {
		return settled, fmt.Errorf("record settled orders: %w", err)
	}
	return settled, activities.ForgetMarkers(ctx, s.Redis, lay, now.Add(-s.MarkerRetention))
}

// query lists the OrderSaga workflows started since the last reset that
// closed before cutoff and since the previous round (less visibilityLag).
func (s *Settler) query(ctx context.Context, cutoff time.Time) (string, error) {
	q := fmt.Sprintf("WorkflowType = 'OrderSaga' AND ExecutionStatus != 'Running' AND CloseTime < '%s'", cutoff.UTC().Format(time.RFC3339Nano))
	epoch, err := activities.Epoch(ctx, s.Redis, activities.OrchestrationPrefix)
	if err != nil {
		return "", err
	}
	if !epoch.IsZero() {
		q += fmt.Sprintf(" AND StartTime >= '%s'", epoch.UTC().Format(time.RFC3339Nano))
	}
	through, err := s.Redis.Get(ctx, throughKey).Result()
	if errors.Is(err, redis.Nil) {
		return q, nil
	}
	if err != nil {
		return "", fmt.Errorf("read settled orders: %w", err)
	}
	ms, err := strconv.ParseInt(through, 10, 64)
	if err != nil {
		return "", fmt.Errorf("%s holds %q, not a time", throughKey, through)
	}
	from := time.UnixMilli(ms).Add(-visibilityLag)
	return q + fmt.Sprintf(" AND CloseTime >= '%s'", from.UTC().Format(time.RFC3339Nano)), nil
}

// settle settles one closed workflow's order, when it ended COMPLETED or
// COMPENSATED (a terminated workflow keeps its records, for a look).
func (s *Settler) settle(ctx context.Context, lay activities.Layout, ex *workflowpb.WorkflowExecutionInfo, now time.Time) (bool, error) {
	id, ok := strings.CutPrefix(ex.GetExecution().GetWorkflowId(), shop.WorkflowID(""))
	if !ok {
		return false, nil
	}
	status := shop.Status(keyword(ex.GetSearchAttributes(), SearchAttrOrderStatus))
	if status != shop.StatusCompleted && status != shop.StatusCompensated {
		// Workflows of versions before the story set no final status.
		st := ex.GetStatus()
		if st != enums.WORKFLOW_EXECUTION_STATUS_COMPLETED && st != enums.WORKFLOW_EXECUTION_STATUS_CANCELED {
			return false, nil
		}
		out, err := s.Engine.result(ctx, id)
		if err != nil {
			s.Log.Warn("not settling an order whose outcome cannot be read", "order", id, "error", err)
			return false, nil
		}
		if status = out.Status; status != shop.StatusCompleted && status != shop.StatusCompensated {
			return false, nil
		}
	}
	o := activities.FinishedOrder{ID: id, Status: status, Started: ex.GetStartTime().AsTime(), SKUs: s.Engine.catalog.SKUs()}
	return activities.SettleOrder(ctx, s.Redis, lay, o, now)
}

// Run settles every interval until ctx ends.
func (s *Settler) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := s.Settle(ctx)
		if err != nil && ctx.Err() == nil {
			s.Log.Warn("settle orders failed", "error", err)
		} else if n > 0 {
			s.Log.Debug("settled orders", "orders", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
