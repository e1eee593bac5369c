package choreography

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	streams "github.com/ordersaga/ordersaga/choreography/stream"
)

const (
	// StuckAfter is how long an order's last event must wait before
	// Diagnose looks for a service that does not consume it.
	StuckAfter = time.Second
	// LiveWithin: a running consumer reads at least this often (its reads
	// block for at most ConsumerConfig.Block, 500ms by default), so one idle
	// for longer is not running.
	LiveWithin = 3 * time.Second
)

// Diagnose says why an order does not move when a service that should react
// to its last event does not consume: the group of that service on the
// event's stream does not exist, has no consumer, or none of its consumers
// is running, i.e. has read the stream both since the event was published
// and within LiveWithin. It returns nothing for a terminal order, or
// when every service that should react is reading.
func (e *Engine) Diagnose(ctx context.Context, orderID string) ([]string, error) {
	if _, done, err := e.outcome(ctx, orderID); err != nil || done {
		return nil, err
	}
	n := e.node
	last, err := n.Bus.Redis.LIndex(ctx, n.historyKey(orderID), -1).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("diagnose order %s: %w", orderID, err)
	}
	ev, err := Decode([]byte(last))
	if err != nil {
		return nil, fmt.Errorf("diagnose order %s: %w", orderID, err)
	}
	waited := time.Since(ev.Time)
	if waited < StuckAfter {
		return nil, nil
	}
	var out []string
	for _, svc := range Services {
		hs, err := n.Handlers(svc)
		if _, reacts := hs[ev.Type]; err != nil || !reacts || !slices.Contains(subscriptions[svc], ev.Source) {
			continue
		}
		msg, err := e.idleGroup(ctx, ev.Source, n.Bus.StreamFor(orderID, ev.Source), svc, ev.Type, waited)
		if err != nil {
			return nil, err
		}
		out = append(out, msg...)
	}
	return out, nil
}

// idleGroup says what is wrong with the group of service svc on stream
// (source's stream of the order's partition) when an event of type t has
// waited there for waited: entries no consumer reads, or entries a consumer
// took and did not finish. A service's consumers are those of its group on
// source's stream of every partition: a consumer that reads one partition
// reads them all. A consumer's idle time counts from its last read that
// returned entries (Redis 7.0) or from its last read at all (7.2 and
// later); either way a running consumer that reads has taken what waits,
// and a consumer idle for longer than the event waited (or than
// LiveWithin) has not.
func (e *Engine) idleGroup(ctx context.Context, source, stream, svc string, t EventType, waited time.Duration) ([]string, error) {
	rdb := e.node.Bus.Redis
	start := fmt.Sprintf("start the %s service (`worker --services %s`, `make up` or `docker compose up -d %s`)", svc, svc, svc)
	consumers, grouped, err := e.consumersOf(ctx, source, svc)
	if err != nil {
		return nil, err
	}
	if !grouped {
		return []string{fmt.Sprintf("the %s service has never read the stream %s (it has no consumer group there); %s", svc, stream, start)}, nil
	}
	age := waited.Round(100 * time.Millisecond)
	if len(consumers) == 0 {
		return []string{fmt.Sprintf("no %s service consumes the stream %s: group %s has no consumer and the order's %s event has waited %s; %s",
			svc, stream, svc, t, age, start)}, nil
	}
	g, err := groupInfo(ctx, rdb, stream, svc)
	if err != nil {
		return nil, err
	}
	freshest := consumers[0].Idle
	var names []string
	for _, c := range consumers {
		freshest = min(freshest, c.Idle)
		names = append(names, fmt.Sprintf("%s idle %s, %d pending", c.Name, c.Idle.Round(time.Second), c.Pending))
	}
	if freshest < min(waited, LiveWithin) {
		return nil, nil
	}
	switch {
	case streams.CompareIDs(g.lastGenerated, g.LastDeliveredID) > 0: // unread, by entry IDs (see Backlog)
		return []string{fmt.Sprintf("the %s service is not consuming: group %s has unread entries on the stream %s and no consumer read any lately (%s); the order's %s event came %s ago; %s",
			svc, svc, stream, strings.Join(names, "; "), t, age, start)}, nil
	case g.Pending > 0:
		return []string{fmt.Sprintf("the %s service took the order's %s event %s ago and has not finished it (group %s on %s: %s); if the service stopped, %s",
			svc, t, age, svc, stream, strings.Join(names, "; "), start)}, nil
	}
	return nil, nil
}

// consumersOf returns the consumers of group svc over source's stream of
// every partition, each once, with its smallest idle time and all it has
// pending, and whether the group exists on any of them.
func (e *Engine) consumersOf(ctx context.Context, source, svc string) ([]redis.XInfoConsumer, bool, error) {
	b := e.node.Bus
	pipe := b.Redis.Pipeline()
	var cmds []*redis.XInfoConsumersCmd
	for _, s := range b.StreamsOf(source) {
		cmds = append(cmds, pipe.XInfoConsumers(ctx, s, svc))
	}
	_, _ = pipe.Exec(ctx) // errors are per stream, below
	byName := map[string]*redis.XInfoConsumer{}
	var names []string
	grouped := false
	for _, c := range cmds {
		cs, err := c.Result()
		if redis.HasErrorPrefix(err, "NOGROUP") || redis.HasErrorPrefix(err, "no such key") {
			continue
		}
		if err != nil {
			return nil, false, fmt.Errorf("consumers of group %s: %w", svc, err)
		}
		grouped = true
		for _, x := range cs {
			if m, ok := byName[x.Name]; ok {
				m.Idle, m.Pending = min(m.Idle, x.Idle), m.Pending+x.Pending
				continue
			}
			byName[x.Name] = &x
			names = append(names, x.Name)
		}
	}
	out := make([]redis.XInfoConsumer, len(names))
	for i, n := range names {
		out[i] = *byName[n]
	}
	return out, grouped, nil
}

// group is a consumer group with its stream's last entry ID.
type group struct {
	redis.XInfoGroup
	lastGenerated string
}

func groupInfo(ctx context.Context, rdb redis.UniversalClient, stream, name string) (group, error) {
	groups, err := rdb.XInfoGroups(ctx, stream).Result()
	if err != nil {
		return group{}, fmt.Errorf("groups of %s: %w", stream, err)
	}
	info, err := rdb.XInfoStream(ctx, stream).Result()
	if err != nil {
		return group{}, fmt.Errorf("stream %s: %w", stream, err)
	}
	for _, g := range groups {
		if g.Name == name {
			return group{XInfoGroup: g, lastGenerated: info.LastGeneratedID}, nil
		}
	}
	return group{}, fmt.Errorf("no group %s on %s", name, stream)
}
