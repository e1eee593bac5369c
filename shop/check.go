package shop

import (
	"fmt"
	"time"
)

// What an engine reports when its invariants are checked (see
// internal/app/verify): the orders it lists, the totals of the orders it
// settled, and what only it can tell is wrong. The types live here, below
// the engines, so an engine returns them without importing the check.

// Record is one placed order as its engine lists it.
type Record struct {
	ID      string
	Placed  time.Time
	Status  Status
	Outcome Outcome // set when terminal
	// Items are the order's items as placed, when the engine keeps them:
	// its charge must be their price.
	Items []Item
	// Unnotified: the order ends without telling its customer by design,
	// as an orchestrated order whose workflow started before OrderSaga
	// notified does.
	Unnotified bool
}

// Settled is what settled orders still account for: their statuses, the
// stock they hold per SKU, and their charges and refunds.
type Settled struct {
	Statuses map[Status]int   `json:"statuses"`
	Held     map[string]int64 `json:"held"`
	NetCents int64            `json:"net_cents"`
	Charges  int64            `json:"charges"`
	Refunds  int64            `json:"refunds"`
}

// Count is how many orders were settled.
func (s Settled) Count() int {
	n := 0
	for _, c := range s.Statuses {
		n += c
	}
	return n
}

// ViolationKind names what a violation is about.
type ViolationKind string

// The kinds of violations.
const (
	// ViolationStuck: a non-terminal order older than the check allows.
	ViolationStuck ViolationKind = "stuck"
	// ViolationInFlight: a non-terminal order younger than that.
	ViolationInFlight ViolationKind = "in-flight"
	// ViolationFailed: a FAILED order, waiting for a repair.
	ViolationFailed ViolationKind = "failed-needs-repair"
	// ViolationOutcome: an order's outcome disagrees with what its participants recorded.
	ViolationOutcome ViolationKind = "outcome"
	// ViolationStock: stock is not conserved, or negative.
	ViolationStock ViolationKind = "stock"
	// ViolationMoney: charges and refunds do not add up.
	ViolationMoney ViolationKind = "money"
	// ViolationCompensationOrder: compensations ran before their step, or not in reverse.
	ViolationCompensationOrder ViolationKind = "compensation-order"
	// ViolationPending: entries delivered to a consumer group but never acked.
	ViolationPending ViolationKind = "pending"
	// ViolationUnread: entries no consumer of a group has read.
	ViolationUnread ViolationKind = "unread"
	// ViolationDeadLetter: the dead-letter stream holds other than the expected count.
	ViolationDeadLetter ViolationKind = "dead-letter"
	// ViolationNotification: an order's customer was notified more than once,
	// not at all once it ended (its notify not refused), or of another outcome.
	ViolationNotification ViolationKind = "notification"
)

// Violation is one broken invariant of one engine.
type Violation struct {
	Kind   ViolationKind `json:"kind"`
	Engine Mode          `json:"engine"`
	// OrderID is the order the violation is about, if it is about one.
	OrderID string `json:"order_id,omitempty"`
	// Message says what is wrong, in words.
	Message string `json:"message"`
}

// String is the message.
func (v Violation) String() string { return v.Message }

// Violationf returns a violation of kind about orderID (empty when it is
// about no order) with a formatted message.
func Violationf(kind ViolationKind, orderID, format string, args ...any) Violation {
	return Violation{Kind: kind, OrderID: orderID, Message: fmt.Sprintf(format, args...)}
}
