package choreography

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// AddDeadLetter puts an entry of stream in the dead-letter stream as group
// would have dead-lettered it, for tests of redrive.
func (b *Bus) AddDeadLetter(ctx context.Context, stream, group string, values map[string]any) error {
	fields := []any{"stream", stream, "group", group, "id", "1-1", "reason", "test",
		"deliveries", "1", "time", time.Now().UTC().Format(time.RFC3339Nano)}
	for k, v := range values {
		fields = append(fields, k, v)
	}
	raw, _ := values[fieldEvent].(string)
	ev, err := Decode([]byte(raw))
	if err != nil {
		return err
	}
	if err := b.Redis.XAdd(ctx, &redis.XAddArgs{Stream: b.DeadLetterStreamFor(ev.OrderID), Values: fields}).Err(); err != nil {
		return fmt.Errorf("add dead letter: %w", err)
	}
	return nil
}

// SettledKey is partition p's settled totals.
func (b *Bus) SettledKey(p int) string { return b.settledKey(p) }
