package choreography

import (
	"context"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/shop"
)

// The notify service tells the customer how an order ended. It is a
// subscriber of the order's end and nothing more: its own consumer group
// on the order service's stream, reacting to the terminal events the order
// service publishes anyway (OrderCompleted, OrderCompensated, OrderFailed).
// No other service knows it exists. It publishes nothing, so whatever
// happens to a notification (refused by --fail notify, retried, or
// dead-lettered after MaxDeliveries) cannot change the order's outcome or
// its compensations, which were final before the event it reads.

// ended maps the order service's terminal events to the status they end in.
var ended = map[EventType]shop.Status{
	OrderCompleted:   shop.StatusCompleted,
	OrderCompensated: shop.StatusCompensated,
	OrderFailed:      shop.StatusFailed,
}

// notifyOrders is the notify service: it records one notification per
// ended order, with its outcome (see activities.Notifier). A refusal is
// recorded by the notifier and acked; any other failure leaves the entry
// pending, to be redelivered with backoff.
func (n *Node) notifyOrders(ctx context.Context, ds []*Delivery) []error {
	sagas, errs := n.checkedAll(ctx, ds, make([]shop.Op, len(ds)))
	notifier := &activities.Notifier{Store: n.Participants.Inventory.Store, Retention: n.NotificationRetention}
	for i, d := range ds {
		if errs[i] != nil {
			continue
		}
		s := sagas[i]
		out := OutcomeOf(d.Event.Type, s)
		out.Status = ended[d.Event.Type]
		if out.Status == shop.StatusCompleted {
			out.Reason = ""
		}
		_, err := notifier.Notify(d.context(ctx), activities.NotifyInput{Outcome: out, Faults: s.Order.Faults})
		if r, refused := activities.IsRefusal(err); refused {
			n.Log.Warn("notification refused; the order's outcome stands", "order", s.Order.ID, "status", out.Status, "reason", r.Reason)
			err = nil
		}
		errs[i] = err
	}
	return errs
}
