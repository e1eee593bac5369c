// Package activities holds the saga's participants: Inventory, Payment and
// Shipping. Their state lives in Redis under a key prefix per engine. Every
// operation is idempotent by order ID and operation, honours the order's fault
// plan, and is one atomic Lua script. The Temporal worker registers these
// structs as activities; the choreography services call the same methods.
package activities

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.temporal.io/sdk/temporal"

	"github.com/ordersaga/ordersaga/shop"
)

// Key prefixes: each engine keeps its own state so they never share counters.
const (
	OrchestrationPrefix = "ordersaga:orch:"
	ChoreographyPrefix  = "ordersaga:chor:"
)

// Error type names. They are stable: workflows, tests and users match on them.
const (
	ErrTypeInventoryRejected = "InventoryRejected"
	ErrTypePaymentDeclined   = "PaymentDeclined"
	ErrTypeShipmentFailed    = "ShipmentFailed"
	ErrTypeReleaseFailed     = "ReleaseFailed"
	ErrTypeRefundFailed      = "RefundFailed"
	ErrTypeCancelFailed      = "CancelFailed"
	ErrTypeTransient         = "TransientFault"
)

// FailureType returns the error type name of a business failure of op.
func FailureType(op shop.Op) string {
	switch op {
	case shop.OpReserve:
		return ErrTypeInventoryRejected
	case shop.OpCharge:
		return ErrTypePaymentDeclined
	case shop.OpSchedule:
		return ErrTypeShipmentFailed
	case shop.OpRelease:
		return ErrTypeReleaseFailed
	case shop.OpRefund:
		return ErrTypeRefundFailed
	case shop.OpCancel:
		return ErrTypeCancelFailed
	}
	return "UnknownFailure"
}

// BusinessTypes lists the error types that retrying cannot fix.
var BusinessTypes = []string{
	ErrTypeInventoryRejected, ErrTypePaymentDeclined, ErrTypeShipmentFailed,
	ErrTypeReleaseFailed, ErrTypeRefundFailed, ErrTypeCancelFailed,
}

// IsBusiness reports whether err is a business failure (non-retryable), and its type.
func IsBusiness(err error) (string, bool) {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.NonRetryable() {
		return appErr.Type(), true
	}
	return "", false
}

// IsTransient reports whether err is an injected transient fault.
func IsTransient(err error) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.Type() == ErrTypeTransient
}

// Store is what every participant holds: a Redis client, the key prefix of
// its engine, and the catalog.
type Store struct {
	Redis   redis.UniversalClient
	Prefix  string
	Catalog shop.Catalog
}

func (s Store) stockKey(sku string) string       { return s.Prefix + "stock:" + sku }
func (s Store) inventoryKey(order string) string { return s.Prefix + "inv:" + order }
func (s Store) paymentKey(order string) string   { return s.Prefix + "pay:" + order }
func (s Store) shippingKey(order string) string  { return s.Prefix + "ship:" + order }
func (s Store) ledgerKey() string                { return s.Prefix + "ledger" }
func (s Store) shipmentsKey() string             { return s.Prefix + "shipments" }

// Message is one event an Outbox may publish.
type Message struct {
	Stream string
	Type   string
	JSON   []byte
}

// DetailPlaceholder, inside a JSON string of an outbox message, is replaced
// by the operation's detail (a failure's reason, an amount, a tracking ID).
const DetailPlaceholder = "@DETAIL@"

// Outbox is written in the same atomic step as an operation's state change.
// Choreography uses it to publish the next event and ack the incoming one, so
// a crash leaves all or nothing. When the operation was already done, only the
// ack happens: the earlier run published already.
type Outbox struct {
	AckStream, AckGroup, AckID string
	History                    string  // list to append the published event to
	OnSuccess                  Message // published when the operation succeeds
	OnFailure                  Message // published on a business failure
	// Prepare, when set, is called just before the operation commits (after
	// any injected delay) to build OnSuccess and OnFailure, so their
	// timestamps tell when the work was done.
	Prepare func(ob *Outbox) error
}

// Result is what every operation reports besides its error.
type Result struct {
	OrderID string `json:"order_id"`
	Op      string `json:"op"`
	Detail  string `json:"detail,omitempty"`
	// Duplicate is true when the operation had already run: nothing changed.
	Duplicate bool `json:"duplicate,omitempty"`
	// Emitted is the stream entry ID of the event the outbox published.
	Emitted string `json:"-"`
}

// run applies the order's fault plan and runs one operation's script.
func (s Store) run(ctx context.Context, script *redis.Script, op shop.Op, orderID string, faults shop.FaultPlan, ob *Outbox, keys []string, args ...any) (Result, error) {
	f, planned := faults.For(op)
	if planned && f.Kind == shop.FaultDelay {
		t := time.NewTimer(f.Delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return Result{}, fmt.Errorf("%s %s: %w", op, orderID, ctx.Err())
		case <-t.C:
		}
	}
	if ob != nil && ob.Prepare != nil {
		if err := ob.Prepare(ob); err != nil {
			return Result{}, fmt.Errorf("%s %s: %w", op, orderID, err)
		}
	}
	argv := make([]any, 0, 13+len(args))
	if ob != nil {
		argv = append(argv, "1", ob.AckStream, ob.AckGroup, ob.AckID, ob.History,
			ob.OnSuccess.Stream, ob.OnSuccess.Type, ob.OnSuccess.JSON,
			ob.OnFailure.Stream, ob.OnFailure.Type, ob.OnFailure.JSON)
	} else {
		argv = append(argv, "0", "", "", "", "", "", "", "", "", "", "")
	}
	kind, attempts := "", 0
	if planned && f.Kind != shop.FaultDelay {
		kind, attempts = string(f.Kind), f.Attempts
	}
	argv = append(argv, kind, attempts)
	argv = append(argv, args...)

	v, err := script.Run(ctx, s.Redis, keys, argv...).Slice()
	if err != nil {
		return Result{}, fmt.Errorf("%s %s: %w", op, orderID, err)
	}
	if len(v) != 4 {
		return Result{}, fmt.Errorf("%s %s: unexpected script reply %v", op, orderID, v)
	}
	status, _ := v[0].(string)
	detail, _ := v[1].(string)
	emitted, _ := v[2].(string)
	dup, _ := v[3].(int64)
	res := Result{OrderID: orderID, Op: string(op), Detail: detail, Duplicate: dup == 1, Emitted: emitted}
	switch status {
	case "ok":
		return res, nil
	case "fail":
		return res, temporal.NewNonRetryableApplicationError(detail, FailureType(op), nil)
	case "transient":
		return res, temporal.NewApplicationError(detail, ErrTypeTransient)
	}
	return res, fmt.Errorf("%s %s: unexpected script status %q", op, orderID, status)
}

// OrderInput is the input of every participant operation.
type OrderInput struct {
	OrderID string         `json:"order_id"`
	Items   []shop.Item    `json:"items"`
	Faults  shop.FaultPlan `json:"faults,omitempty"`
	// Outbox, when set, is committed atomically with the operation. It is
	// never serialized: only in-process callers (choreography) set it.
	Outbox *Outbox `json:"-"`
}

// InputFor builds the input of every operation for an order.
func InputFor(o shop.Order) OrderInput {
	return OrderInput{OrderID: o.ID, Items: o.Items, Faults: o.Faults}
}

// Inventory reserves and releases stock.
type Inventory struct{ Store }

// Reserve takes the order's items out of stock, all or none. Out of stock,
// and items the catalog does not allow, are business failures
// (InventoryRejected), recorded like any other result.
func (i *Inventory) Reserve(ctx context.Context, in OrderInput) (Result, error) {
	keys := []string{i.inventoryKey(in.OrderID)}
	qty := []any{""} // ARGV[14]: a reason to refuse without looking at stock
	want := map[string]int{}
	var skus []string
	for _, it := range in.Items {
		if _, ok := i.Catalog[it.SKU]; !ok || it.Quantity < shop.MinQuantity || it.Quantity > shop.MaxQuantity {
			qty[0] = fmt.Sprintf("invalid item %s x%d", it.SKU, it.Quantity)
			break
		}
		if _, seen := want[it.SKU]; !seen {
			skus = append(skus, it.SKU)
		}
		want[it.SKU] += it.Quantity // a SKU listed twice is reserved as one line
	}
	if len(in.Items) == 0 {
		qty[0] = "no items"
	}
	if qty[0] == "" {
		for _, sku := range skus {
			keys = append(keys, i.stockKey(sku))
			qty = append(qty, want[sku])
		}
	}
	return i.run(ctx, reserveScript, shop.OpReserve, in.OrderID, in.Faults, in.Outbox, keys, qty...)
}

// Release puts back what Reserve took. Releasing twice releases once; releasing
// an order that was never reserved records that, so a late Reserve is refused.
func (i *Inventory) Release(ctx context.Context, in OrderInput) (Result, error) {
	return i.run(ctx, releaseScript, shop.OpRelease, in.OrderID, in.Faults, in.Outbox,
		[]string{i.inventoryKey(in.OrderID)})
}

// Payment charges and refunds.
type Payment struct{ Store }

// Charge charges the order's total once. A decline is a business failure (PaymentDeclined).
func (p *Payment) Charge(ctx context.Context, in OrderInput) (Result, error) {
	amount := shop.Order{Items: in.Items}.Total(p.Catalog)
	return p.run(ctx, chargeScript, shop.OpCharge, in.OrderID, in.Faults, in.Outbox,
		[]string{p.paymentKey(in.OrderID), p.ledgerKey()}, amount)
}

// Refund gives back what Charge took; without a charge it records a no-op.
func (p *Payment) Refund(ctx context.Context, in OrderInput) (Result, error) {
	return p.run(ctx, refundScript, shop.OpRefund, in.OrderID, in.Faults, in.Outbox,
		[]string{p.paymentKey(in.OrderID), p.ledgerKey()})
}

// Shipping schedules and cancels shipments.
type Shipping struct{ Store }

// Schedule books a shipment. A failure is a business failure (ShipmentFailed).
func (s *Shipping) Schedule(ctx context.Context, in OrderInput) (Result, error) {
	return s.run(ctx, scheduleScript, shop.OpSchedule, in.OrderID, in.Faults, in.Outbox,
		[]string{s.shippingKey(in.OrderID), s.shipmentsKey()}, "SHP-"+in.OrderID)
}

// Cancel cancels a scheduled shipment; without one it records a no-op.
func (s *Shipping) Cancel(ctx context.Context, in OrderInput) (Result, error) {
	return s.run(ctx, cancelScript, shop.OpCancel, in.OrderID, in.Faults, in.Outbox,
		[]string{s.shippingKey(in.OrderID), s.shipmentsKey()})
}

// Participants bundles the three participants over one store.
type Participants struct {
	Inventory *Inventory
	Payment   *Payment
	Shipping  *Shipping
}

// New returns the participants over one Redis, prefix and catalog.
func New(rdb redis.UniversalClient, prefix string, catalog shop.Catalog) Participants {
	st := Store{Redis: rdb, Prefix: prefix, Catalog: catalog}
	return Participants{Inventory: &Inventory{st}, Payment: &Payment{st}, Shipping: &Shipping{st}}
}

// Do runs one operation by name.
func (p Participants) Do(ctx context.Context, op shop.Op, in OrderInput) (Result, error) {
	switch op {
	case shop.OpReserve:
		return p.Inventory.Reserve(ctx, in)
	case shop.OpRelease:
		return p.Inventory.Release(ctx, in)
	case shop.OpCharge:
		return p.Payment.Charge(ctx, in)
	case shop.OpRefund:
		return p.Payment.Refund(ctx, in)
	case shop.OpSchedule:
		return p.Shipping.Schedule(ctx, in)
	case shop.OpCancel:
		return p.Shipping.Cancel(ctx, in)
	}
	return Result{}, fmt.Errorf("unknown operation %q", op)
}

// Seed sets each SKU's stock to its initial value where it is not set yet.
func Seed(ctx context.Context, rdb redis.UniversalClient, prefix string, catalog shop.Catalog) error {
	st := Store{Prefix: prefix}
	pipe := rdb.Pipeline()
	for _, sku := range catalog.SKUs() {
		pipe.SetNX(ctx, st.stockKey(sku), catalog[sku].InitialStock, 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("seed catalog: %w", err)
	}
	return nil
}

// Stock returns the available stock per SKU.
func Stock(ctx context.Context, rdb redis.UniversalClient, prefix string, catalog shop.Catalog) (map[string]int64, error) {
	st := Store{Prefix: prefix}
	skus := catalog.SKUs()
	keys := make([]string, len(skus))
	for i, sku := range skus {
		keys[i] = st.stockKey(sku)
	}
	vals, err := rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("read stock: %w", err)
	}
	out := make(map[string]int64, len(skus))
	for i, sku := range skus {
		if s, ok := vals[i].(string); ok {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("read stock of %s: %w", sku, err)
			}
			out[sku] = n
		}
	}
	return out, nil
}

// Ledger sums the payment participant's books.
type Ledger struct {
	ChargedCents  int64 `json:"charged_cents" redis:"charged_cents"`
	RefundedCents int64 `json:"refunded_cents" redis:"refunded_cents"`
	Charges       int64 `json:"charges" redis:"charges"`
	Refunds       int64 `json:"refunds" redis:"refunds"`
}

// ReadLedger returns the payment ledger of an engine.
func ReadLedger(ctx context.Context, rdb redis.UniversalClient, prefix string) (Ledger, error) {
	var l Ledger
	if err := rdb.HGetAll(ctx, Store{Prefix: prefix}.ledgerKey()).Scan(&l); err != nil {
		return l, fmt.Errorf("read ledger: %w", err)
	}
	return l, nil
}

// OpState is the recorded result of one operation of one order.
type OpState struct {
	Status   string `json:"status"` // "ok" or "fail"
	Detail   string `json:"detail,omitempty"`
	Attempts int64  `json:"attempts,omitempty"` // attempts counted for a transient fault
}

// OrderState is what the participants recorded about one order.
type OrderState struct {
	Ops map[shop.Op]OpState `json:"ops"`
	// Reserved is the quantity per SKU the reservation took.
	Reserved map[string]int64 `json:"reserved,omitempty"`
	// ChargedCents is the amount the charge took.
	ChargedCents int64 `json:"charged_cents,omitempty"`
}

// Done reports whether op ran and succeeded.
func (s OrderState) Done(op shop.Op) bool { return s.Ops[op].Status == "ok" }

// ReadOrderState returns what the participants of an engine recorded about an order.
func ReadOrderState(ctx context.Context, rdb redis.UniversalClient, prefix, orderID string) (OrderState, error) {
	st := Store{Prefix: prefix}
	pipe := rdb.Pipeline()
	inv := pipe.HGetAll(ctx, st.inventoryKey(orderID))
	pay := pipe.HGetAll(ctx, st.paymentKey(orderID))
	ship := pipe.HGetAll(ctx, st.shippingKey(orderID))
	if _, err := pipe.Exec(ctx); err != nil {
		return OrderState{}, fmt.Errorf("read state of order %s: %w", orderID, err)
	}
	out := OrderState{Ops: map[shop.Op]OpState{}, Reserved: map[string]int64{}}
	for _, h := range []map[string]string{inv.Val(), pay.Val(), ship.Val()} {
		for k, v := range h {
			switch {
			case strings.HasPrefix(k, "qty:"):
				n, _ := strconv.ParseInt(v, 10, 64)
				key := strings.TrimPrefix(k, "qty:")
				out.Reserved[key[strings.LastIndexByte(key, ':')+1:]] = n
			case k == "amount":
				out.ChargedCents, _ = strconv.ParseInt(v, 10, 64)
			case strings.HasPrefix(k, "attempts:"):
				op := shop.Op(strings.TrimPrefix(k, "attempts:"))
				s := out.Ops[op]
				s.Attempts, _ = strconv.ParseInt(v, 10, 64)
				out.Ops[op] = s
			default:
				status, detail, _ := strings.Cut(v, "|")
				s := out.Ops[shop.Op(k)]
				s.Status, s.Detail = status, detail
				out.Ops[shop.Op(k)] = s
			}
		}
	}
	return out, nil
}

// Reset deletes every key of an engine's prefix (participant state, orders,
// streams, ledger) and seeds the catalog again. It returns how many keys it deleted.
func Reset(ctx context.Context, rdb redis.UniversalClient, prefix string, catalog shop.Catalog) (int64, error) {
	var deleted int64
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	batch := make([]string, 0, 1000)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		n, err := rdb.Unlink(ctx, batch...).Result()
		deleted += n
		batch = batch[:0]
		return err
	}
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return deleted, fmt.Errorf("reset %s: %w", prefix, err)
			}
		}
	}
	if err := iter.Err(); err != nil {
		return deleted, fmt.Errorf("reset %s: %w", prefix, err)
	}
	if err := flush(); err != nil {
		return deleted, fmt.Errorf("reset %s: %w", prefix, err)
	}
	if err := rdb.Set(ctx, EpochKey(prefix), time.Now().UTC().Format(time.RFC3339Nano), 0).Err(); err != nil {
		return deleted, fmt.Errorf("reset %s: %w", prefix, err)
	}
	return deleted, Seed(ctx, rdb, prefix, catalog)
}

// EpochKey holds when an engine's state was last reset: orders placed
// before it are no longer counted.
func EpochKey(prefix string) string { return prefix + "epoch" }

// Epoch returns when an engine's state was last reset (zero if never).
func Epoch(ctx context.Context, rdb redis.UniversalClient, prefix string) (time.Time, error) {
	s, err := rdb.Get(ctx, EpochKey(prefix)).Result()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("read reset time: %w", err)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("read reset time %q: %w", s, err)
	}
	return t, nil
}

// OrderKeys returns the keys of the participants' records of one order
// under an engine's prefix.
func OrderKeys(prefix, orderID string) (inventory, payment, shipping string) {
	st := Store{Prefix: prefix}
	return st.inventoryKey(orderID), st.paymentKey(orderID), st.shippingKey(orderID)
}
