package stream_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/choreography/stream"
	"github.com/ordersaga/ordersaga/internal/platform/keyspace"
	"github.com/ordersaga/ordersaga/internal/platform/poll"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
)

// A presence record shares its stream's hash slot, tagged or not.
func TestPresenceKeyInStreamSlot(t *testing.T) {
	for _, s := range []string{"s", "ordersaga:chor:{p3}:stream:payment", "a{b", "{}x", "x}{y"} {
		k := stream.PresenceKey(s, "payment", "host-1-payment")
		if keyspace.Slot(k) != keyspace.Slot(s) {
			t.Errorf("%s is in slot %d, its stream %s in %d", k, keyspace.Slot(k), s, keyspace.Slot(s))
		}
	}
}

func isLive(t *testing.T, rdb redis.UniversalClient, s, group, name string) bool {
	t.Helper()
	live, err := stream.Live(context.Background(), rdb, []stream.Ref{{Stream: s, Group: group, Name: name}})
	if err != nil {
		t.Fatal(err)
	}
	return live[0]
}

// A second process that starts with a consumer name a live process holds
// is refused with a one-line error, within about one PresenceTTL, and
// handles nothing meanwhile; the first keeps consuming.
func TestNameHeldByLiveProcessIsRefused(t *testing.T) {
	rdb := testenv.StartRedis(t).Client()
	var first, second atomic.Int64
	cfg := fast
	cfg.Name = "twin"
	run(t, rdb, "g", []string{"s"}, func(context.Context, *stream.Delivery) error { first.Add(1); return nil }, cfg)
	eventually(t, "the first consumer holds its name", func() bool { return isLive(t, rdb, "s", "g", "twin") })

	c := stream.NewConsumer(rdb, stream.Group{Name: "g", Streams: []string{"s"}, DeadLetter: stream.OneDeadLetter(dlq)},
		func(context.Context, *stream.Delivery) error { second.Add(1); return nil }, cfg, quiet)
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	go func() { done <- c.Run(ctx) }()
	for i := range 5 {
		add(t, rdb, "s", "i", i)
	}
	var err error
	select {
	case err = <-done:
	case <-time.After(5 * cfg.PresenceTTL):
		cancel()
		<-done
		t.Fatalf("a second consumer named twin ran for %s next to the first", 5*cfg.PresenceTTL)
	}
	if !errors.Is(err, stream.ErrNameInUse) || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "held by a live process (host ") {
		t.Fatalf("second consumer: %v, want a one-line ErrNameInUse naming the holder", err)
	}
	t.Logf("refused after %s: %v", time.Since(start).Round(time.Millisecond), err)
	eventually(t, "the first consumer handles every entry", func() bool { return first.Load() == 5 })
	if n := second.Load(); n != 0 {
		t.Fatalf("the refused consumer handled %d entries", n)
	}
}

// A graceful stop releases the name at once: the next process with that
// name starts without waiting for the TTL, and the old one is no longer live.
func TestNameReleasedOnStop(t *testing.T) {
	rdb := testenv.StartRedis(t).Client()
	cfg := fast
	cfg.Name, cfg.PresenceTTL = "heir", time.Minute
	stop := run(t, rdb, "g", []string{"s"}, func(context.Context, *stream.Delivery) error { return nil }, cfg)
	eventually(t, "the consumer holds its name", func() bool { return isLive(t, rdb, "s", "g", "heir") })
	stop()
	if isLive(t, rdb, "s", "g", "heir") {
		t.Fatal("a stopped consumer is still live")
	}
	var handled atomic.Int64
	run(t, rdb, "g", []string{"s"}, func(context.Context, *stream.Delivery) error { handled.Add(1); return nil }, cfg)
	add(t, rdb, "s", "k", "v")
	eventually(t, "the next consumer with the name runs at once", func() bool { return handled.Load() == 1 })
}

const holdChildEnv = "ORDERSAGA_STREAM_HOLD_CHILD"

// A crashed process's claim expires with the TTL: the consumer is no
// longer live within PresenceTTL of the crash, and a new process takes the
// name over.
func TestCrashedHoldersNameExpires(t *testing.T) {
	if addr := os.Getenv(holdChildEnv); addr != "" {
		holdChild(addr)
		return
	}
	rdb := testenv.StartRedis(t).Client()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashedHoldersNameExpires$")
	cmd.Env = append(cmd.Environ(), holdChildEnv+"="+rdb.Options().Addr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	eventually(t, "the child holds its name", func() bool { return isLive(t, rdb, "s", "g", "held") })
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	_ = cmd.Wait()
	err := poll.For(context.Background(), 2*fast.PresenceTTL, poll.Every(20*time.Millisecond), func(context.Context) (bool, error) {
		return !isLive(t, rdb, "s", "g", "held"), nil
	})
	gone := time.Since(killed)
	if err != nil || gone > fast.PresenceTTL+200*time.Millisecond {
		t.Fatalf("the killed consumer still counted as live %s after the crash (TTL %s): %v", gone, fast.PresenceTTL, err)
	}
	t.Logf("not live %s after the crash", gone.Round(time.Millisecond))
	var handled atomic.Int64
	cfg := fast
	cfg.Name = "held"
	run(t, rdb, "g", []string{"s"}, func(context.Context, *stream.Delivery) error { handled.Add(1); return nil }, cfg)
	add(t, rdb, "s", "k", "v")
	eventually(t, "a new process takes the name over", func() bool { return handled.Load() == 1 })
}

// holdChild runs a consumer named "held" until it is killed.
func holdChild(addr string) {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	cfg := fast
	cfg.Name = "held"
	c := stream.NewConsumer(rdb, stream.Group{Name: "g", Streams: []string{"s"}, DeadLetter: stream.OneDeadLetter(dlq)}, func(context.Context, *stream.Delivery) error { return nil }, cfg, quiet)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = c.Run(ctx)
	os.Exit(0)
}

// A consumer whose name another process took over (it could not renew it
// for longer than its TTL) stops with ErrNameLost.
func TestLostNameStopsTheConsumer(t *testing.T) {
	rdb := testenv.StartRedis(t).Client()
	cfg := fast
	cfg.Name = "paused"
	c := stream.NewConsumer(rdb, stream.Group{Name: "g", Streams: []string{"s"}, DeadLetter: stream.OneDeadLetter(dlq)}, func(context.Context, *stream.Delivery) error { return nil }, cfg, quiet)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	eventually(t, "the consumer holds its name", func() bool { return isLive(t, rdb, "s", "g", "paused") })
	if err := rdb.Set(ctx, stream.PresenceKey("s", "g", "paused"), "host other pid 1 #x", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, stream.ErrNameLost) || !strings.Contains(err.Error(), "host other pid 1") {
			t.Fatalf("Run: %v, want ErrNameLost naming the new holder", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the consumer runs on without its name")
	}
	if v := rdb.Get(ctx, stream.PresenceKey("s", "g", "paused")).Val(); v != "host other pid 1 #x" {
		t.Fatalf("the new holder's record is %q after the old consumer stopped", v)
	}
}

// A running consumer of a quiet stream is never removed from its group as
// idle: on Redis 7.0 its idle time grows while it waits, but its process
// holds its name.
func TestLiveConsumerOfQuietStreamIsKept(t *testing.T) {
	rdb := testenv.StartRedis(t).Client()
	ctx := context.Background()
	if err := stream.CreateGroups(ctx, rdb, "g", "s"); err != nil {
		t.Fatal(err)
	}
	quietOne := fast
	quietOne.Name, quietOne.Block = "quiet", 3*time.Second // re-created late if removed
	run(t, rdb, "g", []string{"s"}, func(context.Context, *stream.Delivery) error { return nil }, quietOne)
	names := func() []string { return consumerNames(rdb, "s", "g") }
	eventually(t, "the quiet consumer reads", func() bool { return slices.Contains(names(), "quiet") })
	sweeper := fast
	sweeper.Name, sweeper.ConsumerIdle = "sweeper", 100*time.Millisecond
	run(t, rdb, "g", []string{"s"}, func(context.Context, *stream.Delivery) error { return nil }, sweeper)
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if got := names(); !slices.Contains(got, "quiet") {
			t.Fatalf("the running quiet consumer was removed from its group: %v", got)
		}
	}
}
