package choreography

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/activities"
)

// Service names. Each service publishes to its own stream and consumes
// through a consumer group named after itself.
const (
	ServiceOrder     = "order"
	ServiceInventory = "inventory"
	ServicePayment   = "payment"
	ServiceShipping  = "shipping"
)

// Services lists every service, in saga order.
var Services = []string{ServiceOrder, ServiceInventory, ServicePayment, ServiceShipping}

// subscriptions says which services' streams each service consumes.
var subscriptions = map[string][]string{
	ServiceOrder:     {ServiceInventory, ServiceShipping},
	ServiceInventory: {ServiceOrder, ServicePayment},
	ServicePayment:   {ServiceInventory, ServiceShipping},
	ServiceShipping:  {ServicePayment},
}

// Entry field names.
const (
	fieldType  = "type"
	fieldEvent = "event"
)

// Bus names the streams of one key prefix and sets them up.
type Bus struct {
	Redis  redis.UniversalClient
	Prefix string
}

// NewBus returns the bus for the choreography engine's key prefix.
func NewBus(rdb redis.UniversalClient) *Bus {
	return &Bus{Redis: rdb, Prefix: activities.ChoreographyPrefix}
}

// Stream is the stream a service publishes to.
func (b *Bus) Stream(service string) string { return b.Prefix + "stream:" + service }

// orderKey is the order service's record of an order.
func (b *Bus) orderKey(id string) string { return b.Prefix + "order:" + id }

// DeadLetterStream holds entries no handler could process, with the reason.
func (b *Bus) DeadLetterStream() string { return b.Prefix + "stream:deadletter" }

// Setup creates every consumer group, idempotently. Groups start at the
// beginning of their stream, so a service that has never run still sees
// every event published before it started.
func (b *Bus) Setup(ctx context.Context) error {
	for _, svc := range Services {
		for _, src := range subscriptions[svc] {
			err := b.Redis.XGroupCreateMkStream(ctx, b.Stream(src), svc, "0").Err()
			if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
				return fmt.Errorf("create group %s on %s: %w", svc, b.Stream(src), err)
			}
		}
	}
	return nil
}

// Delivery is one stream entry handed to a handler.
type Delivery struct {
	Stream     string
	Group      string
	ID         string
	Event      *Envelope
	Deliveries int64
	acked      bool
}

// Outbox returns an outbox that acks this delivery in the same atomic step
// as the handler's state change. The handler then needs no separate ack.
func (d *Delivery) Outbox(history string) *activities.Outbox {
	d.acked = true
	return &activities.Outbox{AckStream: d.Stream, AckGroup: d.Group, AckID: d.ID, History: history}
}

// MarkAcked records that the handler acked the delivery itself.
func (d *Delivery) MarkAcked() { d.acked = true }

// Handler processes one delivery. A nil error means the work is committed
// (and acked); an error leaves the entry pending, to be redelivered with backoff.
type Handler func(ctx context.Context, d *Delivery) error

// ErrPoison marks an entry that can never be processed: it is dead-lettered at once.
var ErrPoison = errors.New("poison entry")

// ConsumerConfig tunes a consumer. Zero values take the defaults.
type ConsumerConfig struct {
	Name        string        // consumer name within the group; stable across restarts
	BatchSize   int           // entries per read (default 64)
	Concurrency int           // handlers in flight (default 32)
	Block       time.Duration // how long one read waits for entries (default 500ms)
	// RetryBase and RetryMax bound the backoff between redeliveries of an
	// entry whose handler failed (defaults 50ms and 2s).
	RetryBase, RetryMax time.Duration
	// ClaimIdle is how long an entry of another consumer must sit idle
	// before this one takes it over with XAUTOCLAIM (default 30s).
	ClaimIdle time.Duration
	// MaxDeliveries: an entry delivered more often is dead-lettered (default 30).
	MaxDeliveries int64
	// HandlerTimeout bounds one handler run (default 5m30s, above the longest delay fault).
	HandlerTimeout time.Duration
}

func (c *ConsumerConfig) defaults() {
	if c.BatchSize <= 0 {
		c.BatchSize = 64
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 32
	}
	if c.Block <= 0 {
		c.Block = 500 * time.Millisecond
	}
	if c.RetryBase <= 0 {
		c.RetryBase = 50 * time.Millisecond
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 2 * time.Second
	}
	if c.ClaimIdle <= 0 {
		c.ClaimIdle = 30 * time.Second
	}
	if c.MaxDeliveries <= 0 {
		c.MaxDeliveries = 30
	}
	if c.HandlerTimeout <= 0 {
		c.HandlerTimeout = 5*time.Minute + 30*time.Second
	}
}

// Consumer reads one service's subscribed streams through its group.
type Consumer struct {
	bus      *Bus
	group    string
	streams  []string
	handlers map[EventType]Handler
	cfg      ConsumerConfig
	log      *slog.Logger

	inflight sync.Map     // inflightKey(stream, entry ID) -> struct{}
	running  atomic.Int64 // handlers in flight
	retrying atomic.Int64 // own entries waiting for a redelivery, as last seen
	sem      chan struct{}
	wg       sync.WaitGroup
}

// NewConsumer returns a consumer for a service with its handlers.
func (b *Bus) NewConsumer(service string, handlers map[EventType]Handler, cfg ConsumerConfig, log *slog.Logger) (*Consumer, error) {
	srcs, ok := subscriptions[service]
	if !ok {
		return nil, fmt.Errorf("unknown service %q (want one of %s)", service, strings.Join(Services, ", "))
	}
	cfg.defaults()
	if cfg.Name == "" {
		cfg.Name = service
	}
	c := &Consumer{
		bus: b, group: service, handlers: handlers, cfg: cfg,
		log: log.With("service", service, "consumer", cfg.Name),
		sem: make(chan struct{}, cfg.Concurrency),
	}
	for _, s := range srcs {
		c.streams = append(c.streams, b.Stream(s))
	}
	return c, nil
}

// Run consumes until ctx is done, then waits for handlers in flight to
// finish: an entry is either fully processed or left pending, never half.
func (c *Consumer) Run(ctx context.Context) error {
	defer c.wg.Wait()
	if err := c.bus.Setup(ctx); err != nil {
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
		// While entries wait for a redelivery, wake up often enough to
		// redeliver them on time.
		block := c.cfg.Block
		if (c.retrying.Load() > 0 || c.hasInflight()) && block > c.cfg.RetryBase {
			block = c.cfg.RetryBase
		}
		res, err := c.bus.Redis.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: c.group, Consumer: c.cfg.Name, Streams: streams,
			Count: int64(c.cfg.BatchSize), Block: block,
		}).Result()
		if err != nil {
			if errors.Is(err, redis.Nil) || ctx.Err() != nil {
				continue
			}
			if strings.HasPrefix(err.Error(), "NOGROUP") {
				_ = c.bus.Setup(ctx)
				continue
			}
			c.log.Warn("read failed; retrying", "err", err)
			sleep(ctx, time.Second)
			continue
		}
		for _, s := range res {
			for _, m := range s.Messages {
				c.dispatch(ctx, s.Stream, m, 1)
			}
		}
	}
	return nil
}

func (c *Consumer) hasInflight() bool { return c.running.Load() > 0 }

// drainOwnPending re-reads entries delivered to this consumer name but not acked.
func (c *Consumer) drainOwnPending(ctx context.Context) error {
	for _, stream := range c.streams {
		start := "0"
		for {
			res, err := c.bus.Redis.XReadGroup(ctx, &redis.XReadGroupArgs{
				Group: c.group, Consumer: c.cfg.Name, Streams: []string{stream, start},
				Count: int64(c.cfg.BatchSize),
			}).Result()
			if err != nil && strings.HasPrefix(err.Error(), "NOGROUP") {
				// The stream was deleted under us (a reset): set it up again;
				// a new group has nothing pending for this consumer.
				if err := c.bus.Setup(ctx); err != nil {
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
					_ = c.bus.Redis.XAck(ctx, stream, c.group, m.ID).Err()
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
		pend, err := c.bus.Redis.XPendingExt(ctx, &redis.XPendingExtArgs{
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
			if p.Idle < c.backoff(p.RetryCount) {
				waiting++
				continue
			}
			if p.RetryCount >= c.cfg.MaxDeliveries {
				c.deadLetterByID(ctx, stream, p.ID, p.RetryCount, fmt.Sprintf("delivered %d times without success", p.RetryCount))
				continue
			}
			msgs, err := c.bus.Redis.XClaim(ctx, &redis.XClaimArgs{
				Stream: stream, Group: c.group, Consumer: c.cfg.Name,
				MinIdle: c.backoff(p.RetryCount), Messages: []string{p.ID},
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
		for i := 0; i < 10; i++ {
			msgs, next, err := c.bus.Redis.XAutoClaim(ctx, &redis.XAutoClaimArgs{
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
	p, err := c.bus.Redis.XPendingExt(ctx, &redis.XPendingExtArgs{
		Stream: stream, Group: c.group, Start: id, End: id, Count: 1,
	}).Result()
	if err != nil || len(p) == 0 {
		return 1
	}
	return p[0].RetryCount
}

// backoff is how long an entry delivered n times waits before the next try.
func (c *Consumer) backoff(n int64) time.Duration {
	d := c.cfg.RetryBase
	for i := int64(1); i < n && d < c.cfg.RetryMax; i++ {
		d *= 2
	}
	return min(d, c.cfg.RetryMax)
}

// dispatch runs the handler of one entry on a bounded pool of goroutines.
// Handlers run on a context that outlives shutdown, bounded by HandlerTimeout,
// so shutdown waits for them instead of cutting them in half.
func (c *Consumer) dispatch(ctx context.Context, stream string, m redis.XMessage, deliveries int64) {
	key := inflightKey(stream, m.ID)
	if _, loaded := c.inflight.LoadOrStore(key, struct{}{}); loaded {
		return
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
		c.handle(hctx, stream, m, deliveries)
	}()
}

// inflightKey names an entry among all the streams a consumer reads: two
// streams can hand out the same entry ID in the same millisecond.
func inflightKey(stream, id string) string { return stream + " " + id }

func (c *Consumer) handle(ctx context.Context, stream string, m redis.XMessage, deliveries int64) {
	raw, _ := m.Values[fieldEvent].(string)
	ev, err := Decode([]byte(raw))
	if err != nil {
		c.deadLetter(ctx, stream, m, deliveries, err.Error())
		return
	}
	h, ok := c.handlers[ev.Type]
	if !ok { // not an event this service reacts to
		if err := c.bus.Redis.XAck(ctx, stream, c.group, m.ID).Err(); err != nil {
			c.log.Warn("ack failed", "stream", stream, "id", m.ID, "err", err)
		}
		return
	}
	d := &Delivery{Stream: stream, Group: c.group, ID: m.ID, Event: ev, Deliveries: deliveries}
	err = safeCall(ctx, h, d)
	switch {
	case err == nil:
		if !d.acked {
			if err := c.bus.Redis.XAck(ctx, stream, c.group, m.ID).Err(); err != nil {
				c.log.Warn("ack failed", "stream", stream, "id", m.ID, "err", err)
			}
		}
	case errors.Is(err, ErrPoison):
		c.deadLetter(ctx, stream, m, deliveries, err.Error())
	default:
		lvl := slog.LevelWarn
		if activities.IsTransient(err) {
			lvl = slog.LevelDebug
		}
		c.retrying.Add(1)
		c.log.Log(ctx, lvl, "handler failed; will redeliver", "type", ev.Type, "order", ev.OrderID,
			"deliveries", deliveries, "err", err)
	}
}

// safeCall turns a handler panic into a poison error.
func safeCall(ctx context.Context, h Handler, d *Delivery) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: handler panicked: %v", ErrPoison, r)
		}
	}()
	return h(ctx, d)
}

// deadLetterScript moves an entry that is still pending to the dead-letter
// stream and acks it. Checking that it is pending makes it safe to run twice
// (a client retrying after a lost reply must not dead-letter it again).
// KEYS: stream, dead-letter stream. ARGV: group, entry ID, then the fields.
var deadLetterScript = redis.NewScript(`
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if #p == 0 then return 0 end
redis.call('XADD', KEYS[2], '*', unpack(ARGV, 3))
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
return 1
`)

// deadLetter moves an entry to the dead-letter stream with its reason and
// acks it, atomically, so the stream keeps flowing.
func (c *Consumer) deadLetter(ctx context.Context, stream string, m redis.XMessage, deliveries int64, reason string) {
	raw, _ := m.Values[fieldEvent].(string)
	typ, _ := m.Values[fieldType].(string)
	if raw == "" && typ == "" {
		raw = fmt.Sprint(m.Values)
	}
	err := deadLetterScript.Run(ctx, c.bus.Redis, []string{stream, c.bus.DeadLetterStream()},
		c.group, m.ID,
		"stream", stream, "group", c.group, "id", m.ID, "reason", reason,
		"deliveries", strconv.FormatInt(deliveries, 10), "time", time.Now().UTC().Format(time.RFC3339Nano),
		fieldType, typ, fieldEvent, raw,
	).Err()
	if err != nil {
		c.log.Error("dead-letter failed; entry stays pending", "stream", stream, "id", m.ID, "err", err)
		return
	}
	c.log.Warn("dead-lettered entry", "stream", stream, "id", m.ID, "reason", reason)
}

func (c *Consumer) deadLetterByID(ctx context.Context, stream, id string, deliveries int64, reason string) {
	msgs, err := c.bus.Redis.XRange(ctx, stream, id, id).Result()
	if err != nil {
		return
	}
	m := redis.XMessage{ID: id}
	if len(msgs) == 1 {
		m = msgs[0]
	}
	c.deadLetter(ctx, stream, m, deliveries, reason)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// Trim deletes entries that every consumer group of a stream has acked and
// that are older than retention. It never removes an entry a group has not
// read or not acked: the cut is the oldest pending entry or, with nothing
// pending, the last delivered one, of the slowest group. It returns how many
// entries it removed.
func (b *Bus) Trim(ctx context.Context, retention time.Duration) (int64, error) {
	var removed int64
	cutoff := time.Now().Add(-retention).UnixMilli()
	for _, svc := range Services {
		stream := b.Stream(svc)
		safe, err := b.safeTrimID(ctx, stream)
		if err != nil {
			return removed, err
		}
		if safe == "" {
			continue
		}
		minID := safe
		if ms, _, _ := strings.Cut(safe, "-"); parseInt(ms) > cutoff {
			minID = strconv.FormatInt(cutoff, 10) + "-0"
		}
		n, err := b.Redis.XTrimMinID(ctx, stream, minID).Result()
		if err != nil {
			return removed, fmt.Errorf("trim %s: %w", stream, err)
		}
		removed += n
	}
	return removed, nil
}

// safeTrimID is the smallest ID some group of the stream still needs, or ""
// when the stream has no group (then nothing is safe to trim).
func (b *Bus) safeTrimID(ctx context.Context, stream string) (string, error) {
	groups, err := b.Redis.XInfoGroups(ctx, stream).Result()
	if err != nil {
		if strings.Contains(err.Error(), "no such key") {
			return "", nil
		}
		return "", fmt.Errorf("groups of %s: %w", stream, err)
	}
	safe := ""
	for _, g := range groups {
		need := g.LastDeliveredID
		if g.Pending > 0 {
			p, err := b.Redis.XPending(ctx, stream, g.Name).Result()
			if err != nil {
				return "", fmt.Errorf("pending of %s on %s: %w", g.Name, stream, err)
			}
			need = p.Lower
		}
		if safe == "" || compareIDs(need, safe) < 0 {
			safe = need
		}
	}
	return safe, nil
}

func compareIDs(a, b string) int {
	am, as, _ := strings.Cut(a, "-")
	bm, bs, _ := strings.Cut(b, "-")
	if c := cmpInt(parseInt(am), parseInt(bm)); c != 0 {
		return c
	}
	return cmpInt(parseInt(as), parseInt(bs))
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func parseInt(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}
