package choreography

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/choreography/stream"
)

// DeadLetter is one entry of the dead-letter stream.
type DeadLetter struct {
	ID         string    `json:"id"`         // ID in the dead-letter stream
	Stream     string    `json:"stream"`     // where the entry came from
	Group      string    `json:"group"`      // the consumer group that gave up on it
	EntryID    string    `json:"entry_id"`   // its ID in the origin stream
	Reason     string    `json:"reason"`     // why it was dead-lettered
	Deliveries int64     `json:"deliveries"` // how often it was delivered
	Time       time.Time `json:"time"`       // when it was dead-lettered
	Type       string    `json:"type"`       // its event type, if it had one
	Event      string    `json:"event"`      // the raw event
}

// DeadLetters lists the dead-letter stream, oldest first, at most limit entries (0 = all).
func (b *Bus) DeadLetters(ctx context.Context, limit int64) ([]DeadLetter, error) {
	dl, err := stream.DeadLetters(ctx, b.Redis, b.DeadLetterStream(), limit)
	if err != nil {
		return nil, err
	}
	out := make([]DeadLetter, len(dl))
	for i, d := range dl {
		out[i] = DeadLetter{
			ID: d.ID, Stream: d.Stream, Group: d.Group, EntryID: d.EntryID, Reason: d.Reason,
			Deliveries: d.Deliveries, Time: d.Time, Type: d.Values[fieldType], Event: d.Values[fieldEvent],
		}
	}
	return out, nil
}

// Redrive puts dead-lettered entries back on the stream they came from (all
// of them when ids is empty) and removes them from the dead-letter stream,
// each in one transaction. Every group of that stream sees the entry again;
// handlers are idempotent, so those that had processed it only ack it. It
// returns the redriven entries; an unknown ID is an error and nothing after
// it is redriven.
func (b *Bus) Redrive(ctx context.Context, ids ...string) ([]DeadLetter, error) {
	all, err := b.DeadLetters(ctx, 0)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]DeadLetter, len(all))
	for _, d := range all {
		byID[d.ID] = d
	}
	var todo []DeadLetter
	if len(ids) == 0 {
		todo = all
	}
	for _, id := range ids {
		d, ok := byID[id]
		if !ok {
			return nil, fmt.Errorf("no dead letter %s", id)
		}
		todo = append(todo, d)
	}
	var done []DeadLetter
	for _, d := range todo {
		if d.Stream == "" {
			return done, fmt.Errorf("dead letter %s does not say where it came from", d.ID)
		}
		// An event of an order that no longer exists (settled, or reset)
		// would redo work nobody accounts for any more.
		if ev, err := Decode([]byte(d.Event)); err == nil {
			n, err := b.Redis.Exists(ctx, b.orderKey(ev.OrderID)).Result()
			if err != nil {
				return done, fmt.Errorf("redrive %s: %w", d.ID, err)
			}
			if n == 0 {
				return done, fmt.Errorf("dead letter %s is an event of order %s, which is unknown or already settled: not redriving it", d.ID, ev.OrderID)
			}
		}
		_, err := b.Redis.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.XAdd(ctx, &redis.XAddArgs{Stream: d.Stream, Values: []any{fieldType, d.Type, fieldEvent, d.Event}})
			p.XDel(ctx, b.DeadLetterStream(), d.ID)
			return nil
		})
		if err != nil {
			return done, fmt.Errorf("redrive %s: %w", d.ID, err)
		}
		done = append(done, d)
	}
	return done, nil
}
