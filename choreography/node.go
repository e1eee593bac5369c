package choreography

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/choreography/stream"
	"github.com/ordersaga/ordersaga/shop"
)

//go:embed lua/finish.lua
var finishLua string

var finishScript = redis.NewScript(finishLua)

// reaction is what a participant service does on one event type: run an
// operation, then publish the success or the failure event.
type reaction struct {
	op        shop.Op
	onSuccess EventType
	onFailure EventType
}

// reactions is the choreography, read as "on this event, this service does
// that". It is the only place the flow is written down; no service knows more
// than its own line. A forward operation runs only when its step is the
// next of the order's plan (see applies): on InventoryReserved the fraud
// service checks the orders whose plan has the check, and payment charges
// the others.
var reactions = map[string]map[EventType]reaction{
	ServiceInventory: {
		OrderPlaced:         {shop.OpReserve, InventoryReserved, InventoryRejected},
		FraudSuspected:      {shop.OpRelease, InventoryReleased, InventoryReleaseFailed},
		PaymentDeclined:     {shop.OpRelease, InventoryReleased, InventoryReleaseFailed},
		PaymentRefunded:     {shop.OpRelease, InventoryReleased, InventoryReleaseFailed},
		PaymentRefundFailed: {shop.OpRelease, InventoryReleased, InventoryReleaseFailed},
		RepairRequested:     {shop.OpRelease, InventoryReleased, InventoryReleaseFailed},
	},
	ServiceFraud: {
		InventoryReserved: {shop.OpCheck, FraudCleared, FraudSuspected},
	},
	ServicePayment: {
		InventoryReserved: {shop.OpCharge, PaymentCharged, PaymentDeclined},
		FraudCleared:      {shop.OpCharge, PaymentCharged, PaymentDeclined},
		ShipmentFailed:    {shop.OpRefund, PaymentRefunded, PaymentRefundFailed},
		RepairRequested:   {shop.OpRefund, PaymentRefunded, PaymentRefundFailed},
	},
	ServiceShipping: {
		PaymentCharged: {shop.OpSchedule, ShipmentScheduled, ShipmentFailed},
	},
}

// terminal says which events end an order, as seen by the order service.
var terminal = map[EventType]bool{
	ShipmentScheduled:      true,
	InventoryRejected:      true,
	InventoryReleased:      true,
	InventoryReleaseFailed: true,
}

// Node runs choreography services against one Redis or Redis Cluster.
type Node struct {
	Bus          *Bus
	Participants activities.Participants
	Log          *slog.Logger
	Now          func() time.Time
	// MarkerRetention is how long a settled order's marker is kept: until
	// then, any late event of the order is dropped (default 7 days).
	MarkerRetention time.Duration
	// Telemetry reports the handlers' metrics and spans (none by default).
	Telemetry Telemetry
	// NotificationRetention is how long the notify service keeps a
	// notification (see activities.Notifier): the order retention, or
	// activities.DefaultNotificationRetention when zero.
	NotificationRetention time.Duration
}

// NewNode returns a node for the choreography prefix.
func NewNode(rdb redis.UniversalClient, catalog shop.Catalog, log *slog.Logger, opts ...Option) *Node {
	bus := NewBus(rdb, opts...)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// Without a given number of partitions, the participants take the one
	// recorded, as the bus does.
	parts := activities.New(rdb, bus.Prefix, catalog)
	if bus.pinned {
		parts = activities.NewWith(rdb, bus.Layout(), catalog)
	}
	return &Node{
		Bus:             bus,
		Participants:    parts.WithOutbox(outboxHook),
		Log:             log,
		Now:             time.Now,
		MarkerRetention: 7 * 24 * time.Hour,
	}
}

func (n *Node) orderKey(id string) string   { return n.Bus.orderKey(id) }
func (n *Node) historyKey(id string) string { return n.Bus.HistoryKey(id) }

// Handlers returns the handler set of a service, each handling one event
// (see Batch for the handler of a whole read).
func (n *Node) Handlers(service string) (map[EventType]Handler, error) {
	batch, types, err := n.Batch(service)
	if err != nil {
		return nil, err
	}
	one := func(ctx context.Context, d *Delivery) error { return batch(ctx, []*Delivery{d})[0] }
	hs := make(map[EventType]Handler, len(types))
	for _, t := range types {
		hs[t] = one
	}
	return hs, nil
}

// Batch returns the batch handler of a service and the event types it
// reacts to.
func (n *Node) Batch(service string) (BatchHandler, []EventType, error) {
	switch service {
	case ServiceOrder:
		return n.finishOrders, slices.Collect(maps.Keys(terminal)), nil
	case ServiceNotify:
		return n.notifyOrders, slices.Collect(maps.Keys(ended)), nil
	}
	rs, ok := reactions[service]
	if !ok {
		return nil, nil, fmt.Errorf("unknown service %q", service)
	}
	batch := func(ctx context.Context, ds []*Delivery) []error { return n.participate(ctx, service, ds) }
	return batch, slices.Collect(maps.Keys(rs)), nil
}

// participate runs a participant service's operations on a batch of
// events with the outbox, so that each operation, its next event and its
// ack commit together; the operations share their round trips (see
// activities.Participants.CommitBatch). Every event of ds is one the
// service reacts to; one whose order's plan makes the operation another
// service's turn (see applies) is acked and nothing else.
func (n *Node) participate(ctx context.Context, service string, ds []*Delivery) []error {
	ops := make([]shop.Op, len(ds))
	for i, d := range ds {
		ops[i] = reactions[service][d.Event.Type].op
	}
	sagas, errs := n.checkedAll(ctx, ds, ops)
	var calls []activities.Call
	var at []int
	for i, d := range ds {
		if errs[i] != nil {
			continue
		}
		s := sagas[i]
		r := reactions[service][d.Event.Type]
		if !r.applies(d.Event.Type, s) {
			continue // not this service's turn in the order's plan: acked
		}
		in := activities.InputFor(s.Order)
		in.Repair = s.Repair
		calls = append(calls, activities.Call{Op: r.op, In: in, Outbox: n.outbox(d.context(ctx), service, r, d, s)})
		at = append(at, i)
	}
	outs := n.Participants.CommitBatch(ctx, calls)
	for k, i := range at {
		errs[i] = committed(ds[i], ops[i], outs[k])
	}
	return errs
}

// turnOf acks unhandled (no span, no handled-event metric) the events
// whose plan, as they carry it, makes the reaction another service's turn:
// payment's InventoryReserved of an order whose plan has the fraud check,
// the fraud service's of one whose plan has none. An event that carries
// no plan (of an older publisher, or placed before plans) goes to h, and
// participate decides by the order's record.
func turnOf(service string, h BatchHandler) BatchHandler {
	rs := reactions[service]
	return func(ctx context.Context, ds []*Delivery) []error {
		errs := make([]error, len(ds))
		var mine []*Delivery
		var at []int
		for i, d := range ds {
			r, ok := rs[d.Event.Type]
			if s, err := d.Event.Saga(); ok && err == nil && len(s.Steps) > 0 && !r.applies(d.Event.Type, s) {
				continue // acked by the consumer
			}
			mine, at = append(mine, d), append(at, i)
		}
		if len(mine) > 0 {
			for k, err := range h(ctx, mine) {
				errs[at[k]] = err
			}
		}
		return errs
	}
}

// committed is a delivery's outcome once its operation committed.
func committed(d *Delivery, op shop.Op, out activities.Outcome) error {
	_, refused := activities.IsRefusal(out.Err)
	if refused || (out.Err == nil && !out.Result.Dropped) {
		d.MarkAcked() // the outbox published the next event and acked
	}
	if out.Err == nil || refused {
		return nil // a dropped event is acked by the consumer
	}
	return fmt.Errorf("%s on %s: %w", op, d.Event.Type, out.Err)
}

// outbox is what a participant's operation commits with: the next event,
// published on the service's stream of the order's partition and appended
// to its history, and the ack of the incoming entry. Its guard drops (and
// counts) an event of an order that is settled or unknown. In a repair
// run the next event is published even when the operation had already run,
// so the repair reaches the order service.
func (n *Node) outbox(ctx context.Context, service string, r reaction, d *Delivery, s Saga) *activities.Outbox {
	id := s.Order.ID
	okSaga, failSaga := outcomes(r.op, s)
	republish := 0
	if s.Repair {
		republish = 1
	}
	return &activities.Outbox{
		Token: d.ID,
		Keys: []string{d.Stream, n.historyKey(id), n.Bus.StreamFor(id, service), n.orderKey(id),
			n.Bus.orderDoneKey(id), n.Bus.orderSettledKey(id)},
		// The event is built when the work is done (after any delay
		// fault), so its timestamp tells when it happened.
		Args: func() ([]any, error) {
			ev, err := n.eventTemplate(ctx, service, d.Event, s)
			if err != nil {
				return nil, err
			}
			okHead, err := headJSON(okSaga)
			if err != nil {
				return nil, err
			}
			failHead, err := headJSON(failSaga)
			if err != nil {
				return nil, err
			}
			return []any{d.Group, d.ID, ev, string(r.onSuccess), okHead, string(r.onFailure), failHead, republish, id}, nil
		},
	}
}

// Placeholders of the event an outbox publishes: the script puts the
// type and the head of the saga of the outcome in their place.
const (
	typePlaceholder = "@TYPE@"
	headPlaceholder = "@HEAD@"
)

// eventTemplate is the JSON of the event a step publishes, caused by
// parent, in the trace of ctx, with placeholders for what depends on the
// step's outcome: its type and the head of its saga (see sagaHead). The
// step's script gets it once, with the two outcomes' types and heads.
func (n *Node) eventTemplate(ctx context.Context, service string, parent *Envelope, s Saga) ([]byte, error) {
	ev, err := NewEvent(typePlaceholder, service, parent, Saga{Order: s.Order}, n.Now())
	if err != nil {
		return nil, err
	}
	rest, err := json.Marshal(sagaRest{Repair: s.Repair, Steps: s.Steps, Order: s.Order})
	if err != nil {
		return nil, fmt.Errorf("encode %s payload: %w", s.Order.ID, err)
	}
	const mark = `"@PAYLOAD@"`
	ev.Payload = json.RawMessage(mark)
	withTraceContext(ctx, ev)
	b, err := ev.Encode()
	if err != nil {
		return nil, err
	}
	return bytes.Replace(b, []byte(mark), append([]byte("{"+headPlaceholder), rest[1:]...), 1), nil
}

// sagaHead is the part of a saga a step's outcome decides, sagaRest the
// part it does not; together, in this order, they are a Saga's JSON.
type sagaHead struct {
	Detail             string      `json:"detail,omitempty"`
	Reason             string      `json:"reason,omitempty"`
	CompensationErrors []string    `json:"compensation_errors,omitempty"`
	FailedStep         shop.Step   `json:"failed_step,omitempty"`
	Done               []shop.Step `json:"done,omitempty"`
	Compensated        []shop.Step `json:"compensated,omitempty"`
}

type sagaRest struct {
	Repair bool        `json:"repair,omitempty"`
	Steps  []shop.Step `json:"steps,omitempty"`
	Order  shop.Order  `json:"order"`
}

// headJSON is the head of a saga as it goes in place of the template's
// @HEAD@: its fields, each followed by a comma.
func headJSON(s Saga) (string, error) {
	b, err := json.Marshal(sagaHead{Detail: s.Detail, Reason: s.Reason, CompensationErrors: s.CompensationErrors,
		FailedStep: s.FailedStep, Done: s.Done, Compensated: s.Compensated})
	if err != nil {
		return "", fmt.Errorf("encode %s payload: %w", s.Order.ID, err)
	}
	if len(b) == 2 {
		return "", nil // {}
	}
	return string(b[1:len(b)-1]) + ",", nil
}

// outcomes returns the saga as the success and the failure event of op
// carry it. The participant's detail (amount, tracking ID, or why it
// failed) is filled in by the operation's script.
func outcomes(op shop.Op, s Saga) (ok, fail Saga) {
	ok, fail = s, s
	ok.Detail = DetailPlaceholder
	fail.Detail = ""
	step := op.Step()
	if op.IsCompensation() {
		ok.Compensated = slices.Clone(s.Compensated)
		if !slices.Contains(ok.Compensated, step) { // a repair runs a compensation again
			ok.Compensated = append(ok.Compensated, step)
		}
		fail.CompensationErrors = append(slices.Clone(s.CompensationErrors), string(op)+": "+activities.FailureType(op)+": "+DetailPlaceholder)
	} else {
		ok.Done = append(slices.Clone(s.Done), step)
		fail.FailedStep = step
		fail.Reason = activities.FailureType(op) + ": " + DetailPlaceholder
	}
	return ok, fail
}

// encode builds the JSON of an event caused by parent, in the trace of ctx.
func (n *Node) encode(ctx context.Context, service string, t EventType, parent *Envelope, s Saga) ([]byte, error) {
	ev, err := NewEvent(t, service, parent, s, n.Now())
	if err != nil {
		return nil, err
	}
	withTraceContext(ctx, ev)
	return ev.Encode()
}

// finishOrders is the order service: it turns terminal events into their
// orders' statuses, the finish scripts of a batch in one round trip.
func (n *Node) finishOrders(ctx context.Context, ds []*Delivery) []error {
	sagas, errs := n.checkedAll(ctx, ds, make([]shop.Op, len(ds)))
	pipe := n.Bus.Redis.Pipeline()
	cmds := make([]*redis.Cmd, len(ds))
	runs := make([]finishRun, len(ds))
	for i, d := range ds {
		if errs[i] != nil {
			continue
		}
		if runs[i], errs[i] = n.finishRun(d.context(ctx), d, sagas[i]); errs[i] == nil {
			cmds[i] = finishScript.EvalSha(ctx, pipe, runs[i].keys, runs[i].args...)
		}
	}
	_, _ = pipe.Exec(ctx)
	for i, cmd := range cmds {
		if cmd == nil {
			continue
		}
		ended, err := cmd.Result()
		if redis.HasErrorPrefix(err, "NOSCRIPT") { // it did not run
			ended, err = finishScript.Run(ctx, n.Bus.Redis, runs[i].keys, runs[i].args...).Result()
		}
		if err != nil {
			errs[i] = fmt.Errorf("finish order %s: %w", sagas[i].Order.ID, err)
			continue
		}
		ds[i].MarkAcked()
		if ended != int64(0) {
			n.recordSaga(runs[i].out, ended)
		}
	}
	return errs
}

// finishRun is the run of the finish script of one terminal event.
type finishRun struct {
	out  shop.Outcome
	keys []string
	args []any
}

// finishRun builds the finish script's run for a terminal event.
func (n *Node) finishRun(ctx context.Context, d *Delivery, s Saga) (finishRun, error) {
	out := OutcomeOf(d.Event.Type, s)
	t := OrderCompensated
	switch out.Status {
	case shop.StatusCompleted:
		t = OrderCompleted
	case shop.StatusFailed:
		t = OrderFailed
	}
	outJSON, err := json.Marshal(out)
	if err != nil {
		return finishRun{}, fmt.Errorf("encode outcome of %s: %w", s.Order.ID, err)
	}
	s.Detail = "" // the detail of the step before says nothing about the order's end
	ev, err := n.encode(ctx, ServiceOrder, t, d.Event, s)
	if err != nil {
		return finishRun{}, err
	}
	id := s.Order.ID
	repair := 0
	if s.Repair {
		repair = 1
	}
	return finishRun{
		out:  out,
		keys: []string{n.orderKey(id), n.historyKey(id), n.Bus.StreamFor(id, ServiceOrder), d.Stream, n.Bus.orderSettledKey(id)},
		args: []any{d.Group, d.ID, string(out.Status), outJSON, string(t), ev,
			n.Now().UTC().Format(time.RFC3339Nano), repair},
	}, nil
}

// OutcomeOf is the outcome an order has once the given terminal event happened.
func OutcomeOf(t EventType, s Saga) shop.Outcome {
	out := shop.Outcome{
		OrderID: s.Order.ID, Steps: nonNil(s.Done), Compensated: nonNil(s.Compensated),
		FailedStep: s.FailedStep, Reason: s.Reason,
	}
	switch {
	case t == ShipmentScheduled:
		out.Status = shop.StatusCompleted
	case t == InventoryReleaseFailed || len(s.CompensationErrors) > 0:
		out.Status = shop.StatusFailed
		out.Reason = joinReasons(s.Reason, s.CompensationErrors)
	default:
		out.Status = shop.StatusCompensated
	}
	return out
}

// joinReasons says why an order FAILED, in the same words the workflow uses.
func joinReasons(reason string, errs []string) string {
	return reason + "; compensation failed: " + strings.Join(errs, "; ")
}

func nonNil(s []shop.Step) []shop.Step {
	if s == nil {
		return []shop.Step{}
	}
	return s
}

// RunService runs one service's consumer until ctx is done. It refuses to
// start when the node's number of partitions is not the one recorded.
func (n *Node) RunService(ctx context.Context, service string, cfg ConsumerConfig) error {
	if err := n.Bus.check(ctx); err != nil {
		return err
	}
	batch, types, err := n.Batch(service)
	if err != nil {
		return err
	}
	c, err := n.Bus.NewBatchConsumer(service, types, turnOf(service, n.observeBatch(service, batch)), cfg, n.Log)
	if err != nil {
		return err
	}
	return c.Run(ctx)
}

// RunTrimmer, every interval until ctx is done, trims acked stream history
// older than retention and, when orderRetention is positive, settles the
// finished orders placed longer ago than that (see Settle).
func (n *Node) RunTrimmer(ctx context.Context, interval, retention, orderRetention time.Duration) {
	stream.Tick(ctx, interval, func() {
		removed, err := n.Bus.Trim(ctx, retention)
		if err != nil && ctx.Err() == nil {
			n.Log.Warn("trim streams failed", "err", err)
		} else if removed > 0 {
			n.Log.Debug("trimmed streams", "entries", removed)
		}
		for orderRetention > 0 && ctx.Err() == nil {
			settled, err := n.Settle(ctx, orderRetention, 1000)
			if err != nil && ctx.Err() == nil {
				n.Log.Warn("settle orders failed", "err", err)
			}
			if settled > 0 {
				n.Log.Debug("settled orders", "orders", settled)
			}
			if err != nil || settled < 1000 {
				break
			}
		}
	})
}
