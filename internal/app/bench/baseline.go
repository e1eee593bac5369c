package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/choreography/stream"
	"github.com/ordersaga/ordersaga/internal/platform/keyspace"
	"github.com/ordersaga/ordersaga/shop"
)

// Names of the bare engines, as reports show them.
const (
	BareTemporalName = "bare Temporal: no-op workflow, 4 no-op activities"
	BareStreamsName  = "bare Redis Streams: 5 hops, no saga logic"
)

// BareTaskQueue is the task queue of the bare Temporal workload. Only the
// bench's own worker serves it: the production worker runs OrderSaga alone.
const BareTaskQueue = "ordersaga-bare"

// BareSteps is how many activities BareWorkflow runs, one per saga step
// (the fraud check's included; a test holds it to len(shop.Steps)).
const BareSteps = 4

// BareWorkflow runs NoopActivity BareSteps times in a row and returns: the
// shape of OrderSaga's happy path with no saga logic, no Redis and no
// fault plan.
func BareWorkflow(ctx workflow.Context, id string) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 50 * time.Millisecond, MaximumAttempts: 3},
	})
	for step := range BareSteps {
		if err := workflow.ExecuteActivity(ctx, NoopActivity, step).Get(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}

// NoopActivity does nothing.
func NoopActivity(context.Context, int) error { return nil }

// TemporalBaseline starts BareWorkflow the way the orchestration engine
// starts OrderSaga: same ID policies, no eager start, on BareTaskQueue, served
// by a worker of its own with the given options (the production worker's
// poller counts make the comparison fair). Workflow IDs are
// "baseline-<id>" with id from IDs.
type TemporalBaseline struct {
	Client        client.Client
	IDs           func(i int) string
	WorkerOptions worker.Options

	worker worker.Worker
}

// Start starts the bench's worker for BareWorkflow; Stop stops it.
func (t *TemporalBaseline) Start() error {
	w := worker.New(t.Client, BareTaskQueue, t.WorkerOptions)
	w.RegisterWorkflow(BareWorkflow)
	w.RegisterActivity(NoopActivity)
	if err := w.Start(); err != nil {
		return fmt.Errorf("start the bare Temporal worker: %w", err)
	}
	t.worker = w
	return nil
}

// Stop stops the bench's worker.
func (t *TemporalBaseline) Stop() {
	if t.worker != nil {
		t.worker.Stop()
		t.worker = nil
	}
}

func (t *TemporalBaseline) workflowID(i int) string { return "baseline-" + t.IDs(i) }

// Place starts the i-th baseline workflow.
func (t *TemporalBaseline) Place(ctx context.Context, i int) error {
	if _, err := t.Client.ExecuteWorkflow(ctx, t.StartOptions(i), BareWorkflow, t.IDs(i)); err != nil {
		return fmt.Errorf("start baseline workflow: %w", err)
	}
	return nil
}

// StartOptions are the options the i-th baseline workflow starts with.
// Not eager: the SDK starts a workflow eagerly only for a worker that
// shares the client, and the orders the bench places go to a worker in
// another process; eager here would compare unlike setups.
func (t *TemporalBaseline) StartOptions(i int) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                                       t.workflowID(i),
		TaskQueue:                                BareTaskQueue,
		WorkflowIDReusePolicy:                    enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy:                 enums.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		EnableEagerStart:                         false,
	}
}

// Wait waits for the i-th baseline workflow to complete.
func (t *TemporalBaseline) Wait(ctx context.Context, i int) (shop.Status, error) {
	if err := t.Client.GetWorkflow(ctx, t.workflowID(i), "").Get(ctx, nil); err != nil {
		return "", err
	}
	return shop.StatusCompleted, nil
}

// StreamPipeline is the bare choreography: Hops consumer groups, each
// reading one stream per partition and, per entry, adding an entry to the
// next stream of the same partition and acking in one MULTI/EXEC; the last
// hop sets a done key instead. It has the shape of the saga's choreography
// (placement, the participants, the order service; the same partitions,
// hash tags and per-slot readers) without its logic: no decoding, no Lua,
// no dedupe, no redelivery. Wait polls the done key the way the
// choreography engine polls the order.
type StreamPipeline struct {
	Redis  redis.UniversalClient
	Prefix string // key prefix, e.g. "ordersaga:bench:"
	IDs    func(i int) string
	// Partitions spreads entries over that many partitions, as the
	// choreography does (default 1).
	Partitions int
	// BatchSize, Concurrency and Block tune each hop's consumer; they
	// default to the choreography consumer's (stream.Config).
	BatchSize   int
	Concurrency int
	Block       time.Duration
	// PollMin and PollMax bound Wait's polling interval, doubling from the one to the other.
	PollMin, PollMax time.Duration

	layout activities.Layout
	cancel context.CancelFunc
	wg     sync.WaitGroup
	failed atomic.Pointer[error] // the first error of a hop, which Wait reports
}

// Hops is how many consumer groups an entry passes through: one per
// participant's service, then the order service's (a test holds it to
// len(shop.Steps)+1).
const Hops = 5

func (p *StreamPipeline) stream(part, k int) string {
	return fmt.Sprintf("%sstream:%d", p.layout.PartitionPrefix(part), k)
}

func (p *StreamPipeline) doneKey(id string) string { return p.layout.OrderPrefix(id) + "done:" + id }

// Start clears the pipeline's keys, creates its groups and starts the
// consumers of every hop. Stop ends them.
func (p *StreamPipeline) Start(ctx context.Context) error {
	if p.Prefix == "" || p.IDs == nil {
		return errors.New("stream pipeline needs a prefix and IDs")
	}
	def := stream.Config{}.WithDefaults() // the choreography consumer's own defaults
	p.BatchSize = cmp.Or(max(p.BatchSize, 0), def.BatchSize)
	p.Concurrency = cmp.Or(max(p.Concurrency, 0), def.Concurrency)
	p.Block = cmp.Or(max(p.Block, 0), def.Block)
	p.PollMin = cmp.Or(max(p.PollMin, 0), time.Millisecond)
	p.PollMax = max(p.PollMax, p.PollMin)
	lay, err := activities.NewLayout(p.Prefix, cmp.Or(p.Partitions, 1))
	if err != nil {
		return fmt.Errorf("stream pipeline: %w", err)
	}
	p.layout = lay
	if err := p.Clear(ctx); err != nil {
		return err
	}
	for k := range Hops {
		if err := stream.CreateGroups(ctx, p.Redis, hopGroup(k), p.hopStreams(k)...); err != nil {
			return err
		}
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.cancel = cancel
	p.failed.Store(nil)
	for k := range Hops {
		p.wg.Go(func() {
			if err := p.hop(runCtx, k); err != nil {
				p.fail(err)
			}
		})
	}
	return nil
}

func (p *StreamPipeline) fail(err error) { p.failed.CompareAndSwap(nil, &err) }

func hopGroup(k int) string { return fmt.Sprintf("hop%d", k+1) }

// hopStreams lists hop k's stream of every partition.
func (p *StreamPipeline) hopStreams(k int) []string {
	out := make([]string, p.layout.Partitions)
	for part := range out {
		out[part] = p.stream(part, k)
	}
	return out
}

// hop consumes hop k's streams through its group until ctx is done: one
// reader per shard (see stream.Shards), handlers bounded by Concurrency.
func (p *StreamPipeline) hop(ctx context.Context, k int) error {
	slots := hopSlots{sem: make(chan struct{}, p.Concurrency), handlers: &sync.WaitGroup{}}
	defer slots.handlers.Wait()
	shards := stream.Shards(p.Redis, p.hopStreams(k))
	readers, closeReaders := stream.ReaderClient(p.Redis, len(shards))
	defer closeReaders()
	errs := make([]error, len(shards))
	var loops sync.WaitGroup
	for i, shard := range shards {
		loops.Go(func() { errs[i] = p.read(ctx, readers, k, shard, slots) })
	}
	loops.Wait()
	return errors.Join(errs...)
}

// hopSlots bound the handlers of one hop: a slot of sem per handler
// running, and the handlers to wait for.
type hopSlots struct {
	sem      chan struct{}
	handlers *sync.WaitGroup
}

// read reads one shard of hop k and hands each entry to a handler.
func (p *StreamPipeline) read(ctx context.Context, rdb redis.UniversalClient, k int, shard []string, slots hopSlots) error {
	sem, handlers := slots.sem, slots.handlers
	group := hopGroup(k)
	args := append(slices.Clone(shard), slices.Repeat([]string{">"}, len(shard))...)
	for ctx.Err() == nil {
		res, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: group, Consumer: group + "-1", Streams: args,
			Count: int64(p.BatchSize), Block: p.Block,
		}).Result()
		if err != nil {
			if errors.Is(err, redis.Nil) || ctx.Err() != nil {
				continue
			}
			return fmt.Errorf("hop %d: read: %w", k+1, err)
		}
		for _, s := range res {
			part := slices.Index(p.hopStreams(k), s.Stream)
			for _, m := range s.Messages {
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					return nil
				}
				handlers.Go(func() {
					defer func() { <-sem }()
					p.forward(ctx, k, part, s.Stream, m)
				})
			}
		}
	}
	return nil
}

// forward passes one entry of hop k on: the next hop's entry (or the done
// key) and the ack, in one transaction in the entry's partition.
func (p *StreamPipeline) forward(ctx context.Context, k, part int, from string, m redis.XMessage) {
	id, _ := m.Values["id"].(string)
	_, err := p.Redis.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		if k+1 < Hops {
			pipe.XAdd(ctx, &redis.XAddArgs{Stream: p.stream(part, k+1), Values: []any{"id", id}})
		} else {
			pipe.Set(ctx, p.doneKey(id), "1", 10*time.Minute)
		}
		pipe.XAck(ctx, from, hopGroup(k), m.ID)
		return nil
	})
	if err != nil && ctx.Err() == nil {
		p.fail(fmt.Errorf("hop %d: %w", k+1, err))
	}
}

// Place adds the i-th entry to the first stream of its partition.
func (p *StreamPipeline) Place(ctx context.Context, i int) error {
	id := p.IDs(i)
	return p.Redis.XAdd(ctx, &redis.XAddArgs{Stream: p.stream(p.layout.Partition(id), 0), Values: []any{"id", id}}).Err()
}

// Wait polls the i-th entry's done key until it is set.
func (p *StreamPipeline) Wait(ctx context.Context, i int) (shop.Status, error) {
	key := p.doneKey(p.IDs(i))
	d := p.PollMin
	for {
		n, err := p.Redis.Exists(ctx, key).Result()
		if err != nil {
			return "", err
		}
		if n == 1 {
			return shop.StatusCompleted, nil
		}
		if err := p.failed.Load(); err != nil {
			return "", *err
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return "", ctx.Err()
		case <-t.C:
		}
		d = min(2*d, p.PollMax)
	}
}

// Stop ends the consumers, waits for them and deletes the pipeline's keys.
func (p *StreamPipeline) Stop(ctx context.Context) error {
	if p.cancel != nil {
		p.cancel()
		p.wg.Wait()
		p.cancel = nil
	}
	return p.Clear(ctx)
}

// Clear deletes every key under the pipeline's prefix, master by master on
// a cluster.
func (p *StreamPipeline) Clear(ctx context.Context) error {
	if !strings.HasSuffix(p.Prefix, ":") {
		return fmt.Errorf("stream pipeline prefix %q must end with ':'", p.Prefix)
	}
	if _, err := keyspace.Delete(ctx, p.Redis, p.Prefix+"*", nil); err != nil {
		return fmt.Errorf("clear %s: %w", p.Prefix, err)
	}
	return nil
}
