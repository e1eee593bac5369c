package stream_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/choreography/stream"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
)

// runBatch runs a batch consumer of group on streams until the test ends.
func runBatch(t *testing.T, rdb redis.UniversalClient, group string, streams []string, h stream.BatchHandler, cfg stream.Config) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := stream.NewBatchConsumer(rdb, stream.Group{Name: group, Streams: streams, DeadLetter: stream.OneDeadLetter(dlq)}, h, cfg, quiet)
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("consumer: %v", err)
		}
	})
}

// A batch handler gets the entries of one read together, and each keeps
// its own outcome: a poison entry, a panicking one and one that keeps
// failing go to the dead-letter stream, each for its own reason, while
// their neighbours in the same batch are handled once, acked at once and
// never redelivered.
func TestBatchEntriesKeepTheirOwnOutcome(t *testing.T) {
	rdb := testenv.StartRedis(t).Client()
	kinds := []string{"ok", "poison", "ok", "panic", "ok", "broken", "ok"}
	for i, k := range kinds {
		add(t, rdb, "s", "k", k, "n", fmt.Sprint(i))
	}
	var (
		mu      sync.Mutex
		sizes   []int
		handled = map[string]int{}
	)
	var goodAt atomic.Int64
	h := func(_ context.Context, ds []*stream.Delivery) []error {
		mu.Lock()
		defer mu.Unlock()
		sizes = append(sizes, len(ds))
		errs := make([]error, len(ds))
		for i, d := range ds {
			switch d.Field("k") {
			case "poison":
				errs[i] = fmt.Errorf("%w: cannot decode", stream.ErrPoison)
			case "panic":
				panic("boom")
			case "broken":
				errs[i] = errors.New("always broken")
			default:
				handled[d.Field("n")]++
				if d.Deliveries != 1 {
					errs[i] = fmt.Errorf("entry %s delivered %d times", d.Field("n"), d.Deliveries)
				}
				goodAt.Store(time.Now().UnixMilli())
			}
		}
		return errs
	}
	cfg := fast
	cfg.MaxDeliveries = 3
	runBatch(t, rdb, "g", []string{"s"}, h, cfg)
	eventually(t, "three dead letters, the rest acked", func() bool {
		return rdb.XLen(context.Background(), dlq).Val() == 3 && pending(t, rdb, "s", "g") == 0
	})
	mu.Lock()
	defer mu.Unlock()
	if sizes[0] != len(kinds) {
		t.Errorf("first batch held %d entries, want all %d of the read (batches %v)", sizes[0], len(kinds), sizes)
	}
	for _, n := range []string{"0", "2", "4", "6"} {
		if handled[n] < 1 {
			t.Errorf("good entry %s not handled", n)
		}
	}
	// A panic splits its batch to find its entry: the good entries of that
	// batch may run once more, never as a redelivery.
	for n, times := range handled {
		if times > 2 {
			t.Errorf("good entry %s handled %d times", n, times)
		}
	}
	dl, err := stream.DeadLetters(context.Background(), rdb, dlq, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range dl {
		got = append(got, d.Values["k"]+": "+d.Reason)
	}
	slices.Sort(got)
	for i, want := range []string{"broken: delivered 3 times", "panic: poison entry: handler panicked: boom", "poison: poison entry: cannot decode"} {
		if i >= len(got) || !strings.Contains(got[i], want) {
			t.Errorf("dead letters %q, want one that says %q", got, want)
		}
	}
}

// A handler error of one entry does not hold back its neighbours: they
// are acked right after the batch, while the failing entry waits for its
// redelivery.
func TestBatchFailureDoesNotDelayNeighbours(t *testing.T) {
	rdb := testenv.StartRedis(t).Client()
	add(t, rdb, "s", "k", "slow-to-heal")
	add(t, rdb, "s", "k", "ok")
	var attempts atomic.Int64
	h := func(_ context.Context, ds []*stream.Delivery) []error {
		errs := make([]error, len(ds))
		for i, d := range ds {
			if d.Field("k") == "slow-to-heal" && attempts.Add(1) < 3 {
				errs[i] = errors.New("not yet")
			}
		}
		return errs
	}
	cfg := fast
	cfg.RetryBase, cfg.RetryMax = time.Second, time.Second
	runBatch(t, rdb, "g", []string{"s"}, h, cfg)
	eventually(t, "the good entry acked while the other waits", func() bool {
		return attempts.Load() >= 1 && pending(t, rdb, "s", "g") == 1
	})
	if attempts.Load() != 1 {
		t.Fatalf("the failing entry ran %d times before its backoff was over", attempts.Load())
	}
}

// An entry whose handler finds Redis full (OOM under noeviction) is not
// dead-lettered however long Redis stays full: those deliveries do not
// count toward MaxDeliveries. It waits, and is handled once memory frees.
func TestFullRedisDoesNotCountDeliveries(t *testing.T) {
	srv := testenv.StartRedis(t)
	rdb := srv.Client()
	ctx := context.Background()
	add(t, rdb, "s", "k", "v")
	if err := stream.CreateGroups(ctx, rdb, "g", "s"); err != nil {
		t.Fatal(err)
	}
	var runs, maxSeen atomic.Int64
	h := func(ctx context.Context, ds []*stream.Delivery) []error {
		errs := make([]error, len(ds))
		for i, d := range ds {
			if runs.Add(1) == 1 { // Redis fills up as the entry is handled
				if err := rdb.ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
					t.Error(err)
				}
			}
			if d.Deliveries > maxSeen.Load() {
				maxSeen.Store(d.Deliveries)
			}
			// The handler's work: a write, refused while Redis is full.
			errs[i] = rdb.XAdd(ctx, &redis.XAddArgs{Stream: "out", Values: []any{"from", d.ID}}).Err()
		}
		return errs
	}
	cfg := fast
	cfg.MaxDeliveries = 2
	cfg.RetryMax = 20 * time.Millisecond
	runBatch(t, rdb, "g", []string{"s"}, h, cfg)
	eventually(t, "five runs refused by the full Redis", func() bool { return runs.Load() >= 5 })
	if n := rdb.XLen(ctx, dlq).Val(); n != 0 || pending(t, rdb, "s", "g") != 1 {
		t.Fatalf("after %d refused runs: %d dead letter(s), %d pending; want the entry pending", runs.Load(), n, pending(t, rdb, "s", "g"))
	}
	if err := rdb.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the entry handled once memory freed", func() bool {
		return pending(t, rdb, "s", "g") == 0 && rdb.XLen(ctx, "out").Val() == 1
	})
	if n := rdb.XLen(ctx, dlq).Val(); n != 0 || maxSeen.Load() > 2 {
		t.Errorf("%d dead letter(s); deliveries seen up to %d, want at most 2", n, maxSeen.Load())
	}
}
