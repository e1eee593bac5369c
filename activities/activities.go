// Package activities holds the saga's participants: Inventory, Payment and
// Shipping. Their state lives in Redis under a key prefix per engine. Every
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
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/shop"
)

// Key prefixes: each engine keeps its own state so they never share counters.
const (
	OrchestrationPrefix = "ordersaga:orch:"
	ChoreographyPrefix  = "ordersaga:chor:"
)

// Store is what every participant holds: a Redis client, the key prefix of
// its engine, and the catalog.
type Store struct {
	Redis   redis.UniversalClient
	Prefix  string
	Catalog shop.Catalog

	scripts scripts // nil: no outbox
}

func (s Store) stockKey(sku string) string       { return s.Prefix + "stock:" + sku }
func (s Store) inventoryKey(order string) string { return s.Prefix + "inv:" + order }
func (s Store) paymentKey(order string) string   { return s.Prefix + "pay:" + order }
func (s Store) shippingKey(order string) string  { return s.Prefix + "ship:" + order }
func (s Store) ledgerKey() string                { return s.Prefix + "ledger" }
func (s Store) shipmentsKey() string             { return s.Prefix + "shipments" }

// Outbox is what a caller commits together with one operation, through the
// OutboxHook its participants were built with (see Participants.WithOutbox).
type Outbox struct {
	Keys []string
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
	// Outbox is what the outbox hook returned, if there was one.
	Outbox string `json:"-"`
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
}

// InputFor builds the input of every operation for an order.
func InputFor(o shop.Order) OrderInput {
	return OrderInput{OrderID: o.ID, Items: o.Items, Faults: o.Faults}
}

// run applies the order's fault plan and runs one operation's script, with
// the outbox when ob is set. A refusal returns a *RefusalError, an injected
// transient fault a *TransientError.
func (s Store) run(ctx context.Context, op shop.Op, in OrderInput, ob *Outbox) (Result, error) {
	f, planned := in.Faults.For(op)
	if planned && f.Kind == shop.FaultDelay {
		t := time.NewTimer(f.Delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return Result{}, fmt.Errorf("%s %s: %w", op, in.OrderID, ctx.Err())
		case <-t.C:
		}
	}
	keys, args := s.call(op, in)
	kind, attempts := "", 0
	if planned && f.Kind != shop.FaultDelay {
		kind, attempts = string(f.Kind), f.Attempts
	}
	repair := 0
	if in.Repair && op.IsCompensation() {
		repair = 1
	}
	argv := append([]any{len(keys), len(args), kind, attempts, repair}, args...)
	script := plainScripts[op]
	if ob != nil {
		if s.scripts == nil {
			return Result{}, fmt.Errorf("%s %s: an outbox needs participants built WithOutbox", op, in.OrderID)
		}
		script = s.scripts[op]
		keys = append(keys, ob.Keys...)
		if ob.Args != nil {
			extra, err := ob.Args()
			if err != nil {
				return Result{}, fmt.Errorf("%s %s: %w", op, in.OrderID, err)
			}
			argv = append(argv, extra...)
		}
	}
	v, err := script.Run(ctx, s.Redis, keys, argv...).Slice()
	if err != nil {
		return Result{}, fmt.Errorf("%s %s: %w", op, in.OrderID, err)
	}
	return reply(op, in.OrderID, v)
}

// reply reads a script's {status, detail, outbox result, duplicate}.
func reply(op shop.Op, orderID string, v []any) (Result, error) {
	if len(v) != 4 {
		return Result{}, fmt.Errorf("%s %s: unexpected script reply %v", op, orderID, v)
	}
	status, _ := v[0].(string)
	detail, _ := v[1].(string)
	outbox, _ := v[2].(string)
	dup, _ := v[3].(int64)
	res := Result{OrderID: orderID, Op: string(op), Detail: detail, Duplicate: dup == 1, Outbox: outbox}
	switch status {
	case "ok":
		return res, nil
	case "fail":
		return res, &RefusalError{Op: op, Reason: detail}
	case "transient":
		return res, &TransientError{Op: op, Detail: detail}
	}
	return res, fmt.Errorf("%s %s: unexpected script status %q", op, orderID, status)
}

// call returns the keys and arguments of one operation's script.
func (s Store) call(op shop.Op, in OrderInput) (keys []string, args []any) {
	switch op {
	case shop.OpReserve:
		return s.reserveCall(in)
	case shop.OpRelease:
		keys, args = []string{s.inventoryKey(in.OrderID)}, nil
		for _, sku := range distinctSKUs(in.Items) {
			keys = append(keys, s.stockKey(sku))
			args = append(args, sku)
		}
		return keys, args
	case shop.OpCharge:
		amount := shop.Order{Items: in.Items}.Total(s.Catalog)
		return []string{s.paymentKey(in.OrderID), s.ledgerKey()}, []any{amount}
	case shop.OpRefund:
		return []string{s.paymentKey(in.OrderID), s.ledgerKey()}, nil
	case shop.OpSchedule:
		return []string{s.shippingKey(in.OrderID), s.shipmentsKey()}, []any{"SHP-" + in.OrderID}
	case shop.OpCancel:
		return []string{s.shippingKey(in.OrderID), s.shipmentsKey()}, nil
	}
	return nil, nil
}

// reserveCall refuses items the catalog does not allow through the script
// (so the refusal is recorded like any other), and otherwise asks for each
// distinct SKU's total quantity: a SKU listed twice is reserved as one line.
func (s Store) reserveCall(in OrderInput) (keys []string, args []any) {
	keys = []string{s.inventoryKey(in.OrderID)}
	refuse := ""
	if len(in.Items) == 0 {
		refuse = "no items"
	}
	want := map[string]int{}
	for _, it := range in.Items {
		if _, ok := s.Catalog[it.SKU]; !ok || it.Quantity < shop.MinQuantity || it.Quantity > shop.MaxQuantity {
			refuse = fmt.Sprintf("invalid item %s x%d", it.SKU, it.Quantity)
			break
		}
		want[it.SKU] += it.Quantity
	}
	args = []any{refuse}
	if refuse != "" {
		return keys, args
	}
	for _, sku := range distinctSKUs(in.Items) {
		keys = append(keys, s.stockKey(sku))
		args = append(args, sku, want[sku])
	}
	return keys, args
}

// distinctSKUs lists the SKUs of items once each, in order of appearance.
func distinctSKUs(items []shop.Item) []string {
	var out []string
	for _, it := range items {
		if !slices.Contains(out, it.SKU) {
			out = append(out, it.SKU)
		}
	}
	return out
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

// Participants bundles the three participants over one store.
type Participants struct {
	Inventory *Inventory
	Payment   *Payment
	Shipping  *Shipping
}

// New returns the participants over one Redis, prefix and catalog.
func New(rdb redis.UniversalClient, prefix string, catalog shop.Catalog) Participants {
	return newParticipants(Store{Redis: rdb, Prefix: prefix, Catalog: catalog})
}

func newParticipants(st Store) Participants {
	return Participants{Inventory: &Inventory{st}, Payment: &Payment{st}, Shipping: &Shipping{st}}
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
