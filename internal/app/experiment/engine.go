package experiment

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/ordersaga/ordersaga/internal/app/admin"
	"github.com/ordersaga/ordersaga/internal/app/bench"
	"github.com/ordersaga/ordersaga/internal/platform/poll"
	"github.com/ordersaga/ordersaga/shop"
	"github.com/ordersaga/ordersaga/workflows"
)

// engineRun is one engine's run of a load, checked.
type engineRun struct {
	Mode shop.Mode
	Load *LoadRun
	// Placed are the orders the engine holds: those accepted, and those
	// whose placement was refused but went through (Status knows them).
	Placed []shop.Order
	// Refused counts the placements refused that did not go through.
	Refused int
	Result  bench.Result
}

// plan is what runOne does with one engine.
type plan struct {
	orders    []shop.Order
	instances int
	// actions are the load's actions on the engine's participants.
	actions func(p Participants) []Action
	// start, when set, starts the participants instead of
	// startParticipants (the change experiment's worker processes).
	start func(ctx context.Context) (Participants, error)
}

// holder is participants that hold the load's placements back (Load.Hold).
type holder interface {
	Hold(ctx context.Context, i int) time.Duration
}

// runOne starts the participants of mode m, runs the load of p on them,
// stops them and checks the engine.
func runOne(ctx context.Context, eng *admin.EngineSet, m shop.Mode, cfg Config, p plan) (*engineRun, error) {
	// The engines held no order when the experiment began (Run): the
	// orders deleted here are the experiment's own.
	if _, err := eng.Reset(ctx, false); err != nil {
		return nil, err
	}
	start := p.start
	if start == nil {
		start = func(ctx context.Context) (Participants, error) { return startParticipants(ctx, eng, m, p.instances) }
	}
	parts, err := start(ctx)
	if err != nil {
		return nil, err
	}
	defer parts.Close()
	load := Load{Engine: eng.Sources[m], Orders: p.orders, Rate: cfg.Rate, Interval: cfg.Interval,
		Backlog: backlogOf(eng, m, cfg.Namespace), Drain: cfg.Drain, PlaceTimeout: cfg.PlaceTimeout}
	if h, ok := parts.(holder); ok {
		load.Hold = h.Hold
	}
	if p.actions != nil {
		load.Actions = p.actions(parts)
	}
	run := &engineRun{Mode: m, Load: load.Run(ctx)}
	if err := run.settle(ctx, load.Engine, p.orders, cfg.Drain); err != nil {
		return nil, err
	}
	settled(ctx, eng, m, len(run.Placed), cfg.Drain)
	work := bench.Workload{Seed: cfg.Seed, Orders: run.Placed}
	res, err := work.Check(ctx, eng, m, run.benchRun(), false)
	if err != nil {
		return nil, err
	}
	if res.Retries, err = bench.Retries(ctx, eng, m, run.Placed); err != nil {
		return nil, err
	}
	run.Result = res
	return run, nil
}

// settled waits, up to d, until engine m can be checked: for the
// choreography, no consumer group has an entry left (an ack lost when
// Redis went down leaves one pending until a consumer claims it back, after
// its idle time, although its order has ended); for the orchestration,
// Temporal's visibility lists the placed orders (it lags on a busy server).
func settled(ctx context.Context, eng *admin.EngineSet, m shop.Mode, placed int, d time.Duration) {
	_ = poll.For(ctx, d, poll.Every(time.Second), func(ctx context.Context) (bool, error) {
		if m == shop.ModeChoreography {
			lags, err := eng.Choreography.Bus().Backlog(ctx)
			return err == nil && len(lags) == 0, nil
		}
		orders, err := eng.Sources[m].Orders(ctx)
		return err == nil && len(orders) >= placed, nil
	})
}

// startParticipants starts mode m's participants in this process.
func startParticipants(ctx context.Context, eng *admin.EngineSet, m shop.Mode, n int) (Participants, error) {
	if m == shop.ModeOrchestration {
		return StartOrchestration(ctx, eng.Temporal, eng.Redis, eng.Catalog, n)
	}
	group := "exp-" + strings.ReplaceAll(uuid.NewString(), "-", "")[:8]
	return StartChoreography(ctx, eng.Redis, eng.Catalog, n, group)
}

// settle sorts the refused placements into those that went through
// (waited for, as the accepted ones) and those that did not.
func (r *engineRun) settle(ctx context.Context, e shop.Engine, orders []shop.Order, drain time.Duration) error {
	for i, o := range r.Load.orders {
		if !o.refused {
			r.Placed = append(r.Placed, orders[i])
			continue
		}
		_, err := e.Status(ctx, orders[i].ID)
		if errors.Is(err, shop.ErrUnknownOrder) {
			r.Refused++
			continue
		}
		if err != nil {
			return fmt.Errorf("status of refused order %s: %w", orders[i].ID, err)
		}
		wctx, cancel := context.WithTimeout(ctx, drain)
		out, err := e.Wait(wctx, orders[i].ID)
		cancel()
		if err == nil {
			r.Load.orders[i].out, r.Load.orders[i].ended = out, time.Since(r.Load.Start)
		}
		r.Load.orders[i].refused = false
		r.Placed = append(r.Placed, orders[i])
	}
	return nil
}

// benchRun is the run as bench.Workload.Check reads it: the orders placed.
func (r *engineRun) benchRun() bench.Run {
	run := bench.Run{Latency: bench.NewHistogram()}
	for _, o := range r.Load.orders {
		if o.refused {
			continue
		}
		run.N++
		st := o.out.Status
		if o.ended == 0 {
			st = bench.StatusError
			run.Errors++
			if run.Err == nil {
				run.Err = errors.New("an order did not end within the drain time")
			}
		} else {
			bench.Record(run.Latency, o.ended-o.placed)
			run.Wall = max(run.Wall, o.ended)
		}
		run.Statuses = append(run.Statuses, st)
		run.Ends = append(run.Ends, o.ended)
	}
	return run
}

// backlogOf samples what waits for the participants: per consumer group
// (the service that reads) of the choreography, pending and unread
// entries; per task queue of the orchestration, its approximate backlog.
func backlogOf(eng *admin.EngineSet, m shop.Mode, namespace string) func(ctx context.Context) (map[string]int64, error) {
	if m == shop.ModeChoreography {
		return func(ctx context.Context) (map[string]int64, error) {
			lags, err := eng.Choreography.Bus().Backlog(ctx)
			out := map[string]int64{}
			for _, l := range lags {
				out[l.Group] += l.Pending + int64(l.Unread)
			}
			return out, err
		}
	}
	queues := []struct {
		name, queue string
		typ         enums.TaskQueueType
	}{
		{"workflow tasks", workflows.TaskQueue, enums.TASK_QUEUE_TYPE_WORKFLOW},
		{"reserve, schedule, release, cancel", workflows.TaskQueue, enums.TASK_QUEUE_TYPE_ACTIVITY},
		{"charge, refund", PaymentTaskQueue, enums.TASK_QUEUE_TYPE_ACTIVITY},
	}
	return func(ctx context.Context) (map[string]int64, error) {
		out := map[string]int64{}
		for _, q := range queues {
			resp, err := eng.Temporal.WorkflowService().DescribeTaskQueue(ctx, &workflowservice.DescribeTaskQueueRequest{
				Namespace: namespace, TaskQueue: &taskqueuepb.TaskQueue{Name: q.queue}, TaskQueueType: q.typ, ReportStats: true,
			})
			if err != nil {
				return out, err
			}
			out[q.name] = resp.GetStats().GetApproximateBacklogCount()
		}
		return out, nil
	}
}
