package stream_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/choreography/stream"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/internal/testkit/teststack"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fast keeps redeliveries and reclaims short so tests stay quick.
var fast = stream.Config{
	RetryBase: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond,
	ClaimIdle: 300 * time.Millisecond, Block: 50 * time.Millisecond,
	PresenceTTL: time.Second,
}

const dlq = "dlq"

// run runs a consumer of group on streams until the test ends or stop is called.
func run(t *testing.T, rdb redis.UniversalClient, group string, streams []string, h stream.Handler, cfg stream.Config) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := stream.NewConsumer(rdb, stream.Group{Name: group, Streams: streams, DeadLetter: stream.OneDeadLetter(dlq)}, h, cfg, quiet)
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("consumer: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func add(t *testing.T, rdb redis.UniversalClient, s string, values ...any) string {
	t.Helper()
	id, err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: s, Values: values}).Result()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	teststack.Eventually(t, 5*time.Second, 10*time.Millisecond, func() error {
		if !cond() {
			return fmt.Errorf("not within 5s: %s", what)
		}
		return nil
	})
}

func pending(t *testing.T, rdb redis.UniversalClient, s, group string) int64 {
	t.Helper()
	p, err := rdb.XPending(context.Background(), s, group).Result()
	if err != nil {
		t.Fatal(err)
	}
	return p.Count
}

// Entries are handled and acked; a failing handler is retried until it
// succeeds, with the delivery count growing.
func TestHandlesAndRedelivers(t *testing.T) {
	rdb := testenv.StartRedis(t).Client()
	var calls atomic.Int64
	var lastDeliveries atomic.Int64
	h := func(_ context.Context, d *stream.Delivery) error {
		if d.Field("k") == "flaky" && calls.Add(1) < 3 {
			return errors.New("not yet")
		}
		lastDeliveries.Store(d.Deliveries)
		return nil
	}
	add(t, rdb, "s", "k", "flaky")
	run(t, rdb, "g", []string{"s"}, h, fast)
	eventually(t, "the flaky entry succeeds on its third delivery", func() bool {
		return calls.Load() >= 3 && pending(t, rdb, "s", "g") == 0
	})
	if n := lastDeliveries.Load(); n != 3 {
		t.Fatalf("succeeded on delivery %d, want 3", n)
	}
}

// Poison, panics and entries delivered too often go to the dead-letter
// stream with their reason, and the stream keeps flowing.
func TestDeadLetters(t *testing.T) {
	rdb := testenv.StartRedis(t).Client()
	var good atomic.Int64
	h := func(_ context.Context, d *stream.Delivery) error {
		switch d.Field("k") {
		case "poison":
			return fmt.Errorf("%w: cannot decode", stream.ErrPoison)
		case "panic":
			panic("boom")
		case "broken":
			return errors.New("always broken")
		}
		good.Add(1)
		return nil
	}
	for _, k := range []string{"poison", "ok", "panic", "broken", "ok"} {
		add(t, rdb, "s", "k", k)
	}
	cfg := fast
	cfg.MaxDeliveries = 3
	run(t, rdb, "g", []string{"s"}, h, cfg)
	eventually(t, "three dead letters and two handled entries", func() bool {
		return rdb.XLen(context.Background(), dlq).Val() == 3 && good.Load() == 2 && pending(t, rdb, "s", "g") == 0
	})
	dl, err := stream.DeadLetters(context.Background(), rdb, dlq, 0)
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]string{}
	for _, d := range dl {
		if d.Stream != "s" || d.Group != "g" || d.EntryID == "" || d.Time.IsZero() {
			t.Errorf("dead letter %+v lacks where it came from", d)
		}
		reasons[d.Values["k"]] = d.Reason
	}
	for k, want := range map[string]string{"poison": "cannot decode", "panic": "panicked: boom", "broken": "delivered 3 times"} {
		if r, ok := reasons[k]; !ok || !strings.Contains(r, want) {
			t.Errorf("dead letter of %s: reason %q, want it to say %q", k, r, want)
		}
	}
}

// An entry the delivery limit spares (a compensation) is redelivered past
// it until its handler succeeds, never dead-lettered for failing; poison
// among such entries is still dead-lettered at once.
func TestUnboundedEntriesRetryUntilTheySucceed(t *testing.T) {
	rdb := testenv.StartRedis(t).Client()
	var healed atomic.Bool
	var lastDeliveries atomic.Int64
	h := func(_ context.Context, d *stream.Delivery) error {
		if d.Field("k") == "poison" {
			return fmt.Errorf("%w: cannot decode", stream.ErrPoison)
		}
		lastDeliveries.Store(d.Deliveries)
		if !healed.Load() {
			return errors.New("the database is down")
		}
		return nil
	}
	add(t, rdb, "s", "k", "undo")
	add(t, rdb, "s", "k", "poison")
	cfg := fast
	cfg.MaxDeliveries = 3
	cfg.Unbounded = func(v map[string]any) bool { return v["k"] != "other" }
	run(t, rdb, "g", []string{"s"}, h, cfg)
	eventually(t, "deliveries past the limit", func() bool { return lastDeliveries.Load() > 3*cfg.MaxDeliveries })
	if n := rdb.XLen(context.Background(), dlq).Val(); n != 1 {
		t.Fatalf("dead-letter stream holds %d entries, want only the poison", n)
	}
	healed.Store(true)
	eventually(t, "the entry handled once it heals", func() bool { return pending(t, rdb, "s", "g") == 0 })
}

// Entries a dead consumer took and never acked are reclaimed by another.
func TestReclaimsFromDeadConsumers(t *testing.T) {
	rdb := testenv.StartRedis(t).Client()
	ctx := context.Background()
	if err := stream.CreateGroups(ctx, rdb, "g", "s"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		add(t, rdb, "s", "i", fmt.Sprint(i))
	}
	if err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "doomed", Streams: []string{"s", ">"}}).Err(); err != nil {
		t.Fatal(err)
	}
	var handled atomic.Int64
	cfg := fast
	cfg.Name = "survivor"
	run(t, rdb, "g", []string{"s"}, func(context.Context, *stream.Delivery) error { handled.Add(1); return nil }, cfg)
	eventually(t, "the survivor handles the doomed consumer's entries", func() bool {
		return handled.Load() == 3 && pending(t, rdb, "s", "g") == 0
	})
}

// A consumer of two streams can get the same entry ID from both (IDs are
// per stream, from the clock): both must be handled at once, not one of them
// only after a redelivery backoff.
func TestSameEntryIDOnTwoStreams(t *testing.T) {
	rdb := testenv.StartRedis(t).Client()
	ctx := context.Background()
	const id = "1000-1"
	for _, s := range []string{"a", "b"} {
		if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: s, ID: id, Values: []any{"k", s}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	handled := map[string]bool{}
	h := func(_ context.Context, d *stream.Delivery) error {
		mu.Lock()
		handled[d.Stream] = true
		mu.Unlock()
		time.Sleep(200 * time.Millisecond) // still in flight when the other arrives
		return nil
	}
	cfg := stream.Config{RetryBase: 10 * time.Second, RetryMax: 10 * time.Second}
	run(t, rdb, "g", []string{"a", "b"}, h, cfg)
	eventually(t, "both streams' entry "+id+" handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(handled) == 2
	})
}

// Trim removes only what every group has read and acked.
func TestTrimKeepsWhatAGroupStillNeeds(t *testing.T) {
	rdb := testenv.StartRedis(t).Client()
	ctx := context.Background()
	if err := stream.CreateGroups(ctx, rdb, "fast", "s"); err != nil {
		t.Fatal(err)
	}
	if err := stream.CreateGroups(ctx, rdb, "slow", "s"); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		add(t, rdb, "s", "i", fmt.Sprint(i))
	}
	if n, err := stream.Trim(ctx, rdb, "s", 0); err != nil || n != 0 {
		t.Fatalf("trimmed %d (%v) before anything was read", n, err)
	}
	last := rdb.XRevRangeN(ctx, "s", "+", "-", 1).Val()[0].ID
	stopFast := run(t, rdb, "fast", []string{"s"}, func(context.Context, *stream.Delivery) error { return nil }, fast)
	eventually(t, "the fast group reads and acks everything", func() bool {
		return lastDelivered(rdb, "s", "fast") == last && pending(t, rdb, "s", "fast") == 0
	})
	stopFast()
	if n, err := stream.Trim(ctx, rdb, "s", 0); err != nil || n != 0 {
		t.Fatalf("trimmed %d (%v) while the slow group had read nothing", n, err)
	}
	run(t, rdb, "slow", []string{"s"}, func(context.Context, *stream.Delivery) error { return nil }, fast)
	// Delivered first, then nothing pending: checked the other way round,
	// "nothing pending" could be seen before the read and "all delivered"
	// after it, with the acks still to come.
	eventually(t, "the slow group catches up", func() bool { return lastDelivered(rdb, "s", "slow") == last && pending(t, rdb, "s", "slow") == 0 })
	if _, err := stream.Trim(ctx, rdb, "s", time.Hour); err != nil || rdb.XLen(ctx, "s").Val() != 10 {
		t.Fatalf("an hour's retention trimmed young entries: %v, %d left", err, rdb.XLen(ctx, "s").Val())
	}
	if _, err := stream.Trim(ctx, rdb, "s", 0); err != nil || rdb.XLen(ctx, "s").Val() > 1 {
		t.Fatalf("acked entries kept: %v, %d left", err, rdb.XLen(ctx, "s").Val())
	}
}

func lastDelivered(rdb redis.UniversalClient, s, group string) string {
	for _, g := range rdb.XInfoGroups(context.Background(), s).Val() {
		if g.Name == group {
			return g.LastDeliveredID
		}
	}
	return ""
}

func TestCompareIDs(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{{"1-0", "1-0", 0}, {"1-1", "1-0", 1}, {"2-0", "10-0", -1}, {"10-5", "9-99", 1}} {
		if got := stream.CompareIDs(c.a, c.b); got != c.want {
			t.Errorf("CompareIDs(%s, %s) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}
