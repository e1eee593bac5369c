package choreography_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/internal/testenv"
	"github.com/ordersaga/ordersaga/shop"
)

// TestSameEntryIDOnTwoStreams: a service that reads two streams can get the
// same entry ID from both (IDs are per stream, from the clock). Both entries
// must be handled at once, not one of them only after a redelivery backoff.
func TestSameEntryIDOnTwoStreams(t *testing.T) {
	rdb := testenv.StartRedis(t).Client()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bus := &choreography.Bus{Redis: rdb, Prefix: "t:"}
	if err := bus.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	// Inventory reads the order and the payment streams.
	const id = "1000-1"
	for _, src := range []struct {
		svc string
		typ choreography.EventType
	}{{choreography.ServiceOrder, choreography.OrderPlaced}, {choreography.ServicePayment, choreography.PaymentDeclined}} {
		ev, err := choreography.NewEvent(src.typ, src.svc, nil, choreography.Saga{Order: shop.Order{ID: "o-" + src.svc}}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		raw, err := ev.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: bus.Stream(src.svc), ID: id, Values: []any{"type", string(src.typ), "event", raw}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	handled := map[string]time.Duration{}
	start := time.Now()
	h := func(ctx context.Context, d *choreography.Delivery) error {
		mu.Lock()
		handled[d.Stream] = time.Since(start)
		mu.Unlock()
		time.Sleep(200 * time.Millisecond) // still in flight when the other arrives
		return nil
	}
	cfg := choreography.ConsumerConfig{Name: "inventory-1", RetryBase: 10 * time.Second, RetryMax: 10 * time.Second}
	c, err := bus.NewConsumer(choreography.ServiceInventory,
		map[choreography.EventType]choreography.Handler{choreography.OrderPlaced: h, choreography.PaymentDeclined: h},
		cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("consumer: %v", err)
		}
	}()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(handled)
		mu.Unlock()
		if n == 2 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	t.Fatalf("within 3s only %v were handled; both streams' entry %s should be", handled, id)
}
