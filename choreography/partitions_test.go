package choreography_test

import (
	"context"
	"errors"
	"testing"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/internal/testenv"
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
