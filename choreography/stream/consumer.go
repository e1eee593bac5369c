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

// BatchHandler processes together the entries of one stream that one read
// (or one reclaim) returned, and returns one error per delivery, in their
// order (nil: every entry succeeded); each error means for its entry what
// a Handler's error means. Each entry keeps its own outcome: the handler
// must not let one entry's failure fail its neighbours.
type BatchHandler func(ctx context.Context, ds []*Delivery) []error

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

// recoverBatch runs a batch handler so that a panic is charged to the
// entry that caused it: a batch that panics is run again entry by entry
// (handlers commit idempotently), and the entry that panics alone is
// poison. A handler that returns a wrong number of errors fails its batch,
// to be redelivered.
func recoverBatch(h BatchHandler) BatchHandler {
	var safe BatchHandler
	safe = func(ctx context.Context, ds []*Delivery) (errs []error) {
		panicked := false
		func() {
			defer func() {
				if r := recover(); r != nil {
					panicked = true
					errs = []error{fmt.Errorf("%w: handler panicked: %v", ErrPoison, r)}
				}
			}()
			errs = h(ctx, ds)
		}()
		switch {
		case panicked && len(ds) > 1:
			errs = make([]error, len(ds))
			for i := range ds {
				errs[i] = safe(ctx, ds[i:i+1])[0]
			}
		case errs == nil:
			errs = make([]error, len(ds))
		case len(errs) != len(ds):
			err := fmt.Errorf("batch handler returned %d results for %d entries", len(errs), len(ds))
			errs = slices.Repeat([]error{err}, len(ds))
		}
		return errs
	}
	return safe
}

// eachAlone makes a batch handler of a handler: every entry on its own.
func eachAlone(h Handler) BatchHandler {
	h = Recoverer(h)
	return func(ctx context.Context, ds []*Delivery) []error {
		errs := make([]error, len(ds))
		for i, d := range ds {
			errs[i] = h(ctx, d)
		}
		return errs
	}
}

// DeadLetterFor names the dead-letter stream of each stream a consumer
// reads. On a Redis Cluster it must be in the same slot as the stream, so
// that moving an entry there is one atomic step.
type DeadLetterFor func(stream string) string

// OneDeadLetter dead-letters the entries of every stream to one stream.
func OneDeadLetter(name string) DeadLetterFor { return func(string) string { return name } }

// Consumer reads streams through one consumer group.
//
// Every entry a consumer has read stays its own until it is acked or
// dead-lettered: while it waits for a handler slot or its handler runs,
// its idle time is refreshed, so no other consumer of the group reclaims
// it. One rule bounds deliveries on every path (first read, the re-read of
// its own pending entries at start, the redelivery of failed entries, and
// the reclaim of other consumers' idle entries): an entry delivered more
// than MaxDeliveries times is dead-lettered without its handler running,
// unless Config.Unbounded spares it.
type Consumer struct {
	rdb        redis.UniversalClient
	group      string
	streams    []string
	deadLetter DeadLetterFor
	handler    BatchHandler
	batched    bool // entries read together are handled together
	cfg        Config
	log        *slog.Logger

	owned    sync.Map // inflightKey(stream, entry ID) -> *flight: read and not finished
	retrying sync.Map // stream -> struct{}: it has own entries waiting for a redelivery
	full     sync.Map // inflightKey(stream, entry ID) -> struct{}: its last run found Redis full
	sem      chan struct{}
	freed    chan struct{} // a handler slot was freed
	wg       sync.WaitGroup
}

// flight is an entry the consumer owns.
type flight struct {
	stream, id string
	since      atomic.Int64 // unix ms when it was read or last refreshed
}

// NewConsumer returns a consumer of g's streams for its group, which
// dead-letters to the streams g.DeadLetter names and runs h on each entry,
// up to Config.Concurrency at once. The handler runs wrapped in Recoverer.
func NewConsumer(rdb redis.UniversalClient, g Group, h Handler, cfg Config, log *slog.Logger) *Consumer {
	c := newConsumer(rdb, g, cfg, log)
	c.handler = eachAlone(h)
	return c
}

// Group is what a consumer reads: the consumer group, the streams it reads
// through it, and the dead-letter stream of each.
type Group struct {
	Name       string
	Streams    []string
	DeadLetter DeadLetterFor
}

// NewBatchConsumer is NewConsumer with a handler of batches: the entries
// of one stream that one read returned are handed over together, as one
// of the Config.Concurrency handler runs. A panic is charged to the entry
// that caused it (see recoverBatch).
func NewBatchConsumer(rdb redis.UniversalClient, g Group, h BatchHandler, cfg Config, log *slog.Logger) *Consumer {
	c := newConsumer(rdb, g, cfg, log)
	c.handler, c.batched = recoverBatch(h), true
	return c
}

func newConsumer(rdb redis.UniversalClient, g Group, cfg Config, log *slog.Logger) *Consumer {
	cfg = cfg.WithDefaults()
	if cfg.Name == "" {
		cfg.Name = g.Name
	}
	return &Consumer{
		rdb: rdb, group: g.Name, streams: slices.Clone(g.Streams), deadLetter: g.DeadLetter, cfg: cfg,
		log:   log.With("group", g.Name, "consumer", cfg.Name),
		sem:   make(chan struct{}, cfg.Concurrency),
		freed: make(chan struct{}, 1),
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
// It first takes the consumer name (waiting up to PresenceTTL for a
// crashed holder's claim to expire) and fails with ErrNameInUse while
// another live process holds it; it releases the name when it stops, and
// fails with ErrNameLost if another process took it over meanwhile.
func (c *Consumer) Run(ctx context.Context) error {
	pres := newPresence(c.rdb, c.group, c.streams, c.cfg, c.log)
	if err := pres.acquire(ctx); err != nil {
		pres.release(ctx) // the records it took before it gave up
		if ctx.Err() != nil {
			return nil // stopped before it started
		}
		return err
	}
	parent := ctx
	ctx, cancel := context.WithCancelCause(parent)
	// The name is renewed until the handlers in flight are done, not only
	// until ctx is: else another process could take it and run them again.
	keepCtx, stopKeep := context.WithCancel(context.WithoutCancel(parent))
	var kept sync.WaitGroup
	kept.Go(func() { pres.keep(keepCtx, cancel) })
	defer func() {
		c.wg.Wait()
		stopKeep()
		kept.Wait()
		pres.release(parent)
		cancel(nil)
	}()
	if err := CreateGroups(ctx, c.rdb, c.group, c.streams...); err != nil {
		if parent.Err() != nil {
			return nil // stopped as it started
		}
		return err
	}
	// First the entries this consumer read before a restart but never acked.
	if err := c.drainOwnPending(ctx); err != nil && ctx.Err() == nil {
		return err
	}
	readers, closeReaders := ReaderClient(c.rdb, len(Shards(c.rdb, c.streams)))
	defer closeReaders()
	var loops sync.WaitGroup
	for _, shard := range Shards(c.rdb, c.streams) {
		loops.Go(func() { c.readLoop(ctx, readers, shard) })
	}
	loops.Go(func() { c.keepOwned(ctx) })
	c.maintain(ctx)
	loops.Wait()
	if parent.Err() == nil {
		return context.Cause(ctx) // the name was lost
	}
	return nil
}

// maintain redelivers failed entries once their backoff is over, reclaims
// entries dead consumers left idle and removes long-idle consumers from
// the group, until ctx is done.
func (c *Consumer) maintain(ctx context.Context) {
	var lastClaim time.Time
	Tick(ctx, c.cfg.RetryBase, func() {
		c.sweep(ctx)
		if time.Since(lastClaim) >= c.cfg.ClaimIdle/4 {
			c.claim(ctx)
			c.removeIdleConsumers(ctx)
			lastClaim = time.Now()
		}
	})
}

// Tick calls f every d until ctx is done.
func Tick(ctx context.Context, d time.Duration, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}

// readLoop reads and dispatches new entries of one shard until ctx is done.
// It reads only when a handler slot is free; entries read wait for a slot
// owned by this consumer (see keepOwned).
func (c *Consumer) readLoop(ctx context.Context, rdb redis.UniversalClient, shard []string) {
	args := append(slices.Clone(shard), slices.Repeat([]string{">"}, len(shard))...)
	for ctx.Err() == nil {
		if len(c.sem) == cap(c.sem) {
			select {
			case <-ctx.Done():
				return
			case <-c.freed:
			}
			continue
		}
		res, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: c.group, Consumer: c.cfg.Name, Streams: args, Count: int64(c.cfg.BatchSize), Block: c.cfg.Block,
		}).Result()
		c.observeRead(ctx, shard, err)
		switch {
		case err == nil:
		case errors.Is(err, redis.Nil) || ctx.Err() != nil:
			continue
		case redis.HasErrorPrefix(err, "NOGROUP"):
			// The stream was deleted under us (a reset): set it up again,
			// and pause if that fails, so a missing group is no busy loop.
			if err := CreateGroups(ctx, c.rdb, c.group, shard...); err != nil {
				c.log.Warn("group missing and not created again; retrying", "err", err)
				sleep(ctx, c.cfg.Block)
			}
			continue
		default:
			c.log.Warn("read failed; retrying", "err", err)
			sleep(ctx, time.Second)
			continue
		}
		for _, s := range res {
			c.dispatchAll(ctx, s.Stream, s.Messages, func(string) int64 { return 1 })
		}
	}
}

// drainOwnPending re-reads entries delivered to this consumer name but not
// acked. Each read is bounded by a timeout: a server that stops answering
// fails the start instead of hanging it.
func (c *Consumer) drainOwnPending(ctx context.Context) error {
	for _, stream := range c.streams {
		start := "0"
		for {
			rctx, cancel := context.WithTimeout(ctx, c.cfg.Block+5*time.Second)
			res, err := c.rdb.XReadGroup(rctx, &redis.XReadGroupArgs{
				Group: c.group, Consumer: c.cfg.Name, Streams: []string{stream, start},
				Count: int64(c.cfg.BatchSize), Block: -1,
			}).Result()
			cancel()
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
			var live []redis.XMessage
			for _, m := range res[0].Messages {
				start = m.ID
				if m.Values == nil { // deleted while pending: nothing to process
					_ = c.rdb.XAck(ctx, stream, c.group, m.ID).Err()
					continue
				}
				live = append(live, m)
			}
			c.dispatchAll(ctx, stream, live, func(id string) int64 { return c.deliveries(ctx, stream, id) })
		}
	}
	return nil
}

// sweep redelivers this consumer's failed entries once their backoff is
// over. It looks only at streams where a handler failed.
func (c *Consumer) sweep(ctx context.Context) {
	c.retrying.Range(func(k, _ any) bool {
		stream := k.(string)
		pend, err := c.rdb.XPendingExt(ctx, &redis.XPendingExtArgs{
			Stream: stream, Group: c.group,
			Start: "-", End: "+", Count: int64(c.cfg.BatchSize), Consumer: c.cfg.Name,
		}).Result()
		if err != nil {
			if ctx.Err() == nil {
				c.log.Warn("list pending failed", "stream", stream, "err", err)
			}
			return true
		}
		waiting := false
		for _, p := range pend {
			if _, busy := c.owned.Load(inflightKey(stream, p.ID)); busy {
				continue
			}
			waiting = true
			wait := c.cfg.backoff(p.RetryCount)
			if _, full := c.full.Load(inflightKey(stream, p.ID)); full {
				wait = c.cfg.RetryMax
			}
			if p.Idle < wait {
				continue
			}
			msgs, err := c.rdb.XClaim(ctx, &redis.XClaimArgs{
				Stream: stream, Group: c.group, Consumer: c.cfg.Name,
				MinIdle: wait, Messages: []string{p.ID},
			}).Result()
			if err != nil {
				continue
			}
			c.full.Delete(inflightKey(stream, p.ID))
			c.dispatchAll(ctx, stream, msgs, func(string) int64 { return p.RetryCount + 1 })
		}
		if !waiting {
			c.retrying.Delete(stream)
		}
		return true
	})
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
			c.dispatchAll(ctx, stream, msgs, func(id string) int64 {
				n := c.deliveries(ctx, stream, id)
				c.log.Info("reclaimed idle entry", "stream", stream, "id", id, "deliveries", n)
				return n
			})
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

// own records that this consumer holds an entry it just read or claimed,
// so that it keeps it (see keepOwned) until its handler is done. It
// returns false when the entry is held already (another path got it).
func (c *Consumer) own(stream, id string) bool {
	f := &flight{stream: stream, id: id}
	f.since.Store(time.Now().UnixMilli())
	_, loaded := c.owned.LoadOrStore(inflightKey(stream, id), f)
	return !loaded
}

// dispatchAll acks the entries of a batch the group skips, in one command,
// owns every other entry at once, then dispatches them: those that wait for
// a handler slot are owned meanwhile.
func (c *Consumer) dispatchAll(ctx context.Context, stream string, msgs []redis.XMessage, deliveries func(id string) int64) {
	var skipped []string
	mine := make([]bool, len(msgs))
	for i, m := range msgs {
		if c.cfg.Skip != nil && m.Values != nil && c.cfg.Skip(m.Values) {
			skipped = append(skipped, m.ID)
			continue
		}
		mine[i] = c.own(stream, m.ID)
	}
	if len(skipped) > 0 {
		if err := c.rdb.XAck(ctx, stream, c.group, skipped...).Err(); err != nil && ctx.Err() == nil {
			c.log.Warn("ack of skipped entries failed; they come again", "stream", stream, "err", err)
		}
	}
	var batch []*Delivery
	for i, m := range msgs {
		if !mine[i] {
			continue
		}
		if d := c.admit(ctx, stream, m, deliveries(m.ID)); d != nil {
			batch = append(batch, d)
		}
	}
	if c.batched {
		c.dispatch(ctx, batch)
		return
	}
	for _, d := range batch {
		c.dispatch(ctx, []*Delivery{d})
	}
}

// admit returns the delivery of an owned entry, unless it was delivered
// too often: then it is dead-lettered, and admit returns nil.
func (c *Consumer) admit(ctx context.Context, stream string, m redis.XMessage, deliveries int64) *Delivery {
	if deliveries > c.cfg.MaxDeliveries && !c.unbounded(m) {
		c.deadLetterEntry(ctx, stream, m, deliveries-1, fmt.Sprintf("delivered %d times without success", deliveries-1))
		c.owned.Delete(inflightKey(stream, m.ID))
		return nil
	}
	if deliveries > 1 && c.cfg.Observer != nil {
		c.cfg.Observer.Redelivered(c.group, stream, deliveries)
	}
	return &Delivery{Stream: stream, Group: c.group, ID: m.ID, Values: m.Values, Deliveries: deliveries}
}

// dispatch runs the handler of owned entries of one stream, as one of the
// handler runs of a bounded pool of goroutines. Handlers run on a context
// that outlives shutdown, bounded by HandlerTimeout, so shutdown waits for
// them instead of cutting them in half.
func (c *Consumer) dispatch(ctx context.Context, ds []*Delivery) {
	if len(ds) == 0 {
		return
	}
	disown := func() {
		for _, d := range ds {
			c.owned.Delete(inflightKey(d.Stream, d.ID))
		}
	}
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		disown()
		return
	}
	c.wg.Go(func() {
		defer func() {
			<-c.sem
			disown()
			select {
			case c.freed <- struct{}{}:
			default:
			}
		}()
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.HandlerTimeout)
		defer cancel()
		c.handle(hctx, ds)
	})
}

// unbounded reports whether the delivery limit spares an entry.
func (c *Consumer) unbounded(m redis.XMessage) bool {
	return c.cfg.Unbounded != nil && m.Values != nil && c.cfg.Unbounded(m.Values)
}

// inflightKey names an entry among all the streams a consumer reads: two
// streams can hand out the same entry ID in the same millisecond.
func inflightKey(stream, id string) string { return stream + " " + id }

// handle runs the handler on entries of one stream and settles each by its
// own outcome: the successes acked in one command (those the handler did
// not ack itself), poison dead-lettered, failures left for a redelivery.
func (c *Consumer) handle(ctx context.Context, ds []*Delivery) {
	errs := c.handler(ctx, ds)
	var acks []string
	for i, d := range ds {
		err := errs[i]
		switch {
		case err == nil:
			if !d.acked {
				acks = append(acks, d.ID)
			}
		case errors.Is(err, ErrPoison):
			c.deadLetterEntry(ctx, d.Stream, redis.XMessage{ID: d.ID, Values: d.Values}, d.Deliveries, err.Error())
		default:
			c.retrying.Store(d.Stream, struct{}{})
			if IsFull(err) {
				c.uncount(ctx, d)
			}
			lvl := slog.LevelWarn
			var temp interface{ Temporary() bool }
			if errors.As(err, &temp) && temp.Temporary() {
				lvl = slog.LevelDebug // expected to heal on a redelivery
			}
			c.log.Log(ctx, lvl, "handler failed; will redeliver", "stream", d.Stream, "id", d.ID,
				"deliveries", d.Deliveries, "err", err)
		}
	}
	if len(acks) > 0 {
		if err := c.rdb.XAck(ctx, ds[0].Stream, c.group, acks...).Err(); err != nil {
			c.log.Warn("ack failed", "stream", ds[0].Stream, "ids", acks, "err", err)
		}
	}
}

// IsFull reports whether err is Redis refusing a write because it is full
// (OOM: used memory over maxmemory, under the noeviction policy).
func IsFull(err error) bool { return redis.HasErrorPrefix(err, "OOM") }

// uncount takes back the delivery of an entry whose handler found Redis
// full: the delivery limit counts failures of the entry, not of Redis, so
// an entry waits out a full Redis however long it lasts. Its delivery
// count, which Redis keeps, is set back (XCLAIM … JUSTID RETRYCOUNT, which
// a full Redis still runs), and it is redelivered after RetryMax, until
// memory frees. If setting it back fails, the delivery counts.
func (c *Consumer) uncount(ctx context.Context, d *Delivery) {
	err := c.rdb.Do(ctx, "XCLAIM", d.Stream, c.group, c.cfg.Name, 0, d.ID, "JUSTID", "RETRYCOUNT", d.Deliveries-1).Err()
	if err != nil {
		c.log.Warn("a delivery that found Redis full counts toward the limit", "stream", d.Stream, "id", d.ID, "err", err)
	}
	c.full.Store(inflightKey(d.Stream, d.ID), struct{}{})
}

// observeRead tells the observer how a read of new entries from streams
// went; a read cut short by shutdown or a missing group (set up again)
// tells nothing.
func (c *Consumer) observeRead(ctx context.Context, streams []string, err error) {
	if c.cfg.Observer == nil || ctx.Err() != nil || redis.HasErrorPrefix(err, "NOGROUP") {
		return
	}
	if errors.Is(err, redis.Nil) {
		err = nil
	}
	c.cfg.Observer.Read(c.group, streams, err)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
