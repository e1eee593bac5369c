package choreography

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"
	// Before a service acts on an event it decodes the order's record, once per
	// event: the hot path, decoded with the events' codec (see event.go).
	"github.com/segmentio/encoding/json"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/shop"
)

// ErrInvalidEvent marks an event that decodes but does not hold against
// the order's own records: a forged or corrupted event. It is dead-lettered
// with the reason, and nothing acts on it.
var ErrInvalidEvent = errors.New("invalid event")

// record is what the order's own records say about it: the order as the
// order service recorded it when it was placed, whether a repair runs, and
// what the participants recorded, and the plan it was placed with (none
// for an order placed before plans existed).
type record struct {
	found  bool
	order  shop.Order
	repair bool
	steps  []shop.Step
	state  activities.OrderState
}

// readRecords reads the records of the orders of ids in one round trip.
func (n *Node) readRecords(ctx context.Context, ids []string) ([]record, error) {
	pipe := n.Bus.Redis.Pipeline()
	recs := make([]*redis.SliceCmd, len(ids))
	states := make([]func() activities.OrderState, len(ids))
	for i, id := range ids {
		recs[i] = pipe.HMGet(ctx, n.orderKey(id), "order", "repair", "steps")
		states[i] = n.Bus.Layout().QueueOrderState(ctx, pipe, id)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("read records of %d order(s): %w", len(ids), err)
	}
	out := make([]record, len(ids))
	for i, id := range ids {
		var err error
		if out[i], err = recordOf(id, recs[i].Val(), states[i]()); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// recordOf reads an order's record from the fields order, repair and
// steps of its hash.
func recordOf(id string, v []any, state activities.OrderState) (record, error) {
	raw, _ := v[0].(string)
	repair, _ := v[1].(string)
	r := record{found: raw != "", repair: repair == "1", state: state}
	if !r.found {
		return r, nil
	}
	if err := json.Unmarshal([]byte(raw), &r.order); err != nil {
		return r, fmt.Errorf("decode order %s as placed: %w", id, err)
	}
	if steps, _ := v[2].(string); steps != "" {
		var err error
		if r.steps, err = activities.ParseSteps(steps); err != nil {
			return r, fmt.Errorf("order %s's plan as placed: %w", id, err)
		}
	}
	return r, nil
}

// checkedAll decodes the sagas of a batch's events and checks each before
// the service acts on it (see check), reading the orders' records in one
// round trip; ops[i] is the operation the service runs on ds[i] ("" for
// the order service). It returns each event's saga, with the order as
// placed, or why it cannot be acted on. An event of an order with no
// record (settled, or never placed) is returned as it is: the service's
// guard drops it.
func (n *Node) checkedAll(ctx context.Context, ds []*Delivery, ops []shop.Op) ([]Saga, []error) {
	sagas, errs := make([]Saga, len(ds)), make([]error, len(ds))
	var ids []string
	var at []int
	for i, d := range ds {
		sagas[i], errs[i] = n.checkEvent(d)
		if errs[i] == nil {
			ids, at = append(ids, sagas[i].Order.ID), append(at, i)
		}
	}
	recs, err := n.readRecords(ctx, ids)
	for k, i := range at {
		switch {
		case err != nil:
			errs[i] = err
		case recs[k].found:
			sagas[i], errs[i] = withRecord(ds[i], sagas[i], ops[i], recs[k])
		}
	}
	return sagas, errs
}

// checkEvent is what checking an event needs no record for: its saga
// decodes, it is where its publisher puts it, its order is valid.
func (n *Node) checkEvent(d *Delivery) (Saga, error) {
	s, err := d.Event.Saga()
	if err != nil {
		return s, fmt.Errorf("%w: %v", ErrPoison, err)
	}
	if err := n.checkOrigin(d); err != nil {
		return s, invalid(d, err.Error())
	}
	if err := s.Order.Validate(n.Participants.Inventory.Catalog); err != nil {
		return s, invalid(d, err.Error())
	}
	return s, nil
}

// withRecord checks an event's saga against its order's records and
// returns it with the order and its plan as placed.
func withRecord(d *Delivery, s Saga, op shop.Op, rec record) (Saga, error) {
	if why := rec.check(d.Event.Type, s, op); why != "" {
		return s, invalid(d, why)
	}
	s.Order, s.Steps = rec.order, rec.steps
	if s.Repair {
		s.Order.Faults = rec.order.Faults.WithoutCompensations()
	}
	return s, nil
}

func invalid(d *Delivery, why string) error {
	return fmt.Errorf("%w: %w: %s of order %s: %s", ErrPoison, ErrInvalidEvent, d.Event.Type, d.Event.OrderID, why)
}

// checkOrigin checks that an entry is where its publisher puts it: on the
// publishing service's stream of the order's partition, with that service
// as its source. A repair request, published by the order service on the
// stream the repairing service reads, only has to be in the partition.
func (n *Node) checkOrigin(d *Delivery) error {
	if t := d.Field(fieldType); t != string(d.Event.Type) {
		return fmt.Errorf("entry type %q differs from event type", t)
	}
	pub := publisher(d.Event.Type)
	if pub == "" {
		return errors.New("no service publishes this event type")
	}
	if d.Event.Source != pub {
		return fmt.Errorf("source %q, but %s publishes it", d.Event.Source, pub)
	}
	if !shop.ValidOrderID(d.Event.OrderID) {
		return errors.New("not a valid order ID")
	}
	want := n.Bus.StreamFor(d.Event.OrderID, pub)
	if d.Event.Type == RepairRequested {
		if strings.HasPrefix(d.Stream, n.Bus.Layout().OrderPrefix(d.Event.OrderID)) {
			return nil
		}
		want = "a stream of the order's partition"
	}
	if d.Stream != want {
		return fmt.Errorf("read from %s, but it belongs on %s", d.Stream, want)
	}
	return nil
}

// publisher is the service that publishes events of type t.
func publisher(t EventType) string {
	switch t {
	case OrderPlaced, OrderCompleted, OrderCompensated, OrderFailed, RepairRequested:
		return ServiceOrder
	}
	for svc, rs := range reactions {
		for _, r := range rs {
			if t == r.onSuccess || t == r.onFailure {
				return svc
			}
		}
	}
	return ""
}

// check says why an event of an order does not hold against the order's
// records ("" when it does).
func (r record) check(t EventType, s Saga, op shop.Op) string {
	if why := samePlaced(s.Order, r.order, s.Repair); why != "" {
		return why
	}
	if claimed, result := opOf(t); claimed != "" {
		if why := r.recorded(claimed, result); why != "" {
			return why
		}
	}
	for _, st := range s.Done {
		if why := r.recorded(st.Forward(), "ok"); why != "" {
			return "lists " + string(st) + " done, but " + why
		}
	}
	for _, st := range s.Compensated {
		if why := r.recorded(st.Compensation(), "ok"); why != "" {
			return "lists " + string(st) + " compensated, but " + why
		}
	}
	if s.FailedStep != "" {
		if why := r.recorded(s.FailedStep.Forward(), "fail"); why != "" {
			return "says " + string(s.FailedStep) + " failed, but " + why
		}
	}
	// A repair event reruns a refused compensation: only while a repair
	// of the order runs (a late copy of one finds its work done).
	if s.Repair && op != "" && !r.repair && !r.state.Done(op) {
		return "a repair event, but no repair of the order runs"
	}
	return ""
}

// recorded says why op's recorded result is not result ("" when it is).
func (r record) recorded(op shop.Op, result string) string {
	got := r.state.Ops[op].Status
	if got == result {
		return ""
	}
	if got == "" {
		got = "nothing"
	}
	return fmt.Sprintf("%s recorded %s for %s, not %s", op.Step(), got, op, result)
}

// samePlaced says how an event's order differs from the order as placed
// ("" when it does not); a repair run's plan has no compensation faults.
func samePlaced(got, placed shop.Order, repair bool) string {
	switch {
	case got.ID != placed.ID:
		return fmt.Sprintf("order ID %q, placed as %q", got.ID, placed.ID)
	case got.Customer != placed.Customer:
		return "customer differs from the order as placed"
	case !slices.Equal(got.Items, placed.Items):
		return fmt.Sprintf("items %v differ from the order as placed (%v)", got.Items, placed.Items)
	case maps.Equal(got.Faults, placed.Faults):
		return ""
	case repair && maps.Equal(got.Faults, placed.Faults.WithoutCompensations()):
		return ""
	}
	return "fault plan differs from the order as placed"
}
