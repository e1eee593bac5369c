package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Delivery is one stream entry handed to a handler.
type Delivery struct {
	Stream     string
	Group      string
	ID         string
	Values     map[string]any
	Deliveries int64
	acked      bool
}

// Field returns a string field of the entry ("" when absent).
func (d *Delivery) Field(name string) string {
	s, _ := d.Values[name].(string)
	return s
}

// MarkAcked records that the handler acked the entry itself, in the same
// atomic step as its work; the consumer then does not ack it again.
func (d *Delivery) MarkAcked() { d.acked = true }

// Handler processes one delivery. A nil error means the work is committed:
// the entry is acked (unless the handler did, see MarkAcked). An error
// leaves it pending, to be redelivered with backoff; an error wrapping
// ErrPoison dead-letters it at once.
type Handler func(ctx context.Context, d *Delivery) error

// Middleware wraps a handler.
type Middleware func(Handler) Handler

// ErrPoison marks an entry that can never be processed: it is dead-lettered at once.
var ErrPoison = errors.New("poison entry")

// Recoverer turns a handler's panic into a poison error, so the entry is
// dead-lettered with the panic as its reason and the consumer keeps running.
func Recoverer(h Handler) Handler {
	return func(ctx context.Context, d *Delivery) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("%w: handler panicked: %v", ErrPoison, r)
			}
		}()
		return h(ctx, d)
	}
}

// Consumer reads streams through one consumer group.
type Consumer struct {
	rdb     redis.UniversalClient
	group   string
	streams []string
	dlq     string
	handler Handler
	cfg     Config
	log     *slog.Logger

	inflight sync.Map     // inflightKey(stream, entry ID) -> struct{}
	running  atomic.Int64 // handlers in flight
	retrying atomic.Int64 // own entries waiting for a redelivery, as last seen
	sem      chan struct{}
	wg       sync.WaitGroup
}

// NewConsumer returns a consumer of streams for group, which dead-letters
// to the deadLetter stream. The handler runs wrapped in Recoverer.
func NewConsumer(rdb redis.UniversalClient, group string, streams []string, deadLetter string, h Handler, cfg Config, log *slog.Logger) *Consumer {
	cfg = cfg.WithDefaults()
	if cfg.Name == "" {
		cfg.Name = group
	}
	return &Consumer{
		rdb: rdb, group: group, streams: slices.Clone(streams), dlq: deadLetter,
		handler: Recoverer(h), cfg: cfg,
		log: log.With("group", group, "consumer", cfg.Name),
		sem: make(chan struct{}, cfg.Concurrency),
	}
}

// CreateGroups creates group on every stream (and the stream if missing),
// reading from the beginning, so a group that has never run still sees
// every entry added before it started. It is idempotent.
func CreateGroups(ctx context.Context, rdb redis.UniversalClient, group string, streams ...string) error {
	for _, s := range streams {
		err := rdb.XGroupCreateMkStream(ctx, s, group, "0").Err()
		if err != nil && !redis.HasErrorPrefix(err, "BUSYGROUP") {
			return fmt.Errorf("create group %s on %s: %w", group, s, err)
		}
	}
	return nil
}

// Run consumes until ctx is done, then waits for handlers in flight to
// finish: an entry is either fully processed or left pending, never half.
func (c *Consumer) Run(ctx context.Context) error {
	defer c.wg.Wait()
	if err := CreateGroups(ctx, c.rdb, c.group, c.streams...); err != nil {
		return err
	}
	// First the entries this consumer read before a restart but never acked.
	if err := c.drainOwnPending(ctx); err != nil && ctx.Err() == nil {
		return err
	}
	// XREADGROUP's arguments: every stream, then ">" (new entries) for each.
	streams := append(slices.Clone(c.streams), slices.Repeat([]string{">"}, len(c.streams))...)
	var lastSweep, lastClaim time.Time
	for ctx.Err() == nil {
		now := time.Now()
		if now.Sub(lastSweep) >= c.cfg.RetryBase {
			c.sweep(ctx)
			lastSweep = now
		}
		if now.Sub(lastClaim) >= c.cfg.ClaimIdle/4 {
			c.claim(ctx)
			lastClaim = now
		}
		c.readNew(ctx, streams)
	}
	return nil
}

// readNew reads and dispatches one batch of new entries.
func (c *Consumer) readNew(ctx context.Context, streams []string) {
	// While entries wait for a redelivery, wake up often enough to
	// redeliver them on time.
	block := c.cfg.Block
	if (c.retrying.Load() > 0 || c.running.Load() > 0) && block > c.cfg.RetryBase {
		block = c.cfg.RetryBase
	}
	res, err := c.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: c.group, Consumer: c.cfg.Name, Streams: streams,
		Count: int64(c.cfg.BatchSize), Block: block,
	}).Result()
	c.observeRead(ctx, err)
	switch {
	case err == nil:
	case errors.Is(err, redis.Nil) || ctx.Err() != nil:
		return
	case redis.HasErrorPrefix(err, "NOGROUP"):
		_ = CreateGroups(ctx, c.rdb, c.group, c.streams...)
		return
	default:
		c.log.Warn("read failed; retrying", "err", err)
		sleep(ctx, time.Second)
		return
	}
	for _, s := range res {
		for _, m := range s.Messages {
			c.dispatch(ctx, s.Stream, m, 1)
		}
	}
}

// drainOwnPending re-reads entries delivered to this consumer name but not acked.
func (c *Consumer) drainOwnPending(ctx context.Context) error {
	for _, stream := range c.streams {
		start := "0"
		for {
			res, err := c.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
				Group: c.group, Consumer: c.cfg.Name, Streams: []string{stream, start},
				Count: int64(c.cfg.BatchSize),
			}).Result()
			if redis.HasErrorPrefix(err, "NOGROUP") {
				// The stream was deleted under us (a reset): set it up again;
				// a new group has nothing pending for this consumer.
				if err := CreateGroups(ctx, c.rdb, c.group, stream); err != nil {
					return err
				}
				break
			}
			if err != nil && !errors.Is(err, redis.Nil) {
				return fmt.Errorf("read own pending of %s: %w", stream, err)
			}
			if len(res) == 0 || len(res[0].Messages) == 0 {
				break
			}
			for _, m := range res[0].Messages {
				start = m.ID
				if m.Values == nil { // deleted while pending: nothing to process
					_ = c.rdb.XAck(ctx, stream, c.group, m.ID).Err()
					continue
				}
				c.dispatch(ctx, stream, m, c.deliveries(ctx, stream, m.ID))
			}
		}
	}
	c.wg.Wait()
	return nil
}

// sweep redelivers this consumer's failed entries once their backoff is over.
func (c *Consumer) sweep(ctx context.Context) {
	var waiting int64
	defer func() { c.retrying.Store(waiting) }()
	for _, stream := range c.streams {
		pend, err := c.rdb.XPendingExt(ctx, &redis.XPendingExtArgs{
			Stream: stream, Group: c.group,
			Start: "-", End: "+", Count: int64(c.cfg.BatchSize), Consumer: c.cfg.Name,
		}).Result()
		if err != nil {
			if ctx.Err() == nil {
				c.log.Warn("list pending failed", "stream", stream, "err", err)
			}
			continue
		}
		for _, p := range pend {
			if _, busy := c.inflight.Load(inflightKey(stream, p.ID)); busy {
				continue
			}
			if p.Idle < c.cfg.backoff(p.RetryCount) {
				waiting++
				continue
			}
			if p.RetryCount >= c.cfg.MaxDeliveries {
				c.deadLetterByID(ctx, stream, p.ID, p.RetryCount, fmt.Sprintf("delivered %d times without success", p.RetryCount))
				continue
			}
			msgs, err := c.rdb.XClaim(ctx, &redis.XClaimArgs{
				Stream: stream, Group: c.group, Consumer: c.cfg.Name,
				MinIdle: c.cfg.backoff(p.RetryCount), Messages: []string{p.ID},
			}).Result()
			if err != nil {
				continue
			}
			for _, m := range msgs {
				c.dispatch(ctx, stream, m, p.RetryCount+1)
			}
		}
	}
}

// claim takes over entries that other (dead) consumers left idle.
func (c *Consumer) claim(ctx context.Context) {
	for _, stream := range c.streams {
		start := "0-0"
		for range 10 {
			msgs, next, err := c.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
				Stream: stream, Group: c.group, Consumer: c.cfg.Name,
				MinIdle: c.cfg.ClaimIdle, Start: start, Count: int64(c.cfg.BatchSize),
			}).Result()
			if err != nil {
				if ctx.Err() == nil {
					c.log.Warn("reclaim failed", "stream", stream, "err", err)
				}
				break
			}
			for _, m := range msgs {
				if _, busy := c.inflight.Load(inflightKey(stream, m.ID)); busy {
					continue
				}
				n := c.deliveries(ctx, stream, m.ID)
				if n > c.cfg.MaxDeliveries {
					c.deadLetter(ctx, stream, m, n, fmt.Sprintf("delivered %d times without success", n))
					continue
				}
				c.log.Info("reclaimed idle entry", "stream", stream, "id", m.ID, "deliveries", n)
				c.dispatch(ctx, stream, m, n)
			}
			if next == "0-0" || next == "" {
				break
			}
			start = next
		}
	}
}

func (c *Consumer) deliveries(ctx context.Context, stream, id string) int64 {
	p, err := c.rdb.XPendingExt(ctx, &redis.XPendingExtArgs{
		Stream: stream, Group: c.group, Start: id, End: id, Count: 1,
	}).Result()
	if err != nil || len(p) == 0 {
		return 1
	}
	return p[0].RetryCount
}

// dispatch runs the handler of one entry on a bounded pool of goroutines.
// Handlers run on a context that outlives shutdown, bounded by HandlerTimeout,
// so shutdown waits for them instead of cutting them in half.
func (c *Consumer) dispatch(ctx context.Context, stream string, m redis.XMessage, deliveries int64) {
	key := inflightKey(stream, m.ID)
	if _, loaded := c.inflight.LoadOrStore(key, struct{}{}); loaded {
		return
	}
	if deliveries > 1 && c.cfg.Observer != nil {
		c.cfg.Observer.Redelivered(c.group, stream, deliveries)
	}
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		c.inflight.Delete(key)
		return
	}
	c.wg.Add(1)
	c.running.Add(1)
	go func() {
		defer func() {
			<-c.sem
			c.inflight.Delete(key)
			c.running.Add(-1)
			c.wg.Done()
		}()
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.HandlerTimeout)
		defer cancel()
		c.handle(hctx, &Delivery{Stream: stream, Group: c.group, ID: m.ID, Values: m.Values, Deliveries: deliveries})
	}()
}

// inflightKey names an entry among all the streams a consumer reads: two
// streams can hand out the same entry ID in the same millisecond.
func inflightKey(stream, id string) string { return stream + " " + id }

func (c *Consumer) handle(ctx context.Context, d *Delivery) {
	err := c.handler(ctx, d)
	switch {
	case err == nil:
		if !d.acked {
			if err := c.rdb.XAck(ctx, d.Stream, c.group, d.ID).Err(); err != nil {
				c.log.Warn("ack failed", "stream", d.Stream, "id", d.ID, "err", err)
			}
		}
	case errors.Is(err, ErrPoison):
		c.deadLetter(ctx, d.Stream, redis.XMessage{ID: d.ID, Values: d.Values}, d.Deliveries, err.Error())
	default:
		c.retrying.Add(1)
		lvl := slog.LevelWarn
		var temp interface{ Temporary() bool }
		if errors.As(err, &temp) && temp.Temporary() {
			lvl = slog.LevelDebug // expected to heal on a redelivery
		}
		c.log.Log(ctx, lvl, "handler failed; will redeliver", "stream", d.Stream, "id", d.ID,
			"deliveries", d.Deliveries, "err", err)
	}
}

// observeRead tells the observer how a read of new entries went; a read
// cut short by shutdown or a missing group (set up again) tells nothing.
func (c *Consumer) observeRead(ctx context.Context, err error) {
	if c.cfg.Observer == nil || ctx.Err() != nil || redis.HasErrorPrefix(err, "NOGROUP") {
		return
	}
	if errors.Is(err, redis.Nil) {
		err = nil
	}
	c.cfg.Observer.Read(c.group, c.streams, err)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
