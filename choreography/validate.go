package choreography

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

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
// what the participants recorded.
type record struct {
	found  bool
	order  shop.Order
	repair bool
	state  activities.OrderState
}

// readRecord reads an order's records in one round trip (one slot).
func (n *Node) readRecord(ctx context.Context, id string) (record, error) {
	pipe := n.Bus.Redis.Pipeline()
	rec := pipe.HMGet(ctx, n.orderKey(id), "order", "repair")
	state := n.Bus.Layout().QueueOrderState(ctx, pipe, id)
	if _, err := pipe.Exec(ctx); err != nil {
		return record{}, fmt.Errorf("read records of order %s: %w", id, err)
	}
	v := rec.Val()
	raw, _ := v[0].(string)
	repair, _ := v[1].(string)
	r := record{found: raw != "", repair: repair == "1", state: state()}
	if r.found {
		if err := json.Unmarshal([]byte(raw), &r.order); err != nil {
			return record{}, fmt.Errorf("decode order %s as placed: %w", id, err)
		}
	}
	return r, nil
}

// checked decodes an event's saga and checks it before a service acts on
// it: the entry is on the stream of the service that publishes its type,
// in the order's partition; the order is valid against the catalog and is
// the order as placed; what the event and its saga say happened is what
// the participants recorded; a repair event belongs to a repair that runs.
// op is the operation the service runs on the event ("" for the order
// service). It returns the saga with the order as placed, which is all the
// service acts on. An event of an order with no record (settled, or never
// placed) is returned as it is: the service's guard drops it.
func (n *Node) checked(ctx context.Context, d *Delivery, op shop.Op) (Saga, error) {
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
	rec, err := n.readRecord(ctx, s.Order.ID)
	if err != nil || !rec.found {
		return s, err
	}
	if why := rec.check(d.Event.Type, s, op); why != "" {
		return s, invalid(d, why)
	}
	s.Order = rec.order
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
