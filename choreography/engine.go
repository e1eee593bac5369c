package choreography

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/shop"
)

//go:embed lua/place.lua
var placeLua string

var placeScript = redis.NewScript(placeLua)

// Engine places orders on the choreography and reads their state. It is the
// client side: the services do the work wherever they run.
type Engine struct {
	node    *Node
	catalog shop.Catalog
	// PollMin and PollMax bound how often Wait looks at the order when it
	// cannot follow the order service's streams (see ends).
	PollMin, PollMax time.Duration
	// Recheck is how often Wait looks at the order while it follows the
	// streams: a safety net, the streams tell it when the order ends.
	Recheck time.Duration
	ends    *ends
	// ExpectDeadLetters is how many dead-lettered entries verify accepts
	// (injected poison); any other count is a violation.
	ExpectDeadLetters int64
	// CompensationAlertAfter is how long a compensation may run before
	// Status shows its order COMPENSATING; 0 (NewEngine's): the threshold
	// recorded in Redis by the worker that runs the order service (see
	// Bus.AlertAfter), read when an order's last event set off a
	// compensation.
	CompensationAlertAfter time.Duration
	// plans is the plan new orders take, as recorded (see plan).
	plans planCache
}

// NewEngine returns the choreography engine over a node's Redis.
func NewEngine(n *Node, catalog shop.Catalog) *Engine {
	return &Engine{node: n, catalog: catalog, PollMin: time.Millisecond, PollMax: 20 * time.Millisecond,
		Recheck: time.Second, ends: newEnds(n.Bus.Redis, func() []string { return n.Bus.StreamsOf(ServiceOrder) })}
}

// Close stops following the order service's streams for Wait.
func (e *Engine) Close() { e.ends.Close() }

// Mode is choreography.
func (e *Engine) Mode() shop.Mode { return shop.ModeChoreography }

// Place validates the order and publishes OrderPlaced; a second Place of the
// same ID fails with shop.ErrDuplicateOrder and publishes nothing.
func (e *Engine) Place(ctx context.Context, o shop.Order) error {
	if err := o.Validate(e.catalog); err != nil {
		return err
	}
	n := e.node
	if err := n.Bus.check(ctx); err != nil {
		return err
	}
	steps, err := e.plan(ctx)
	if err != nil {
		return fmt.Errorf("place order %s: %w", o.ID, err)
	}
	now := n.Now()
	ev, err := NewEvent(OrderPlaced, ServiceOrder, nil, Saga{Order: o, Steps: steps}, now)
	if err != nil {
		return err
	}
	withTraceContext(ctx, ev) // the placement's trace, when it is traced
	evJSON, err := ev.Encode()
	if err != nil {
		return err
	}
	orderJSON, err := json.Marshal(o)
	if err != nil {
		return fmt.Errorf("encode order %s: %w", o.ID, err)
	}
	created, err := placeScript.Run(ctx, n.Bus.Redis,
		[]string{n.orderKey(o.ID), n.historyKey(o.ID), n.Bus.StreamFor(o.ID, ServiceOrder),
			n.Bus.ordersKey(n.Bus.Layout().Partition(o.ID)), n.Bus.orderDoneKey(o.ID)},
		orderJSON, evJSON, now.UTC().Format(time.RFC3339Nano), now.UnixMilli(), o.ID, ev.ID,
		activities.FormatSteps(steps)).Int()
	if err != nil {
		return fmt.Errorf("place order %s: %w", o.ID, err)
	}
	if created == 0 {
		return fmt.Errorf("place order %s: %w", o.ID, shop.ErrDuplicateOrder)
	}
	return nil
}

// Wait returns the order's outcome once it is terminal. It reads the order
// when the order service publishes the order's end, which it follows on
// the order service's streams, and every Recheck besides; when it cannot
// follow them, it polls the order, from every PollMin to every PollMax.
func (e *Engine) Wait(ctx context.Context, orderID string) (shop.Outcome, error) {
	if err := e.node.Bus.check(ctx); err != nil {
		return shop.Outcome{}, err
	}
	ended, following, forget := e.ends.watch(ctx, orderID)
	defer forget()
	d := e.PollMin
	for {
		out, done, err := e.outcome(ctx, orderID)
		if err != nil {
			return shop.Outcome{}, err
		}
		if done {
			return out, nil
		}
		wait := e.Recheck
		if !following {
			wait, d = d, min(2*d, e.PollMax)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return shop.Outcome{}, fmt.Errorf("wait for order %s: %w", orderID, ctx.Err())
		case <-ended:
			t.Stop()
		case <-t.C:
		}
		following = e.ends.ensure(ctx)
	}
}

// Status returns the order's outcome once terminal, and otherwise what the
// events so far say: the steps done and compensated and what runs now.
func (e *Engine) Status(ctx context.Context, orderID string) (shop.Progress, error) {
	n := e.node
	out, done, err := e.outcome(ctx, orderID)
	if err != nil {
		return shop.Progress{}, err
	}
	if done {
		return shop.Progress{Outcome: out}, nil
	}
	last, err := n.Bus.Redis.LIndex(ctx, n.historyKey(orderID), -1).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return shop.Progress{}, fmt.Errorf("status of order %s: %w", orderID, err)
	}
	p := shop.Progress{Outcome: shop.Outcome{OrderID: orderID, Status: shop.StatusPending, Steps: []shop.Step{}, Compensated: []shop.Step{}}}
	if last == "" {
		return p, nil
	}
	ev, err := Decode([]byte(last))
	if err != nil {
		return p, nil
	}
	s, err := ev.Saga()
	if err != nil {
		return p, nil
	}
	p.Steps, p.Compensated = nonNil(s.Done), nonNil(s.Compensated)
	p.FailedStep, p.Reason = s.FailedStep, s.Reason
	p.Current = currentOp(ev)
	if p.Current.IsCompensation() {
		after, err := e.alertAfter(ctx)
		if err != nil {
			return shop.Progress{}, fmt.Errorf("status of order %s: %w", orderID, err)
		}
		flagCompensating(&p, ev, n.Now(), after)
	}
	return p, nil
}

// alertAfter is the compensation alert threshold: CompensationAlertAfter
// when set, else the one recorded in Redis.
func (e *Engine) alertAfter(ctx context.Context) (time.Duration, error) {
	if e.CompensationAlertAfter > 0 {
		return e.CompensationAlertAfter, nil
	}
	return e.node.Bus.AlertAfter(ctx)
}

// currentOp is the operation an order's last event set off (a repair
// request names the compensation it runs again).
func currentOp(last *Envelope) shop.Op {
	s, err := last.Saga()
	if last.Type == RepairRequested {
		if err == nil {
			return shop.Op(s.Detail)
		}
	}
	return nextOp(last.Type, s)
}

// flagCompensating shows the order COMPENSATING when the compensation its
// last event set off has run longer than the alert threshold after at now:
// its handler keeps failing and its entry is redelivered, so nothing newer
// has reached the order's history. It still retries without limit.
func flagCompensating(p *shop.Progress, last *Envelope, now time.Time, after time.Duration) {
	if !retrying(p.Current, last, now, after) {
		return
	}
	since := last.Time
	p.Status, p.RetryingSince = shop.StatusCompensating, &since
}

// outcome returns the order's outcome and true once the order is terminal,
// with one read of the order's hash.
func (e *Engine) outcome(ctx context.Context, orderID string) (shop.Outcome, bool, error) {
	n := e.node
	if err := n.Bus.check(ctx); err != nil {
		return shop.Outcome{}, false, err
	}
	h, err := n.Bus.Redis.HMGet(ctx, n.orderKey(orderID), "status", "outcome").Result()
	if err != nil {
		return shop.Outcome{}, false, fmt.Errorf("status of order %s: %w", orderID, err)
	}
	status, _ := h[0].(string)
	if status == "" {
		return shop.Outcome{}, false, e.missing(ctx, orderID)
	}
	outJSON, _ := h[1].(string)
	if outJSON == "" {
		return shop.Outcome{}, false, nil
	}
	var out shop.Outcome
	if err := json.Unmarshal([]byte(outJSON), &out); err != nil {
		return shop.Outcome{}, false, fmt.Errorf("decode outcome of order %s: %w", orderID, err)
	}
	return out, true, nil
}

// missing says why an order has no record: unknown, and settled after its
// retention window when its marker is kept, or never placed here.
func (e *Engine) missing(ctx context.Context, orderID string) error {
	b := e.node.Bus
	err := b.Redis.ZScore(ctx, b.orderDoneKey(orderID), orderID).Err()
	switch {
	case err == nil:
		return fmt.Errorf("order %s: %w: %w", orderID, shop.ErrUnknownOrder, shop.ErrSettled)
	case errors.Is(err, redis.Nil):
		return fmt.Errorf("order %s: %w", orderID, shop.ErrUnknownOrder)
	default:
		return fmt.Errorf("status of order %s: %w", orderID, err)
	}
}

// nextOp is the operation an event of the saga s sets off, in its
// order's plan (RepairRequested names its own).
func nextOp(t EventType, s Saga) shop.Op {
	for _, rs := range reactions {
		if r, ok := rs[t]; ok && r.applies(t, s) {
			return r.op
		}
	}
	return ""
}

// opOf maps an event to the operation it reports on, and how that went.
func opOf(t EventType) (shop.Op, string) {
	for _, rs := range reactions {
		for _, r := range rs {
			switch t {
			case r.onSuccess:
				return r.op, "ok"
			case r.onFailure:
				return r.op, "fail"
			}
		}
	}
	return "", ""
}

// History returns every event of the order in causal order, each with the
// service that produced it and the time since the event that caused it.
func (e *Engine) History(ctx context.Context, orderID string) ([]shop.Event, error) {
	n := e.node
	if err := n.Bus.check(ctx); err != nil {
		return nil, err
	}
	raw, err := n.Bus.Redis.LRange(ctx, n.historyKey(orderID), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("history of order %s: %w", orderID, err)
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("order %s: %w", orderID, shop.ErrUnknownOrder)
	}
	times := make(map[string]time.Time, len(raw))
	out := make([]shop.Event, 0, len(raw))
	for _, r := range raw {
		ev, err := Decode([]byte(r))
		if err != nil {
			return nil, fmt.Errorf("history of order %s: %w", orderID, err)
		}
		times[ev.ID] = ev.Time
		s, _ := ev.Saga()
		op, result := opOf(ev.Type)
		item := shop.Event{Time: ev.Time, Name: string(ev.Type), Op: op, Result: result, Source: ev.Source, Detail: s.Detail}
		if result == "fail" {
			item.Detail = s.Reason
			if op.IsCompensation() && len(s.CompensationErrors) > 0 {
				item.Detail = s.CompensationErrors[len(s.CompensationErrors)-1]
			}
		}
		if ev.Type == RepairRequested {
			item.Op, item.Result = shop.Op(s.Detail), "repair"
		}
		if parent, ok := times[ev.CausationID]; ok {
			item.Duration = ev.Time.Sub(parent)
		}
		out = append(out, item)
	}
	return out, nil
}

// Bus is the engine's bus: its streams and dead letters.
func (e *Engine) Bus() *Bus { return e.node.Bus }

// Prefix is the key prefix of the choreography engine's state.
func (e *Engine) Prefix() string { return e.node.Bus.Prefix }

// SetExpectedDeadLetters sets how many dead-lettered entries verify accepts.
func (e *Engine) SetExpectedDeadLetters(n int64) { e.ExpectDeadLetters = n }
