package activities

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/shop"
)

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
