package choreography

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/choreography/stream"
)

// Service names. Each service publishes to its own stream and consumes
// through a consumer group named after itself.
const (
	ServiceOrder     = "order"
	ServiceInventory = "inventory"
	// ServiceFraud checks an order for fraud between its reservation and
	// its charge, when the order's plan has the check (see Saga.Steps).
	ServiceFraud    = "fraud"
	ServicePayment  = "payment"
	ServiceShipping = "shipping"
	// ServiceNotify tells customers how their orders ended. It only
	// consumes (the order service's terminal events) and publishes nothing.
	ServiceNotify = "notify"
)

// Services lists every service, in saga order, then the subscribers of
// the order's end.
var Services = []string{ServiceOrder, ServiceInventory, ServiceFraud, ServicePayment, ServiceShipping, ServiceNotify}

// subscriptions says which services' streams each service consumes.
var subscriptions = map[string][]string{
	ServiceOrder:     {ServiceInventory, ServiceShipping},
	ServiceInventory: {ServiceOrder, ServicePayment, ServiceFraud},
	ServiceFraud:     {ServiceInventory},
	ServicePayment:   {ServiceInventory, ServiceShipping, ServiceFraud},
	ServiceShipping:  {ServicePayment},
	ServiceNotify:    {ServiceOrder},
}

// Entry field names.
const (
	fieldType  = "type"
	fieldEvent = "event"
)

// Bus names the streams and records of the choreography's key layout and
// sets the streams up. Every order lives in one partition (see
// activities.Layout); each service has one stream per partition, and each
// partition a dead-letter stream, all under the partition's hash tag:
//
//	ordersaga:chor:{p3}:stream:<service>     what <service> published
//	ordersaga:chor:{p3}:stream:deadletter    entries no handler could process
//	ordersaga:chor:{p3}:order:<id>           the order service's record
//	ordersaga:chor:{p3}:history:<id>         the order's events, in order
//	ordersaga:chor:{p3}:orders               the partition's orders, by placement time
//	ordersaga:chor:{p3}:settled              totals of its settled orders
//	ordersaga:chor:{p3}:done                 markers of its settled orders
//
// so a handler's commit (dedupe, state change, next event, history, ack)
// is one script in one slot, on one Redis as on a Redis Cluster.
type Bus struct {
	Redis  redis.UniversalClient
	Prefix string

	layout    atomic.Pointer[activities.Layout]
	pinned    bool // the number of partitions was given: Redis must agree
	layoutErr error
	checked   atomic.Bool
}

// Option tunes a Bus or a Node.
type Option func(*options)

type options struct {
	partitions int
	pinned     bool
}

// WithPartitions sets the number of partitions. Every process of a
// deployment must use the same: Setup, RunService and the engine refuse
// another than the one recorded in Redis. Without it, a bus uses the
// number recorded in Redis (activities.DefaultPartitionsFor when none is,
// which it then records); so does WithPartitions(0).
func WithPartitions(n int) Option {
	return func(o *options) {
		if n != 0 {
			o.partitions, o.pinned = n, true
		}
	}
}

// NewBus returns the bus of the choreography engine's key prefix.
func NewBus(rdb redis.UniversalClient, opts ...Option) *Bus {
	o := options{}
	for _, opt := range opts {
		opt(&o)
	}
	b := &Bus{Redis: rdb, Prefix: activities.ChoreographyPrefix, pinned: o.pinned}
	if !o.pinned {
		o.partitions = activities.DefaultPartitionsFor(rdb)
	}
	lay, err := activities.NewLayout(b.Prefix, o.partitions)
	b.layout.Store(&lay)
	b.layoutErr = err
	return b
}

// Layout is the bus's key layout. Until the bus has checked it against
// Redis (Setup, or any call with a context), a bus built without
// WithPartitions assumes activities.DefaultPartitionsFor its client.
func (b *Bus) Layout() activities.Layout { return *b.layout.Load() }

// check makes sure, once, that the bus's number of partitions is the one
// recorded in Redis (recording it when none is); a bus built without
// WithPartitions takes the recorded one. It records the plan of new orders
// too when none is (see activities.EnsureSagaSteps): the latest on a
// deployment it finds with no partitions recorded.
func (b *Bus) check(ctx context.Context) error {
	if b.layoutErr != nil {
		return b.layoutErr
	}
	if b.checked.Load() {
		return nil
	}
	n := b.Layout().Partitions
	recorded, known, err := activities.LookupPartitions(ctx, b.Redis, b.Prefix)
	if err != nil {
		return err
	}
	if !b.pinned {
		n = recorded
	}
	lay, err := activities.EnsurePartitions(ctx, b.Redis, b.Prefix, n)
	if err != nil {
		return err
	}
	if err := activities.EnsureSagaSteps(ctx, b.Redis, b.Prefix, !known); err != nil {
		return err
	}
	b.layout.Store(&lay)
	b.checked.Store(true)
	return nil
}

// StreamOf is the stream a service publishes to in partition p.
func (b *Bus) StreamOf(p int, service string) string {
	return b.Layout().PartitionPrefix(p) + "stream:" + service
}

// StreamFor is the stream a service publishes an order's events to.
func (b *Bus) StreamFor(orderID, service string) string {
	return b.StreamOf(b.Layout().Partition(orderID), service)
}

// DeadLetterStream is partition p's dead-letter stream: entries of its
// streams that no handler could process, with the reason.
func (b *Bus) DeadLetterStream(p int) string {
	return b.Layout().PartitionPrefix(p) + "stream:deadletter"
}

// DeadLetterStreamFor is the dead-letter stream of an order's partition.
func (b *Bus) DeadLetterStreamFor(orderID string) string {
	return b.DeadLetterStream(b.Layout().Partition(orderID))
}

// HistoryKey is the list of an order's events.
func (b *Bus) HistoryKey(orderID string) string {
	return b.Layout().OrderPrefix(orderID) + "history:" + orderID
}

func (b *Bus) orderKey(id string) string     { return b.Layout().OrderPrefix(id) + "order:" + id }
func (b *Bus) ordersKey(p int) string        { return b.Layout().PartitionPrefix(p) + "orders" }
func (b *Bus) settledKey(p int) string       { return b.Layout().SettledKey(p) }
func (b *Bus) doneKey(p int) string          { return b.Layout().DoneKey(p) }
func (b *Bus) orderDoneKey(id string) string { return b.doneKey(b.Layout().Partition(id)) }
func (b *Bus) orderSettledKey(id string) string {
	return b.settledKey(b.Layout().Partition(id))
}

// StreamsOf lists a service's stream of every partition.
func (b *Bus) StreamsOf(service string) []string {
	out := make([]string, b.Layout().Partitions)
	for p := range out {
		out[p] = b.StreamOf(p, service)
	}
	return out
}

// Streams lists every service stream of every partition: the streams of
// the services that publish (see Publishers).
func (b *Bus) Streams() []string {
	var out []string
	for p := range b.Layout().Partitions {
		for _, svc := range Publishers() {
			out = append(out, b.StreamOf(p, svc))
		}
	}
	return out
}

// Publishers lists the services some service consumes from, in the order
// of Services: those that publish events (the notify service does not).
func Publishers() []string {
	var out []string
	for _, svc := range Services {
		for _, subs := range subscriptions {
			if slices.Contains(subs, svc) {
				out = append(out, svc)
				break
			}
		}
	}
	return out
}

// Setup checks the number of partitions against the one recorded in Redis
// (recording it when none is) and creates every service's consumer groups,
// idempotently. Groups start at the beginning of their stream, so a
// service that has never run still sees every event published before it
// started.
func (b *Bus) Setup(ctx context.Context) error {
	if err := b.check(ctx); err != nil {
		return err
	}
	for _, svc := range Services {
		streams, _ := b.streamsOf(svc)
		if err := stream.CreateGroups(ctx, b.Redis, svc, streams...); err != nil {
			return err
		}
	}
	return nil
}

// streamsOf lists the streams a service consumes, partition by partition,
// and maps each to its partition's dead-letter stream.
func (b *Bus) streamsOf(service string) ([]string, stream.DeadLetterFor) {
	var out []string
	dead := map[string]string{}
	for p := range b.Layout().Partitions {
		for _, src := range subscriptions[service] {
			s := b.StreamOf(p, src)
			out = append(out, s)
			dead[s] = b.DeadLetterStream(p)
		}
	}
	return out, func(s string) string { return dead[s] }
}

// Delivery is one event handed to a service's handler.
type Delivery struct {
	*stream.Delivery
	Event *Envelope
	// ctx, when set, is the event's own context within a batch: its span,
	// whose trace context the events it causes carry.
	ctx context.Context
}

// context is the event's own context, else ctx.
func (d *Delivery) context(ctx context.Context) context.Context {
	if d.ctx != nil {
		return d.ctx
	}
	return ctx
}

// Handler processes one event. A nil error means the work is committed (and
// acked); an error leaves the entry pending, to be redelivered with backoff.
type Handler func(ctx context.Context, d *Delivery) error

// BatchHandler processes the events of one read together and returns one
// error per delivery, each meaning for its event what a Handler's means.
type BatchHandler func(ctx context.Context, ds []*Delivery) []error

// ErrPoison marks an entry that can never be processed: it is dead-lettered at once.
var ErrPoison = stream.ErrPoison

// ConsumerConfig tunes a service's consumer; see stream.Config.
type ConsumerConfig = stream.Config

// NewConsumer returns a consumer for a service, over every partition's
// streams it subscribes to, that decodes each entry and hands it to the
// handler of its event type. An entry that does not decode is
// dead-lettered; one of a type the service does not react to is acked.
func (b *Bus) NewConsumer(service string, handlers map[EventType]Handler, cfg ConsumerConfig, log *slog.Logger) (*stream.Consumer, error) {
	g, cfg, err := b.consumerOf(service, func(t EventType) bool { _, ok := handlers[t]; return ok }, cfg)
	if err != nil {
		return nil, err
	}
	dispatch := func(ctx context.Context, sd *stream.Delivery) error {
		d, err := decode(sd)
		if err != nil {
			return err
		}
		h, ok := handlers[d.Event.Type]
		if !ok {
			return nil // not an event this service reacts to
		}
		return h(ctx, d)
	}
	return stream.NewConsumer(b.Redis, g, dispatch, cfg, log.With("service", service)), nil
}

// NewBatchConsumer is NewConsumer with one handler for the events of the
// given types, handed over together as one read returned them.
func (b *Bus) NewBatchConsumer(service string, types []EventType, h BatchHandler, cfg ConsumerConfig, log *slog.Logger) (*stream.Consumer, error) {
	g, cfg, err := b.consumerOf(service, func(t EventType) bool { return slices.Contains(types, t) }, cfg)
	if err != nil {
		return nil, err
	}
	batch := func(ctx context.Context, sds []*stream.Delivery) []error {
		errs := make([]error, len(sds))
		var ds []*Delivery
		var at []int
		for i, sd := range sds {
			d, err := decode(sd)
			switch {
			case err != nil:
				errs[i] = err
			case slices.Contains(types, d.Event.Type):
				ds, at = append(ds, d), append(at, i)
			}
		}
		if len(ds) > 0 {
			for k, err := range h(ctx, ds) {
				errs[at[k]] = err
			}
		}
		return errs
	}
	return stream.NewBatchConsumer(b.Redis, g, batch, cfg, log.With("service", service)), nil
}

// decode reads the event of an entry; one that does not decode is poison.
func decode(sd *stream.Delivery) (*Delivery, error) {
	ev, err := Decode([]byte(sd.Field(fieldEvent)))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPoison, err)
	}
	return &Delivery{Delivery: sd, Event: ev}, nil
}

// consumerOf is what a service's consumer reads (every partition's streams
// it subscribes to) and its config: an event of the catalogue the service
// does not react to is acked unread, anything else is decoded, so that
// poison is dead-lettered; a compensation is never dead-lettered for
// failing (see stream.Config.Unbounded).
func (b *Bus) consumerOf(service string, reacts func(EventType) bool, cfg ConsumerConfig) (stream.Group, ConsumerConfig, error) {
	if _, ok := subscriptions[service]; !ok {
		return stream.Group{}, cfg, fmt.Errorf("unknown service %q (want one of %s)", service, strings.Join(Services, ", "))
	}
	if cfg.Name == "" {
		cfg.Name = service
	}
	cfg.Tag = catalogueTag
	cfg.Skip = func(v map[string]any) bool {
		t, _ := v[fieldType].(string)
		return !reacts(EventType(t)) && EventType(t).Known()
	}
	// A compensation must finish: it is retried until it succeeds, never
	// dead-lettered for a failure; a refusal ends it, poison still goes.
	cfg.Unbounded = func(v map[string]any) bool {
		t, _ := v[fieldType].(string)
		return reactions[service][EventType(t)].op.IsCompensation()
	}
	streams, deadLetter := b.streamsOf(service)
	return stream.Group{Name: service, Streams: streams, DeadLetter: deadLetter}, cfg, nil
}

// Trim deletes the entries of every service stream that every group has
// acked and that are older than retention (see stream.Trim), and returns
// how many it removed.
func (b *Bus) Trim(ctx context.Context, retention time.Duration) (int64, error) {
	if err := b.check(ctx); err != nil {
		return 0, err
	}
	var removed int64
	for _, s := range b.Streams() {
		n, err := stream.Trim(ctx, b.Redis, s, retention)
		removed += n
		if err != nil {
			return removed, err
		}
	}
	return removed, nil
}
