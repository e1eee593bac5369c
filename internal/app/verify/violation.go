package verify

import (
	"fmt"

	"github.com/ordersaga/ordersaga/shop"
)

// Kind names what a violation is about.
type Kind string

// The kinds of violations.
const (
	// KindStuck: a non-terminal order older than Options.StuckAfter.
	KindStuck Kind = "stuck"
	// KindInFlight: a non-terminal order younger than that.
	KindInFlight Kind = "in-flight"
	// KindFailed: a FAILED order, waiting for a repair.
	KindFailed Kind = "failed-needs-repair"
	// KindOutcome: an order's outcome disagrees with what its participants recorded.
	KindOutcome Kind = "outcome"
	// KindStock: stock is not conserved, or negative.
	KindStock Kind = "stock"
	// KindMoney: charges and refunds do not add up.
	KindMoney Kind = "money"
	// KindCompensationOrder: compensations ran before their step, or not in reverse.
	KindCompensationOrder Kind = "compensation-order"
	// KindPending: entries delivered to a consumer group but never acked.
	KindPending Kind = "pending"
	// KindUnread: entries no consumer of a group has read.
	KindUnread Kind = "unread"
	// KindDeadLetter: the dead-letter stream holds other than the expected count.
	KindDeadLetter Kind = "dead-letter"
)

// Violation is one broken invariant of one engine.
type Violation struct {
	Kind   Kind      `json:"kind"`
	Engine shop.Mode `json:"engine"`
	// OrderID is the order the violation is about, if it is about one.
	OrderID string `json:"order_id,omitempty"`
	// Message says what is wrong, in words.
	Message string `json:"message"`
}

// String is the message.
func (v Violation) String() string { return v.Message }

// Newf returns a violation of kind about orderID (empty when it is about no
// order) with a formatted message.
func Newf(kind Kind, orderID, format string, args ...any) Violation {
	return Violation{Kind: kind, OrderID: orderID, Message: fmt.Sprintf(format, args...)}
}
