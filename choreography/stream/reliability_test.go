package stream_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/choreography/stream"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/internal/testkit/teststack"
)

// beforeHook runs before every command a client sends (not pipelines).
type beforeHook func(ctx context.Context, cmd redis.Cmder) error

func (h beforeHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h beforeHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if err := h(ctx, cmd); err != nil {
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}

func (h beforeHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// readIDs reads up to n new entries of s for group as consumer and returns their IDs.
func readIDs(t *testing.T, rdb redis.UniversalClient, s, group, consumer string, n int64) []string {
	t.Helper()
	res, err := rdb.XReadGroup(context.Background(), &redis.XReadGroupArgs{
		Group: group, Consumer: consumer, Streams: []string{s, ">"}, Count: n, Block: -1,
	}).Result()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range res[0].Messages {
		ids = append(ids, m.ID)
	}
	return ids
}

// An ack that lands while a trim works out its cut-off must not make the
// trim remove entries the acking group has never read: the cut-off is
// computed in one atomic step. The ack here happens right before the trim's
// next command, whatever that command is.
func TestTrimWithAnAckInBetween(t *testing.T) {
	srv := testenv.StartRedis(t)
	rdb, other := srv.Client(), srv.Client()
	ctx := context.Background()
	if err := stream.CreateGroups(ctx, rdb, "caught-up", "s"); err != nil {
		t.Fatal(err)
	}
	if err := stream.CreateGroups(ctx, rdb, "behind", "s"); err != nil {
		t.Fatal(err)
	}
	for i := range 15 {
		add(t, rdb, "s", "i", fmt.Sprint(i))
	}
	upIDs := readIDs(t, rdb, "s", "caught-up", "f", 100)
	if err := rdb.XAck(ctx, "s", "caught-up", upIDs...).Err(); err != nil {
		t.Fatal(err)
	}
	first := readIDs(t, rdb, "s", "behind", "b1", 1)[0] // read, not acked yet
	var calls atomic.Int64
	rdb.AddHook(beforeHook(func(ctx context.Context, cmd redis.Cmder) error {
		if calls.Add(1) == 2 { // between the trim's first and second command, if it has two
			return other.XAck(ctx, "s", "behind", first).Err()
		}
		return nil
	}))
	if _, err := stream.Trim(ctx, rdb, "s", 0); err != nil {
		t.Fatal(err)
	}
	if calls.Load() < 2 { // a one-command trim: ack now, and trim again
		if err := other.XAck(ctx, "s", "behind", first).Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Trim(ctx, rdb, "s", 0); err != nil {
			t.Fatal(err)
		}
	}
	left, err := rdb.XRange(ctx, "s", "("+first, "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 14 {
		t.Fatalf("%d of the 14 entries the lagging group never read are left", len(left))
	}
}

// An entry whose handler crashes its process every time is dead-lettered
// once it has been delivered MaxDeliveries times, without its handler
// running again: the limit holds on the re-read of a restarted consumer's
// own pending entries too.
func TestCrashLoopingEntryIsDeadLettered(t *testing.T) {
	if addr := crashChildAddr(); addr != "" {
		crashChild(addr)
		return
	}
	srv := testenv.StartRedis(t)
	rdb := srv.Client()
	ctx := context.Background()
	if err := stream.CreateGroups(ctx, rdb, "g", "s"); err != nil {
		t.Fatal(err)
	}
	add(t, rdb, "s", "k", "crash")
	crashes := 0
	for range 10 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashLoopingEntryIsDeadLettered$")
		cmd.Env = append(cmd.Environ(), crashChildEnv+"="+srv.Addr)
		out, err := cmd.CombinedOutput()
		if err == nil {
			break
		}
		t.Logf("child: %v\n%s", err, out)
		crashes++
	}
	runs, _ := rdb.Get(ctx, "runs").Int()
	if runs != 3 || crashes != 3 {
		t.Fatalf("the crashing handler ran %d times over %d crashes, want 3 and 3 (MaxDeliveries)", runs, crashes)
	}
	if n := rdb.XLen(ctx, dlq).Val(); n != 1 {
		t.Fatalf("dead-letter stream holds %d entries, want 1", n)
	}
	if n := pending(t, rdb, "s", "g"); n != 0 {
		t.Fatalf("%d entries pending", n)
	}
}

const crashChildEnv = "ORDERSAGA_STREAM_CRASH_CHILD"

func crashChildAddr() string { return os.Getenv(crashChildEnv) }

// crashChild runs a consumer whose handler exits the process on the
// "crash" entry, until nothing is pending any more.
func crashChild(addr string) {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	h := func(ctx context.Context, d *stream.Delivery) error {
		if d.Field("k") == "crash" {
			rdb.Incr(ctx, "runs")
			os.Exit(3)
		}
		return nil
	}
	cfg := fast
	cfg.Name, cfg.MaxDeliveries = "crashy", 3
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c := stream.NewConsumer(rdb, stream.Group{Name: "g", Streams: []string{"s"}, DeadLetter: stream.OneDeadLetter(dlq)}, h, cfg, log)
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	for ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
		p, err := rdb.XPending(ctx, "s", "g").Result()
		if err == nil && p.Count == 0 && rdb.XLen(ctx, dlq).Val() == 1 {
			break
		}
	}
	cancel()
	if err := <-done; err != nil {
		log.Error("consumer stopped", "err", err)
	}
	if rdb.XLen(context.Background(), dlq).Val() != 1 {
		os.Exit(4)
	}
	os.Exit(0)
}

// counter counts handler runs per entry and the deliveries each run saw.
type counter struct {
	mu   sync.Mutex
	runs map[string]int
	max  int64
}

func (c *counter) handler(d time.Duration) stream.Handler {
	return func(ctx context.Context, del *stream.Delivery) error {
		c.mu.Lock()
		if c.runs == nil {
			c.runs = map[string]int{}
		}
		c.runs[del.ID]++
		c.max = max(c.max, del.Deliveries)
		c.mu.Unlock()
		time.Sleep(d)
		return nil
	}
}

func (c *counter) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, r := range c.runs {
		n += r
	}
	return n
}

// With two instances of a group, a handler that runs longer than the
// claim-idle time, and entries that wait for a handler slot longer than
// that, stay with the instance that read them: each runs once, on its
// first delivery, and nothing is dead-lettered.
func TestInFlightEntriesStayOwned(t *testing.T) {
	rdb := testenv.StartRedis(t).Client()
	ctx := context.Background()
	if err := stream.CreateGroups(ctx, rdb, "g", "s"); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		add(t, rdb, "s", "i", fmt.Sprint(i))
	}
	var c counter
	cfg := fast // ClaimIdle 300ms
	cfg.Concurrency, cfg.BatchSize, cfg.MaxDeliveries = 1, 10, 2
	cfg.Name = "a"
	run(t, rdb, "g", []string{"s"}, c.handler(700*time.Millisecond), cfg)
	eventually(t, "instance a reads", func() bool { return c.total() > 0 })
	cfg.Name = "b"
	run(t, rdb, "g", []string{"s"}, c.handler(700*time.Millisecond), cfg)
	teststack.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		if c.total() < 4 || pending(t, rdb, "s", "g") > 0 {
			c.mu.Lock()
			defer c.mu.Unlock()
			return fmt.Errorf("not all handled: %v", c.runs)
		}
		return nil
	})
	time.Sleep(400 * time.Millisecond) // a late second run would show now
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, n := range c.runs {
		if n != 1 {
			t.Errorf("entry %s ran %d times", id, n)
		}
	}
	if c.max != 1 {
		t.Errorf("an entry was delivered %d times", c.max)
	}
	if n := rdb.XLen(ctx, dlq).Val(); n != 0 {
		t.Errorf("%d entries dead-lettered", n)
	}
}

// blackhole forwards connections to addr until a client sends a command
// containing verb; from then on that connection's requests go nowhere, as
// over a half-open connection. It returns its own address.
func blackhole(t *testing.T, addr, verb string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", addr)
			if err != nil {
				_ = c.Close()
				continue
			}
			t.Cleanup(func() { _ = c.Close(); _ = s.Close() })
			go func() { _, _ = io.Copy(c, s) }()
			go func() {
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					if bytes.Contains(bytes.ToLower(buf[:n]), []byte(verb)) {
						_, _ = io.Copy(io.Discard, c) // swallow from now on
						return
					}
					if _, err := s.Write(buf[:n]); err != nil {
						return
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}

// Re-reading its own pending entries at start gives up after a timeout
// when the server stops answering, instead of hanging start-up.
func TestPendingReReadTimesOut(t *testing.T) {
	srv := testenv.StartRedis(t)
	direct := srv.Client()
	ctx := context.Background()
	if err := stream.CreateGroups(ctx, direct, "g", "s"); err != nil {
		t.Fatal(err)
	}
	add(t, direct, "s", "k", "v")
	readIDs(t, direct, "s", "g", "stuck", 1)
	rdb := redis.NewClient(&redis.Options{Addr: blackhole(t, srv.Addr, "xreadgroup"), MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	cfg := fast
	cfg.Name = "stuck"
	c := stream.NewConsumer(rdb, stream.Group{Name: "g", Streams: []string{"s"}, DeadLetter: stream.OneDeadLetter(dlq)}, func(context.Context, *stream.Delivery) error { return nil }, cfg, quiet)
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Run returned no error")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("start-up hangs on a server that does not answer")
	}
}

// When a group is gone and cannot be created again, the consumer pauses
// between attempts instead of spinning.
func TestNoGroupPauses(t *testing.T) {
	srv := testenv.StartRedis(t)
	rdb, admin := srv.Client(), srv.Client()
	ctx := context.Background()
	var refuse atomic.Bool
	var reads atomic.Int64
	rdb.AddHook(beforeHook(func(_ context.Context, cmd redis.Cmder) error {
		switch cmd.Name() {
		case "xgroup":
			if refuse.Load() {
				return fmt.Errorf("refused by the test")
			}
		case "xreadgroup":
			reads.Add(1)
		}
		return nil
	}))
	cfg := fast // Block 50ms
	run(t, rdb, "g", []string{"s"}, func(context.Context, *stream.Delivery) error { return nil }, cfg)
	eventually(t, "the consumer reads", func() bool { return reads.Load() > 0 })
	refuse.Store(true)
	if err := admin.XGroupDestroy(ctx, "s", "g").Err(); err != nil {
		t.Fatal(err)
	}
	before := reads.Load()
	time.Sleep(500 * time.Millisecond)
	if n := reads.Load() - before; n > 25 {
		t.Fatalf("%d reads in 500ms while the group was missing", n)
	}
}

// The dead-letter stream keeps at most DeadLetterMaxLen entries.
func TestDeadLetterStreamIsTrimmed(t *testing.T) {
	rdb := testenv.StartRedis(t).Client()
	if err := stream.CreateGroups(context.Background(), rdb, "g", "s"); err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		add(t, rdb, "s", "i", fmt.Sprint(i))
	}
	cfg := fast
	cfg.DeadLetterMaxLen = 5
	poison := func(context.Context, *stream.Delivery) error { return stream.ErrPoison }
	run(t, rdb, "g", []string{"s"}, poison, cfg)
	last := rdb.XRevRangeN(context.Background(), "s", "+", "-", 1).Val()[0].ID
	// Delivered first, then nothing pending (see TestTrimKeepsWhatAGroupStillNeeds).
	eventually(t, "every entry dead-lettered", func() bool { return lastDelivered(rdb, "s", "g") == last && pending(t, rdb, "s", "g") == 0 })
	if n := rdb.XLen(context.Background(), dlq).Val(); n != 5 {
		t.Fatalf("the dead-letter stream holds %d entries, want 5", n)
	}
}

// Consumers that have nothing pending and have been idle longer than
// ConsumerIdle are removed from their group; one that still owns an entry
// stays until the entry is taken over.
func TestIdleConsumersAreRemoved(t *testing.T) {
	rdb := testenv.StartRedis(t).Client()
	ctx := context.Background()
	if err := stream.CreateGroups(ctx, rdb, "g", "s"); err != nil {
		t.Fatal(err)
	}
	if err := rdb.XGroupCreateConsumer(ctx, "s", "g", "ghost").Err(); err != nil {
		t.Fatal(err)
	}
	add(t, rdb, "s", "k", "v")
	readIDs(t, rdb, "s", "g", "holder", 1)
	cfg := fast
	cfg.Name = "live"
	cfg.ConsumerIdle = 200 * time.Millisecond
	cfg.ClaimIdle = 2 * time.Second
	run(t, rdb, "g", []string{"s"}, func(context.Context, *stream.Delivery) error { return nil }, cfg)
	consumers := func() []string { return consumerNames(rdb, "s", "g") }
	eventually(t, "the ghost is removed", func() bool { return !slices.Contains(consumers(), "ghost") })
	if got := consumers(); !slices.Equal(got, []string{"holder", "live"}) {
		t.Fatalf("consumers %v, want the holder of a pending entry and the live one", got)
	}
	teststack.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		if got := consumers(); slices.Contains(got, "holder") {
			return fmt.Errorf("the holder stays after its entry was taken over: %v", got)
		}
		return nil
	})
	if n := pending(t, rdb, "s", "g"); n != 0 {
		t.Fatalf("%d entries pending", n)
	}
}

// consumerNames lists the consumers of group on stream s, sorted.
func consumerNames(rdb redis.UniversalClient, s, group string) []string {
	var names []string
	for _, c := range rdb.XInfoConsumers(context.Background(), s, group).Val() {
		names = append(names, c.Name)
	}
	slices.Sort(names)
	return names
}

// Entries the group skips are acked without a handler.
func TestSkippedEntriesAreAckedUnhandled(t *testing.T) {
	rdb := testenv.StartRedis(t).Client()
	if err := stream.CreateGroups(context.Background(), rdb, "g", "s"); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		add(t, rdb, "s", "k", []string{"skip", "run"}[i%2])
	}
	var ran atomic.Int64
	cfg := fast
	cfg.Skip = func(v map[string]any) bool { return v["k"] == "skip" }
	run(t, rdb, "g", []string{"s"}, func(_ context.Context, d *stream.Delivery) error {
		if d.Field("k") != "run" {
			t.Errorf("handler got %v", d.Values)
		}
		ran.Add(1)
		return nil
	}, cfg)
	eventually(t, "every entry acked", func() bool {
		return ran.Load() == 5 && lastDelivered(rdb, "s", "g") != "0-0" && pending(t, rdb, "s", "g") == 0
	})
}
