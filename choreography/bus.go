package choreography

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
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

// Setup creates every service's consumer groups, idempotently. Groups start
// at the beginning of their stream, so a service that has never run still
// sees every event published before it started.
func (b *Bus) Setup(ctx context.Context) error {
	for _, svc := range Services {
		if err := stream.CreateGroups(ctx, b.Redis, svc, b.streamsOf(svc)...); err != nil {
			return err
		}
	}
	return nil
}

// streamsOf lists the streams a service consumes.
func (b *Bus) streamsOf(service string) []string {
	var out []string
	for _, src := range subscriptions[service] {
		out = append(out, b.Stream(src))
	}
	return out
}

// Delivery is one event handed to a service's handler.
type Delivery struct {
	*stream.Delivery
	Event *Envelope
}

// Handler processes one event. A nil error means the work is committed (and
// acked); an error leaves the entry pending, to be redelivered with backoff.
type Handler func(ctx context.Context, d *Delivery) error

// ErrPoison marks an entry that can never be processed: it is dead-lettered at once.
var ErrPoison = stream.ErrPoison

// ConsumerConfig tunes a service's consumer; see stream.Config.
type ConsumerConfig = stream.Config

// NewConsumer returns a consumer for a service that decodes each entry and
// hands it to the handler of its event type. An entry that does not decode
// is dead-lettered; one of a type the service does not react to is acked.
func (b *Bus) NewConsumer(service string, handlers map[EventType]Handler, cfg ConsumerConfig, log *slog.Logger) (*stream.Consumer, error) {
	if _, ok := subscriptions[service]; !ok {
		return nil, fmt.Errorf("unknown service %q (want one of %s)", service, strings.Join(Services, ", "))
	}
	if cfg.Name == "" {
		cfg.Name = service
	}
	dispatch := func(ctx context.Context, sd *stream.Delivery) error {
		ev, err := Decode([]byte(sd.Field(fieldEvent)))
		if err != nil {
			return fmt.Errorf("%w: %v", ErrPoison, err)
		}
		h, ok := handlers[ev.Type]
		if !ok {
			return nil // not an event this service reacts to
		}
		return h(ctx, &Delivery{Delivery: sd, Event: ev})
	}
	return stream.NewConsumer(b.Redis, service, b.streamsOf(service), stream.OneDeadLetter(b.DeadLetterStream()), dispatch, cfg,
		log.With("service", service)), nil
}

// Trim deletes the entries of every service stream that every group has
// acked and that are older than retention (see stream.Trim), and returns
// how many it removed.
func (b *Bus) Trim(ctx context.Context, retention time.Duration) (int64, error) {
	var removed int64
	for _, svc := range Services {
		n, err := stream.Trim(ctx, b.Redis, b.Stream(svc), retention)
		removed += n
		if err != nil {
			return removed, err
		}
	}
	return removed, nil
}

// Streams lists every service stream.
func (b *Bus) Streams() []string {
	var out []string
	for _, svc := range Services {
		out = append(out, b.Stream(svc))
	}
	return out
}
