package activities

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/internal/platform/keyspace"
	"github.com/ordersaga/ordersaga/shop"
)

// Seed sets each SKU's stock to its initial value where it is not set yet.
func Seed(ctx context.Context, rdb redis.UniversalClient, prefix string, catalog shop.Catalog) error {
	l := Layout{Prefix: prefix}
	pipe := rdb.Pipeline()
	for _, sku := range catalog.SKUs() {
		pipe.SetNX(ctx, l.StockKey(sku), catalog[sku].InitialStock, 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("seed catalog: %w", err)
	}
	return nil
}

// Stock returns the available stock per SKU, one key per command (each
// SKU has its own slot).
func Stock(ctx context.Context, rdb redis.UniversalClient, prefix string, catalog shop.Catalog) (map[string]int64, error) {
	l := Layout{Prefix: prefix}
	skus := catalog.SKUs()
	pipe := rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(skus))
	for i, sku := range skus {
		cmds[i] = pipe.Get(ctx, l.StockKey(sku))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read stock: %w", err)
	}
	out := make(map[string]int64, len(skus))
	for i, sku := range skus {
		n, err := cmds[i].Int64()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read stock of %s: %w", sku, err)
		}
		out[sku] = n
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

// ReadLedger returns the payment ledger of an engine: the sum of its
// partitions' ledgers.
func ReadLedger(ctx context.Context, rdb redis.UniversalClient, prefix string) (Ledger, error) {
	return sumCounters[Ledger](ctx, rdb, prefix, Layout.LedgerKey)
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
	lay, err := LayoutOf(ctx, rdb, prefix)
	if err != nil {
		return OrderState{}, err
	}
	return lay.ReadOrderState(ctx, rdb, orderID)
}

// ReadOrderState returns what the participants recorded about an order.
func (l Layout) ReadOrderState(ctx context.Context, rdb redis.UniversalClient, orderID string) (OrderState, error) {
	pipe := rdb.Pipeline()
	state := l.QueueOrderState(ctx, pipe, orderID)
	if _, err := pipe.Exec(ctx); err != nil {
		return OrderState{}, fmt.Errorf("read state of order %s: %w", orderID, err)
	}
	return state(), nil
}

// QueueOrderState queues the reads of what the participants recorded about
// an order on pipe (all in the order's slot); once pipe ran, the returned
// function reads the answers.
func (l Layout) QueueOrderState(ctx context.Context, pipe redis.Pipeliner, orderID string) func() OrderState {
	invKey, payKey, shipKey := l.OrderKeys(orderID)
	inv := pipe.HGetAll(ctx, invKey)
	pay := pipe.HGetAll(ctx, payKey)
	ship := pipe.HGetAll(ctx, shipKey)
	fraud := pipe.HGetAll(ctx, l.FraudKey(orderID))
	return func() OrderState { return orderStateOf(inv.Val(), fraud.Val(), pay.Val(), ship.Val()) }
}

// orderStateOf reads the participants' hashes of one order.
func orderStateOf(hashes ...map[string]string) OrderState {
	out := OrderState{Ops: map[shop.Op]OpState{}, Reserved: map[string]int64{}}
	for _, h := range hashes {
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
	return out
}

// Reset deletes every key of an engine's prefix (participant state, orders,
// streams, ledger) but the settings recorded (the number of partitions,
// the compensation alert threshold, the plan of new orders), master by master on a cluster, and
// seeds the catalog again. It returns how many keys it deleted.
func Reset(ctx context.Context, rdb redis.UniversalClient, prefix string, catalog shop.Catalog) (int64, error) {
	keep := func(k string) bool {
		return k == PartitionsKey(prefix) || k == AlertAfterKey(prefix) || k == SagaStepsKey(prefix)
	}
	deleted, err := keyspace.Delete(ctx, rdb, prefix+"*", keep)
	if err != nil {
		return deleted, fmt.Errorf("reset %s: %w", prefix, err)
	}
	if err := rdb.Set(ctx, EpochKey(prefix), time.Now().UTC().Format(time.RFC3339Nano), 0).Err(); err != nil {
		return deleted, fmt.Errorf("reset %s: %w", prefix, err)
	}
	return deleted, Seed(ctx, rdb, prefix, catalog)
}

// ResetPartitions is Reset, then records partitions as prefix's P whatever
// was recorded: the one way to change P, since P decides where each order's
// keys are. Nothing of the prefix may run meanwhile (the participants, the
// choreography's services): they keep the P they read.
func ResetPartitions(ctx context.Context, rdb redis.UniversalClient, prefix string, catalog shop.Catalog, partitions int) (int64, error) {
	if _, err := NewLayout(prefix, partitions); err != nil {
		return 0, err
	}
	deleted, err := Reset(ctx, rdb, prefix, catalog)
	if err != nil {
		return deleted, err
	}
	if err := rdb.Set(ctx, PartitionsKey(prefix), partitions, 0).Err(); err != nil {
		return deleted, fmt.Errorf("record partitions: %w", err)
	}
	return deleted, nil
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

// Shipments sums the shipping participant's counters.
type Shipments struct {
	Scheduled int64 `json:"scheduled" redis:"scheduled"`
	Cancelled int64 `json:"cancelled" redis:"cancelled"`
}

// ReadShipments returns the shipment counters of an engine: the sum of its
// partitions' counters.
func ReadShipments(ctx context.Context, rdb redis.UniversalClient, prefix string) (Shipments, error) {
	return sumCounters[Shipments](ctx, rdb, prefix, Layout.ShipmentsKey)
}

// sumCounters reads the counter hash key(p) of every partition of prefix,
// in one pipeline, adds the partitions' counters up field by field and
// scans the sums into a T (by its redis tags).
func sumCounters[T any](ctx context.Context, rdb redis.UniversalClient, prefix string, key func(Layout, int) string) (T, error) {
	var sum T
	lay, err := LayoutOf(ctx, rdb, prefix)
	if err != nil {
		return sum, err
	}
	pipe := rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, lay.Partitions)
	for p := range lay.Partitions {
		cmds[p] = pipe.HGetAll(ctx, key(lay, p))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return sum, fmt.Errorf("read %s: %w", key(lay, 0), err)
	}
	totals := map[string]int64{}
	for p, c := range cmds {
		for field, v := range c.Val() {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return sum, fmt.Errorf("read %s: field %s: %w", key(lay, p), field, err)
			}
			totals[field] += n
		}
	}
	fields := make(map[string]string, len(totals))
	for field, n := range totals {
		fields[field] = strconv.FormatInt(n, 10)
	}
	if err := redis.NewMapStringStringResult(fields, nil).Scan(&sum); err != nil {
		return sum, fmt.Errorf("read %s: %w", key(lay, 0), err)
	}
	return sum, nil
}
