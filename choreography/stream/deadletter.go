package stream

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

//go:embed lua/deadletter.lua
var deadLetterLua string

var deadLetterScript = redis.NewScript(deadLetterLua)

// Fields a dead letter carries besides the entry's own.
const (
	dlStream     = "stream"
	dlGroup      = "group"
	dlID         = "id"
	dlReason     = "reason"
	dlDeliveries = "deliveries"
	dlTime       = "time"
)

// DeadLetter is one entry of a dead-letter stream.
type DeadLetter struct {
	ID         string            // its ID in the dead-letter stream
	Stream     string            // the stream it came from
	Group      string            // the consumer group that gave up on it
	EntryID    string            // its ID in the stream it came from
	Reason     string            // why it was dead-lettered
	Deliveries int64             // how often it was delivered
	Time       time.Time         // when it was dead-lettered
	Values     map[string]string // the entry's own fields
}

// deadLetterEntry moves an entry to its dead-letter stream with its reason
// and acks it, atomically, so the stream keeps flowing. The dead-letter
// stream keeps the newest DeadLetterMaxLen entries.
func (c *Consumer) deadLetterEntry(ctx context.Context, stream string, m redis.XMessage, deliveries int64, reason string) {
	args := []any{c.group, m.ID, c.cfg.DeadLetterMaxLen,
		dlStream, stream, dlGroup, c.group, dlID, m.ID, dlReason, reason,
		dlDeliveries, strconv.FormatInt(deliveries, 10), dlTime, time.Now().UTC().Format(time.RFC3339Nano),
	}
	for k, v := range m.Values {
		args = append(args, k, v)
	}
	err := deadLetterScript.Run(ctx, c.rdb, []string{stream, c.deadLetter(stream)}, args...).Err()
	if err != nil {
		c.log.Error("dead-letter failed; entry stays pending", "stream", stream, "id", m.ID, "err", err)
		return
	}
	c.log.Warn("dead-lettered entry", "stream", stream, "id", m.ID, "reason", reason)
	if c.cfg.Observer != nil {
		c.cfg.Observer.DeadLettered(c.group, stream, reason)
	}
}

// DeadLetters lists a dead-letter stream, oldest first, at most limit
// entries (0 = all).
func DeadLetters(ctx context.Context, rdb redis.UniversalClient, deadLetter string, limit int64) ([]DeadLetter, error) {
	var msgs []redis.XMessage
	var err error
	if limit > 0 {
		msgs, err = rdb.XRangeN(ctx, deadLetter, "-", "+", limit).Result()
	} else {
		msgs, err = rdb.XRange(ctx, deadLetter, "-", "+").Result()
	}
	if err != nil {
		return nil, fmt.Errorf("read dead letters: %w", err)
	}
	out := make([]DeadLetter, 0, len(msgs))
	for _, m := range msgs {
		d := DeadLetter{ID: m.ID, Values: map[string]string{}}
		for k, v := range m.Values {
			s, _ := v.(string)
			switch k {
			case dlStream:
				d.Stream = s
			case dlGroup:
				d.Group = s
			case dlID:
				d.EntryID = s
			case dlReason:
				d.Reason = s
			case dlDeliveries:
				d.Deliveries, _ = strconv.ParseInt(s, 10, 64)
			case dlTime:
				d.Time, _ = time.Parse(time.RFC3339Nano, s)
			default:
				d.Values[k] = s
			}
		}
		out = append(out, d)
	}
	return out, nil
}
