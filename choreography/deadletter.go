package choreography

import (
	"context"
	_ "embed"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/choreography/stream"
)

//go:embed lua/redrive.lua
var redriveLua string

var redriveScript = redis.NewScript(redriveLua)

// DeadLetter is one entry of the dead-letter streams.
type DeadLetter struct {
	// ID names the dead letter among every partition's: its partition
	// and its ID in that partition's dead-letter stream (see DeadLetterID).
	ID         string    `json:"id"`
	Partition  int       `json:"partition"`
	Stream     string    `json:"stream"`     // where the entry came from
	Group      string    `json:"group"`      // the consumer group that gave up on it
	EntryID    string    `json:"entry_id"`   // its ID in the origin stream
	Reason     string    `json:"reason"`     // why it was dead-lettered
	Deliveries int64     `json:"deliveries"` // how often it was delivered
	Time       time.Time `json:"time"`       // when it was dead-lettered
	Type       string    `json:"type"`       // its event type, if it had one
	Event      string    `json:"event"`      // the raw event

	streamID string // its ID in its partition's dead-letter stream
}

// DeadLetterID names a dead letter across partitions, as "p3:1700000000000-0":
// each partition's dead-letter stream numbers its entries on its own, so
// their IDs repeat from one partition to the next.
func DeadLetterID(partition int, streamID string) string {
	return "p" + strconv.Itoa(partition) + ":" + streamID
}

// ParseDeadLetterID reads a dead letter's ID: "pN:MS-SEQ", or a bare
// stream ID "MS-SEQ" (partition -1: any partition where it is the only one).
func ParseDeadLetterID(s string) (partition int, streamID string, err error) {
	p, id, qualified := strings.Cut(s, ":")
	if !qualified {
		p, id = "", s
	}
	partition = -1
	if qualified {
		n, err := strconv.Atoi(strings.TrimPrefix(p, "p"))
		if err != nil || !strings.HasPrefix(p, "p") || n < 0 || strconv.Itoa(n) != p[1:] {
			return 0, "", fmt.Errorf("%q is not a dead letter ID (like p3:1700000000000-0)", s)
		}
		partition = n
	}
	if !stream.ValidID(id) {
		return 0, "", fmt.Errorf("%q is not a dead letter ID (like p3:1700000000000-0)", s)
	}
	return partition, id, nil
}

// DeadLetters lists the dead-letter streams of every partition, oldest
// first, at most limit entries (0 = all).
func (b *Bus) DeadLetters(ctx context.Context, limit int64) ([]DeadLetter, error) {
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	var out []DeadLetter
	for p := range b.Layout().Partitions {
		dl, err := stream.DeadLetters(ctx, b.Redis, b.DeadLetterStream(p), limit)
		if err != nil {
			return nil, err
		}
		for _, d := range dl {
			out = append(out, DeadLetter{
				ID: DeadLetterID(p, d.ID), Partition: p, streamID: d.ID, Stream: d.Stream, Group: d.Group, EntryID: d.EntryID, Reason: d.Reason,
				Deliveries: d.Deliveries, Time: d.Time, Type: d.Values[fieldType], Event: d.Values[fieldEvent],
			})
		}
	}
	slices.SortStableFunc(out, func(a, b DeadLetter) int {
		if c := stream.CompareIDs(a.streamID, b.streamID); c != 0 {
			return c
		}
		return a.Partition - b.Partition
	})
	if limit > 0 && int64(len(out)) > limit {
		out = out[:limit]
	}
	return out, nil
}

// DeadLetterCount counts the entries of every partition's dead-letter stream.
func (b *Bus) DeadLetterCount(ctx context.Context) (int64, error) {
	if err := b.check(ctx); err != nil {
		return 0, err
	}
	pipe := b.Redis.Pipeline()
	cmds := make([]*redis.IntCmd, b.Layout().Partitions)
	for p := range cmds {
		cmds[p] = pipe.XLen(ctx, b.DeadLetterStream(p))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, fmt.Errorf("count dead letters: %w", err)
	}
	var n int64
	for _, c := range cmds {
		n += c.Val()
	}
	return n, nil
}

// DeadLetterStreams describes where the dead letters are, for people.
func (b *Bus) DeadLetterStreams() string {
	n := b.Layout().Partitions
	if n == 1 {
		return b.DeadLetterStream(0)
	}
	return fmt.Sprintf("%s{…}:stream:deadletter (%d partitions)", b.Prefix, n)
}

// Redrive puts dead-lettered entries back on the stream they came from (all
// of them when ids is empty) and removes them from the dead-letter stream,
// each in one step that refuses an event of an order that is settled or
// unknown (its work would be redone with nobody accounting for it). Every
// group of that stream sees the entry again; handlers are idempotent, so
// those that had processed it only ack it. It returns the redriven entries;
// an unknown or ambiguous ID is an error and nothing is redriven.
func (b *Bus) Redrive(ctx context.Context, ids ...string) ([]DeadLetter, error) {
	all, err := b.DeadLetters(ctx, 0)
	if err != nil {
		return nil, err
	}
	todo := all
	if len(ids) > 0 {
		todo = nil
		for _, id := range ids {
			d, err := findDeadLetter(all, id)
			if err != nil {
				return nil, err
			}
			todo = append(todo, d)
		}
	}
	var done []DeadLetter
	for _, d := range todo {
		if err := b.redrive(ctx, d); err != nil {
			return done, err
		}
		done = append(done, d)
	}
	return done, nil
}

// findDeadLetter finds a dead letter by its ID; a bare stream ID names
// one only when no other partition has a dead letter of that ID.
func findDeadLetter(all []DeadLetter, id string) (DeadLetter, error) {
	p, sid, err := ParseDeadLetterID(id)
	if err != nil {
		return DeadLetter{}, err
	}
	var found []DeadLetter
	for _, d := range all {
		if d.streamID == sid && (p < 0 || d.Partition == p) {
			found = append(found, d)
		}
	}
	switch len(found) {
	case 0:
		return DeadLetter{}, fmt.Errorf("no dead letter %s", id)
	case 1:
		return found[0], nil
	}
	names := make([]string, len(found))
	for i, d := range found {
		names[i] = d.ID
	}
	return DeadLetter{}, fmt.Errorf("%d dead letters have the ID %s, one per partition: name one of %s", len(found), id, strings.Join(names, ", "))
}

// redrive puts one dead letter back, in one script.
func (b *Bus) redrive(ctx context.Context, d DeadLetter) error {
	if d.Stream == "" {
		return fmt.Errorf("dead letter %s does not say where it came from", d.ID)
	}
	pp := b.Layout().PartitionPrefix(d.Partition)
	if !strings.HasPrefix(d.Stream, pp) || !slices.Contains(b.Streams(), d.Stream) {
		return fmt.Errorf("dead letter %s came from %s, not a stream of its partition", d.ID, d.Stream)
	}
	orderID := ""
	if ev, err := Decode([]byte(d.Event)); err == nil {
		orderID = ev.OrderID
	}
	res, err := redriveScript.Run(ctx, b.Redis,
		[]string{b.DeadLetterStream(d.Partition), d.Stream, pp + "order:" + orderID, b.doneKey(d.Partition)},
		d.streamID, orderID).Text()
	if err != nil {
		return fmt.Errorf("redrive %s: %w", d.ID, err)
	}
	switch res {
	case "ok":
		return nil
	case "settled", "unknown":
		return fmt.Errorf("dead letter %s is an event of order %s, which is %s (already settled, or never placed): not redriving it", d.ID, orderID, res)
	}
	return fmt.Errorf("redrive %s: the dead letter is %s", d.ID, res)
}
