package choreography_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/shop"
)

// The number of partitions is recorded by the first to set up; a node
// configured with another refuses to set up or to run a service, and one
// given none follows the recorded number.
func TestPartitionsAreAgreedOn(t *testing.T) {
	rdb := testenv.StartRedis(t).Client()
	ctx := context.Background()
	cat := shop.DefaultCatalog()
	if err := activities.Seed(ctx, rdb, activities.ChoreographyPrefix, cat); err != nil {
		t.Fatal(err)
	}
	first := choreography.NewNode(rdb, cat, nil, choreography.WithPartitions(3))
	if err := first.Bus.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	other := choreography.NewNode(rdb, cat, nil, choreography.WithPartitions(5))
	if err := other.Bus.Setup(ctx); !errors.Is(err, activities.ErrPartitions) {
		t.Fatalf("setup with 5 partitions after 3: %v", err)
	}
	if err := other.RunService(ctx, choreography.ServiceOrder, fastConfig); !errors.Is(err, activities.ErrPartitions) {
		t.Fatalf("a service with 5 partitions after 3: %v", err)
	}
	if err := choreography.NewEngine(other, cat).Place(ctx, order("refused", nil)); !errors.Is(err, activities.ErrPartitions) {
		t.Fatalf("placing with 5 partitions after 3: %v", err)
	}
	if err := choreography.NewNode(rdb, cat, nil, choreography.WithPartitions(-1)).Bus.Setup(ctx); err == nil {
		t.Fatal("-1 partitions accepted")
	}
	// A node given no number (or 0) follows the recorded one, participants included.
	if err := choreography.NewNode(rdb, cat, nil, choreography.WithPartitions(0)).Bus.Setup(ctx); err != nil {
		t.Fatalf("a node told 0 partitions: %v, want the recorded 3", err)
	}
	follower := choreography.NewNode(rdb, cat, nil)
	h := &harness{t: t, rdb: rdb, node: follower, engine: choreography.NewEngine(follower, cat), stops: map[string]func(){}}
	t.Cleanup(h.stopAll)
	h.startAll()
	if out := h.run(order("follows", nil)); out.Status != shop.StatusCompleted {
		t.Fatalf("order on the follower: %s", out.Status)
	}
	if n := follower.Bus.Layout().Partitions; n != 3 {
		t.Fatalf("the follower uses %d partitions, want the recorded 3", n)
	}
	lay, _ := activities.NewLayout(activities.ChoreographyPrefix, 3)
	inv, _, _ := lay.OrderKeys("follows")
	if n := rdb.Exists(ctx, inv).Val(); n != 1 {
		t.Fatal("the follower's participants did not use the recorded layout")
	}
}

// Each partition's dead-letter stream numbers its entries on its own, so
// the same entry ID turns up in several; the IDs dead letters are listed
// and redriven by name the partition too: all distinct, and a redrive
// takes the one named. A bare stream ID redrives only when it is unique.
func TestDeadLetterIDsAreUniqueAcrossPartitions(t *testing.T) {
	rdb := testenv.StartRedis(t).Client()
	ctx := context.Background()
	bus := choreography.NewBus(rdb, choreography.WithPartitions(4))
	if err := bus.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	const same = "1700000000000-0"
	for p := range 4 {
		err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: bus.DeadLetterStream(p), ID: same, Values: []any{
			"stream", bus.StreamOf(p, choreography.ServiceOrder), "group", choreography.ServiceInventory, "id", "1-1",
			"reason", fmt.Sprint("poison of partition ", p), "deliveries", "1", "type", "OrderPlaced", "event", "{not json",
		}}).Err()
		if err != nil {
			t.Fatal(err)
		}
	}
	rdb.XAdd(ctx, &redis.XAddArgs{Stream: bus.DeadLetterStream(1), ID: "1700000000001-0", Values: []any{
		"stream", bus.StreamOf(1, choreography.ServiceOrder), "group", choreography.ServiceInventory, "event", "{not json"}})
	dl, err := bus.DeadLetters(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, d := range dl {
		if seen[d.ID] {
			t.Fatalf("two dead letters listed as %s: %+v", d.ID, dl)
		}
		seen[d.ID] = true
	}
	if len(seen) != 5 {
		t.Fatalf("%d dead letters, want 5: %+v", len(seen), dl)
	}
	if _, err := bus.Redrive(ctx, same); err == nil || !strings.Contains(err.Error(), "name one of p0:"+same) {
		t.Fatalf("redrive of an ambiguous ID: %v", err)
	}
	got, err := bus.Redrive(ctx, choreography.DeadLetterID(2, same), "1700000000001-0")
	if err != nil || len(got) != 2 || got[0].Partition != 2 || got[0].Reason != "poison of partition 2" || got[1].Partition != 1 {
		t.Fatalf("redrive of p2:%s and a unique bare ID: %+v %v", same, got, err)
	}
	if n := rdb.XLen(ctx, bus.DeadLetterStream(2)).Val(); n != 0 {
		t.Fatalf("partition 2 still holds %d dead letters", n)
	}
	if n := rdb.XLen(ctx, bus.StreamOf(2, choreography.ServiceOrder)).Val(); n != 1 {
		t.Fatalf("partition 2's order stream holds %d entries, want the redriven one", n)
	}
	if n, _ := bus.DeadLetterCount(ctx); n != 3 {
		t.Fatalf("%d dead letters left, want the other partitions' 3", n)
	}
}
