package activities

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/internal/platform/keyspace"
)

// The key layout. Every key of an engine starts with its prefix. Keys that
// change together share a Redis Cluster hash tag, so one script can change
// them atomically on a cluster as on one Redis:
//
//   - An order belongs to partition p = FNV-1a-32(order ID) mod P. Its
//     participant records, and whatever an engine keeps per order, carry the
//     partition's tag: <prefix>{p3}:inv:<order ID>. So do the totals kept per
//     partition (the ledger, the shipment counters) and, in choreography, the
//     partition's streams.
//   - A SKU's stock and its per-order holds share the SKU's own tag:
//     <prefix>{stock:<sku>} and <prefix>{stock:<sku>}:holds.
//   - A few keys stand alone: <prefix>partitions (P, recorded when the layout
//     is set up), <prefix>epoch (when the state was last reset),
//     <prefix>compensation-alert-after (the choreography's alert threshold,
//     see AlertAfterKey), <prefix>saga-steps (the plan of new orders, see
//     SagaStepsKey).
//
// Partition p's tag is the first of "p<p>", "p<p>.1", "p<p>.2", … whose
// slot lies in the p-th of P equal ranges of the 16,384 slots. A cluster
// whose masters own equal ranges of slots thus holds an equal share of the
// partitions, whatever P is.

// DefaultPartitionsFor is P when none is configured or recorded: 1 on one
// Redis, keyspace.DefaultPartitions on a cluster.
func DefaultPartitionsFor(rdb redis.UniversalClient) int {
	if _, cluster := rdb.(*redis.ClusterClient); cluster {
		return keyspace.DefaultPartitions
	}
	return 1
}

// ErrPartitions is wrapped when a process is configured with another number
// of partitions than the one recorded in Redis.
var ErrPartitions = errors.New("partition count mismatch")

// Layout names an engine's keys for a number of partitions.
type Layout struct {
	Prefix     string
	Partitions int
	tags       []string
}

// NewLayout returns the key layout of prefix with P partitions.
func NewLayout(prefix string, partitions int) (Layout, error) {
	if partitions < 1 || partitions > keyspace.MaxPartitions {
		return Layout{}, fmt.Errorf("partitions must be between 1 and %d, got %d", keyspace.MaxPartitions, partitions)
	}
	return Layout{Prefix: prefix, Partitions: partitions, tags: partitionTags(partitions)}, nil
}

// partitionTags returns the hash tags of n partitions (see Layout).
func partitionTags(n int) []string {
	tags := make([]string, n)
	for p := range n {
		lo, hi := p*keyspace.Count/n, (p+1)*keyspace.Count/n
		tag := "p" + strconv.Itoa(p)
		for i := 1; ; i++ {
			if s := keyspace.Slot(tag); s >= lo && s < hi {
				break
			}
			tag = "p" + strconv.Itoa(p) + "." + strconv.Itoa(i)
		}
		tags[p] = tag
	}
	return tags
}

// Partition is the partition of an order.
func (l Layout) Partition(orderID string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(orderID))
	return int(h.Sum32() % uint32(l.Partitions))
}

// PartitionPrefix is the prefix of partition p's keys, e.g. "ordersaga:chor:{p3}:".
func (l Layout) PartitionPrefix(p int) string { return l.Prefix + "{" + l.tags[p] + "}:" }

// OrderPrefix is the prefix of the keys of an order's partition.
func (l Layout) OrderPrefix(orderID string) string {
	return l.PartitionPrefix(l.Partition(orderID))
}

// StockKey holds a SKU's available stock.
func (l Layout) StockKey(sku string) string { return l.Prefix + "{stock:" + sku + "}" }

// HoldsKey records, per order, what the SKU's reservation did: in the
// SKU's slot, so a reservation and its record change together.
func (l Layout) HoldsKey(sku string) string { return l.StockKey(sku) + ":holds" }

// OrderKeys returns the keys of the participants' records of one order.
func (l Layout) OrderKeys(orderID string) (inventory, payment, shipping string) {
	pp := l.OrderPrefix(orderID)
	return pp + "inv:" + orderID, pp + "pay:" + orderID, pp + "ship:" + orderID
}

// FraudKey is the fraud check's record of one order.
func (l Layout) FraudKey(orderID string) string { return l.OrderPrefix(orderID) + "fraud:" + orderID }

// LedgerKey holds partition p's payment totals.
func (l Layout) LedgerKey(p int) string { return l.PartitionPrefix(p) + "ledger" }

// ShipmentsKey holds partition p's shipment counters.
func (l Layout) ShipmentsKey(p int) string { return l.PartitionPrefix(p) + "shipments" }

// PartitionsKey records P for an engine's prefix.
func PartitionsKey(prefix string) string { return prefix + "partitions" }

// AlertAfterKey records the compensation alert threshold of an engine's
// prefix: in the choreography, the worker that runs the order service
// records its --compensation-alert-after there, and whoever shows an
// order's status reads it. Like P it is a setting of the deployment, not
// state: a reset keeps both.
func AlertAfterKey(prefix string) string { return prefix + "compensation-alert-after" }

// EnsurePartitions records P for prefix when none is recorded yet, and
// fails with ErrPartitions when another P is recorded: every process of a
// deployment must agree on it, since it decides where each order's keys are.
// P 0 means none configured: the recorded one, else DefaultPartitionsFor.
func EnsurePartitions(ctx context.Context, rdb redis.UniversalClient, prefix string, partitions int) (Layout, error) {
	if partitions == 0 {
		n, err := RecordedPartitions(ctx, rdb, prefix)
		if err != nil {
			return Layout{}, err
		}
		partitions = n
	}
	l, err := NewLayout(prefix, partitions)
	if err != nil {
		return Layout{}, err
	}
	if err := rdb.SetNX(ctx, PartitionsKey(prefix), partitions, 0).Err(); err != nil {
		return Layout{}, fmt.Errorf("record partitions: %w", err)
	}
	recorded, err := RecordedPartitions(ctx, rdb, prefix)
	if err != nil {
		return Layout{}, err
	}
	if recorded != partitions {
		return Layout{}, fmt.Errorf("%w: %s is set up with %d partitions (recorded in %s), this process is configured with %d; "+
			"set ORDERSAGA_PARTITIONS=%d (or --partitions %d)", ErrPartitions, prefix, recorded, PartitionsKey(prefix), partitions, recorded, recorded)
	}
	return l, nil
}

// RecordedPartitions returns the P recorded for prefix, or
// DefaultPartitionsFor(rdb) when none is recorded yet.
func RecordedPartitions(ctx context.Context, rdb redis.UniversalClient, prefix string) (int, error) {
	n, _, err := recordedPartitions(ctx, rdb, prefix)
	return n, err
}

// LookupPartitions is RecordedPartitions, and whether P is recorded: a
// deployment with none is fresh (see EnsureSagaSteps).
func LookupPartitions(ctx context.Context, rdb redis.UniversalClient, prefix string) (int, bool, error) {
	return recordedPartitions(ctx, rdb, prefix)
}

// recordedPartitions is RecordedPartitions, and whether P is recorded.
func recordedPartitions(ctx context.Context, rdb redis.UniversalClient, prefix string) (int, bool, error) {
	s, err := rdb.Get(ctx, PartitionsKey(prefix)).Result()
	if errors.Is(err, redis.Nil) {
		return DefaultPartitionsFor(rdb), false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read partitions: %w", err)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > keyspace.MaxPartitions {
		return 0, false, fmt.Errorf("%s holds %q, not a partition count", PartitionsKey(prefix), s)
	}
	return n, true, nil
}

// LayoutOf returns the layout of prefix with its recorded P.
func LayoutOf(ctx context.Context, rdb redis.UniversalClient, prefix string) (Layout, error) {
	n, err := RecordedPartitions(ctx, rdb, prefix)
	if err != nil {
		return Layout{}, err
	}
	return NewLayout(prefix, n)
}
