// Package activities holds the saga's participants: Inventory, Fraud,
// Payment and Shipping. Their state lives in Redis under a key prefix per engine. Every
// operation is idempotent by order ID and operation, honours the order's fault
// plan, and is one atomic Lua script. The participants belong to neither
// engine: the Temporal worker registers these structs as activities, the
// choreography services call the same operations with an outbox, and a
// business refusal is a RefusalError that each engine turns into its own form.
package activities

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/shop"
)

// Key prefixes: each engine keeps its own state so they never share counters.
const (
	OrchestrationPrefix = "ordersaga:orch:"
	ChoreographyPrefix  = "ordersaga:chor:"
)

// Store is what every participant holds: a Redis client, the key prefix of
// its engine, and the catalog. Its key layout (see Layout) is the one it
// was built with, or else the one recorded for the prefix, read once.
type Store struct {
	Redis   redis.UniversalClient
	Prefix  string
	Catalog shop.Catalog
	scripts scripts // nil: no outbox
	layout  *layoutRef
}

// layoutRef holds a store's layout once known; stores copied from one
// another share it.
type layoutRef struct{ l atomic.Pointer[Layout] }

// keys returns the store's layout. Built without one, a store reads the P
// recorded for its prefix, and keeps it once one is recorded.
func (s Store) keys(ctx context.Context) (Layout, error) {
	if l := s.layout.l.Load(); l != nil {
		return *l, nil
	}
	n, recorded, err := recordedPartitions(ctx, s.Redis, s.Prefix)
	if err != nil {
		return Layout{}, err
	}
	l, err := NewLayout(s.Prefix, n)
	if err != nil {
		return Layout{}, err
	}
	if recorded {
		s.layout.l.Store(&l)
	}
	return l, nil
}

// Outbox is what a caller commits together with one operation, through the
// OutboxHook its participants were built with (see Participants.WithOutbox).
type Outbox struct {
	// Token names the delivery the operation runs for (the same again
	// when it is redelivered). Reserve and release record it with what
	// they do per SKU, so that when the guard drops the operation, the
	// work of this delivery, and of no other, is undone.
	Token string
	Keys  []string
	// Args returns the hook's arguments. It is called just before the
	// operation commits, after any injected delay, so what it builds (an
	// event's timestamp) tells when the work was done.
	Args func() ([]any, error)
}

// Result is what every operation reports besides its error.
type Result struct {
	OrderID string `json:"order_id"`
	Op      string `json:"op"`
	Detail  string `json:"detail,omitempty"`
	// Duplicate is true when the operation had already run: nothing changed.
	Duplicate bool `json:"duplicate,omitempty"`
	// Dropped is true when the outbox's guard stopped the operation: it
	// did not run, and whatever it had done outside its script was undone.
	Dropped bool `json:"dropped,omitempty"`
	// Outbox is what the outbox hook returned, if there was one.
	Outbox string `json:"-"`
	// proceed: a check found that the operation must now do its work.
	proceed bool
}

// OrderInput is the input of every participant operation.
type OrderInput struct {
	OrderID string         `json:"order_id"`
	Items   []shop.Item    `json:"items"`
	Faults  shop.FaultPlan `json:"faults,omitempty"`
	// Repair, on a compensation, runs it again when an earlier run was
	// refused (once an operator fixed the cause), instead of returning the
	// recorded refusal. It changes nothing for a forward operation or a
	// compensation that succeeded.
	Repair bool `json:"repair,omitempty"`
	// AmountCents, when above zero, is what Charge charges: the order's
	// total priced at placement. Zero: Charge prices Items from the
	// store's catalog.
	AmountCents int64 `json:"amount_cents,omitempty"`
	// Customer is the order's customer, whom the fraud check's rule reads
	// (absent in the inputs of workflows started before it existed).
	Customer string `json:"customer,omitempty"`
}

// InputFor builds the input of every operation for an order.
func InputFor(o shop.Order) OrderInput {
	return OrderInput{OrderID: o.ID, Items: o.Items, Faults: o.Faults, Customer: o.Customer}
}

// Inventory reserves and releases stock.
type Inventory struct{ Store }

// Reserve takes the order's items out of stock, all or none. Out of stock,
// and items the catalog does not allow, are refusals (InventoryRejected),
// recorded like any other result.
func (i *Inventory) Reserve(ctx context.Context, in OrderInput) (Result, error) {
	return i.run(ctx, shop.OpReserve, in, nil)
}

// Release puts back what Reserve took. Releasing twice releases once; releasing
// an order that was never reserved records that, so a late Reserve is refused.
func (i *Inventory) Release(ctx context.Context, in OrderInput) (Result, error) {
	return i.run(ctx, shop.OpRelease, in, nil)
}

// Fraud checks orders for fraud between the reservation and the charge.
type Fraud struct{ Store }

// Check decides once whether the order may be charged, by shop.FraudRefusal
// on its amount (priced like Charge's) and customer. A refusal
// (FraudSuspected) changes nothing, so the check has no compensation.
func (f *Fraud) Check(ctx context.Context, in OrderInput) (Result, error) {
	return f.run(ctx, shop.OpCheck, in, nil)
}

// Payment charges and refunds.
type Payment struct{ Store }

// Charge charges the order's total once. A decline is a refusal (PaymentDeclined).
func (p *Payment) Charge(ctx context.Context, in OrderInput) (Result, error) {
	return p.run(ctx, shop.OpCharge, in, nil)
}

// Refund gives back what Charge took; without a charge it records a no-op.
func (p *Payment) Refund(ctx context.Context, in OrderInput) (Result, error) {
	return p.run(ctx, shop.OpRefund, in, nil)
}

// Shipping schedules and cancels shipments.
type Shipping struct{ Store }

// Schedule books a shipment. A failure is a refusal (ShipmentFailed).
func (s *Shipping) Schedule(ctx context.Context, in OrderInput) (Result, error) {
	return s.run(ctx, shop.OpSchedule, in, nil)
}

// Cancel cancels a scheduled shipment; without one it records a no-op.
func (s *Shipping) Cancel(ctx context.Context, in OrderInput) (Result, error) {
	return s.run(ctx, shop.OpCancel, in, nil)
}

// Participants bundles the four participants over one store.
type Participants struct {
	Inventory *Inventory
	Fraud     *Fraud
	Payment   *Payment
	Shipping  *Shipping
}

// New returns the participants over one Redis, prefix and catalog, with the
// number of partitions recorded for the prefix (see EnsurePartitions), or
// keyspace.DefaultPartitions while none is recorded.
func New(rdb redis.UniversalClient, prefix string, catalog shop.Catalog) Participants {
	return newParticipants(Store{Redis: rdb, Prefix: prefix, Catalog: catalog, layout: &layoutRef{}})
}

// NewWith returns the participants over one Redis with the given layout.
func NewWith(rdb redis.UniversalClient, layout Layout, catalog shop.Catalog) Participants {
	st := Store{Redis: rdb, Prefix: layout.Prefix, Catalog: catalog, layout: &layoutRef{}}
	st.layout.l.Store(&layout)
	return newParticipants(st)
}

func newParticipants(st Store) Participants {
	return Participants{Inventory: &Inventory{st}, Fraud: &Fraud{st}, Payment: &Payment{st}, Shipping: &Shipping{st}}
}

// WithOutbox returns the participants with every operation's script built
// with hook, so that Commit can run an Outbox in the same atomic step.
func (p Participants) WithOutbox(hook OutboxHook) Participants {
	st := p.Inventory.Store
	st.scripts = newScripts(hook)
	return newParticipants(st)
}

// Do runs one operation by name.
func (p Participants) Do(ctx context.Context, op shop.Op, in OrderInput) (Result, error) {
	return p.Commit(ctx, op, in, nil)
}

// Commit runs one operation by name and commits ob with it, atomically.
func (p Participants) Commit(ctx context.Context, op shop.Op, in OrderInput, ob *Outbox) (Result, error) {
	if !slices.Contains(shop.Ops, op) {
		return Result{}, fmt.Errorf("unknown operation %q", op)
	}
	return p.Inventory.run(ctx, op, in, ob)
}
