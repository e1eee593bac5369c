// Package shop holds the domain of the order saga: orders, steps, statuses,
// outcomes, the catalog and the fault plan. It does no I/O, so the Temporal
// workflow, the participants and the choreography services can all share it.
package shop

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// Step is one forward step of the saga, named after the participant that runs it.
type Step string

// The saga's steps, in the order they run.
const (
	StepInventory Step = "inventory"
	// StepFraud is the risk check between the reservation and the charge
	// (see FraudRefusal). It holds nothing, so it has no compensation: a
	// refusal compensates the reservation.
	StepFraud    Step = "fraud"
	StepPayment  Step = "payment"
	StepShipping Step = "shipping"
)

// Steps lists the forward steps in saga order.
var Steps = []Step{StepInventory, StepFraud, StepPayment, StepShipping}

// StepsBeforeFraud lists the steps of the saga before the fraud check was
// inserted: orders placed before it run them (see docs/changing.md).
var StepsBeforeFraud = []Step{StepInventory, StepPayment, StepShipping}

// ParseStep returns the step with the given name.
func ParseStep(s string) (Step, error) {
	for _, st := range Steps {
		if string(st) == s {
			return st, nil
		}
	}
	return "", fmt.Errorf("unknown step %q (want inventory, fraud, payment or shipping)", s)
}

// Op is one participant operation: the forward action of a step or its compensation.
type Op string

// The seven participant operations.
const (
	OpReserve  Op = "reserve"
	OpRelease  Op = "release"
	OpCheck    Op = "check"
	OpCharge   Op = "charge"
	OpRefund   Op = "refund"
	OpSchedule Op = "schedule"
	OpCancel   Op = "cancel"
)

// Ops lists every operation, forward ones first.
var Ops = []Op{OpReserve, OpCheck, OpCharge, OpSchedule, OpRelease, OpRefund, OpCancel}

// OpNotify tells the customer how their order ended, once it has. It is no
// step of the saga: it runs after the order is terminal, and its failure
// changes neither the order's outcome nor its compensations. It has a fault
// of its own (--fail notify) like any operation.
const OpNotify Op = "notify"

// Forward returns the forward operation of a step.
func (s Step) Forward() Op {
	switch s {
	case StepInventory:
		return OpReserve
	case StepFraud:
		return OpCheck
	case StepPayment:
		return OpCharge
	case StepShipping:
		return OpSchedule
	}
	return ""
}

// Compensation returns the operation that undoes a step: none ("") for
// the fraud check, which changes nothing.
func (s Step) Compensation() Op {
	switch s {
	case StepInventory:
		return OpRelease
	case StepPayment:
		return OpRefund
	case StepShipping:
		return OpCancel
	}
	return ""
}

// Step returns the step an operation belongs to.
func (o Op) Step() Step {
	switch o {
	case OpReserve, OpRelease:
		return StepInventory
	case OpCheck:
		return StepFraud
	case OpCharge, OpRefund:
		return StepPayment
	case OpSchedule, OpCancel:
		return StepShipping
	}
	return ""
}

// IsCompensation reports whether the operation undoes a step.
func (o Op) IsCompensation() bool {
	return o == OpRelease || o == OpRefund || o == OpCancel
}

// Status is the state of an order.
type Status string

// Order statuses. COMPLETED, COMPENSATED and FAILED are terminal.
const (
	StatusPending     Status = "PENDING"
	StatusCompleted   Status = "COMPLETED"
	StatusCompensated Status = "COMPENSATED"
	StatusFailed      Status = "FAILED"
	// StatusCompensating: still PENDING, with a compensation that has kept
	// retrying longer than the alert threshold; it goes back to PENDING
	// when the compensation ends. Never terminal.
	StatusCompensating Status = "COMPENSATING"
)

// DefaultCompensationAlertAfter is how long a compensation may run,
// retrying, before its order shows COMPENSATING, in both engines.
const DefaultCompensationAlertAfter = time.Minute

// Terminal reports whether no further change will happen to an order in this status.
func (s Status) Terminal() bool {
	return s == StatusCompleted || s == StatusCompensated || s == StatusFailed
}

// Item is one line of an order.
type Item struct {
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

// Quantity bounds for one item.
const (
	MinQuantity = 1
	MaxQuantity = 1000
)

// Order is what a customer places. The fault plan travels with it so that
// every engine sees the same injected faults.
type Order struct {
	ID       string    `json:"id"`
	Customer string    `json:"customer"`
	Items    []Item    `json:"items"`
	Faults   FaultPlan `json:"faults,omitempty"`
	// AmountCents is the amount to charge, priced from the catalog when
	// the order was placed (see Priced). Zero: not priced, the charge
	// prices the items when it runs.
	AmountCents int64 `json:"amount_cents,omitempty"`
}

// Priced returns the order with AmountCents set to its total in c: the
// order as placed, so that a price change between placement and charge
// does not change what is charged.
func (o Order) Priced(c Catalog) Order {
	o.AmountCents = o.Total(c)
	return o
}

// Outcome is the result of a saga once it has stopped.
type Outcome struct {
	OrderID     string `json:"order_id"`
	Status      Status `json:"status"`
	Steps       []Step `json:"steps"`
	Compensated []Step `json:"compensated"`
	// FailedStep is the step whose failure started the compensation, if any.
	FailedStep Step `json:"failed_step,omitempty"`
	// Reason says why the order did not complete.
	Reason string `json:"reason,omitempty"`
}

// ErrInvalidOrder is wrapped by every validation error.
var ErrInvalidOrder = errors.New("invalid order")

// Validate checks an order against a catalog. Every error wraps ErrInvalidOrder.
func (o Order) Validate(c Catalog) error {
	if strings.TrimSpace(o.ID) == "" {
		return fmt.Errorf("%w: missing order ID", ErrInvalidOrder)
	}
	if !ValidOrderID(o.ID) {
		return fmt.Errorf("%w: order ID %q must be 1 to 128 letters, digits, '.', '_', ':' or '-'", ErrInvalidOrder, o.ID)
	}
	if err := CheckCustomer(o.Customer); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidOrder, err)
	}
	if len(o.Items) == 0 {
		return fmt.Errorf("%w: order %s has no items", ErrInvalidOrder, o.ID)
	}
	seen := make(map[string]bool, len(o.Items))
	for _, it := range o.Items {
		if _, ok := c[it.SKU]; !ok {
			return fmt.Errorf("%w: unknown SKU %q (known: %s)", ErrInvalidOrder, it.SKU, strings.Join(c.SKUs(), ", "))
		}
		if it.Quantity < MinQuantity || it.Quantity > MaxQuantity {
			return fmt.Errorf("%w: quantity %d of %s must be between %d and %d", ErrInvalidOrder, it.Quantity, it.SKU, MinQuantity, MaxQuantity)
		}
		if seen[it.SKU] {
			return fmt.Errorf("%w: SKU %s listed twice", ErrInvalidOrder, it.SKU)
		}
		seen[it.SKU] = true
	}
	if _, ok := o.checkedTotal(c); !ok {
		return fmt.Errorf("%w: the total of order %s does not fit in 64 bits of cents", ErrInvalidOrder, o.ID)
	}
	if err := o.Faults.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidOrder, err)
	}
	return nil
}

// ValidOrderID reports whether s can be an order ID: 1 to 128 letters,
// digits, '.', '_', ':' or '-', so it is safe in keys, workflow IDs and URLs.
func ValidOrderID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == ':' || r == '-'
		if !ok {
			return false
		}
	}
	return true
}

// Total is the amount to charge for the order, in cents.
func (o Order) Total(c Catalog) int64 {
	var sum int64
	for _, it := range o.Items {
		sum += c[it.SKU].PriceCents * int64(it.Quantity)
	}
	return sum
}

// checkedTotal is Total, and false when a price is negative or the sum
// overflows an int64.
func (o Order) checkedTotal(c Catalog) (int64, bool) {
	var sum int64
	for _, it := range o.Items {
		price, q := c[it.SKU].PriceCents, int64(it.Quantity)
		if price < 0 || q < 0 || (q > 0 && price > math.MaxInt64/q) || sum > math.MaxInt64-price*q {
			return 0, false
		}
		sum += price * q
	}
	return sum, true
}

// WorkflowID is the Temporal workflow ID of an order: the business key, never renamed.
func WorkflowID(orderID string) string { return "order-" + orderID }

// Product is one catalog entry.
type Product struct {
	Name         string `json:"name"`
	PriceCents   int64  `json:"price_cents"`
	InitialStock int64  `json:"initial_stock"`
}

// Catalog maps SKU to product.
type Catalog map[string]Product

// SKUs returns the catalog's SKUs, sorted.
func (c Catalog) SKUs() []string {
	out := make([]string, 0, len(c))
	for k := range c {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// DefaultCatalog is the shop's catalog. Stock is large so that benchmarks do
// not run dry; "poster" is scarce so that out-of-stock rejections are easy to see.
func DefaultCatalog() Catalog {
	return Catalog{
		"book":   {Name: "Designing Data-Intensive Applications", PriceCents: 4200, InitialStock: 1_000_000},
		"mug":    {Name: "Saga mug", PriceCents: 1250, InitialStock: 1_000_000},
		"lamp":   {Name: "Desk lamp", PriceCents: 3999, InitialStock: 1_000_000},
		"pen":    {Name: "Gel pen", PriceCents: 199, InitialStock: 1_000_000},
		"poster": {Name: "Limited poster", PriceCents: 2500, InitialStock: 10},
	}
}

// DefaultSKU is the item an order gets when none is given.
const DefaultSKU = "book"
