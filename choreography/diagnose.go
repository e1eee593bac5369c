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
	// LiveWithin: a running consumer that got entries (XINFO CONSUMERS
	// idle) within this long, and after the order's event, has taken what
	// waits. Whether a consumer runs comes from its presence record (see
	// stream.Live), not from its idle time: on Redis 7.0 idle counts from
	// the last read that returned entries, so it grows without bound on a
	// quiet stream while the consumer blocks on its reads.
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
	plan, err := n.placedPlan(ctx, ev)
	if err != nil {
		return nil, fmt.Errorf("diagnose order %s: %w", orderID, err)
	}
	var out []string
	for _, svc := range Services {
		hs, err := n.Handlers(svc)
		if _, reacts := hs[ev.Type]; err != nil || !reacts || !slices.Contains(subscriptions[svc], ev.Source) {
			continue
		}
		if r, ok := reactions[svc][ev.Type]; ok && !r.applies(ev.Type, plan) {
			continue // another service's turn in the order's plan
		}
		msg, err := e.idleGroup(ctx, ev, n.Bus.StreamFor(orderID, ev.Source), svc, waited)
		if err != nil {
			return nil, err
		}
		out = append(out, msg...)
	}
	return out, nil
}

// placedPlan is the saga of ev with the order's plan as placed (as the
// services read it, see checkedAll).
func (n *Node) placedPlan(ctx context.Context, ev *Envelope) (Saga, error) {
	s, _ := ev.Saga()
	recs, err := n.readRecords(ctx, []string{ev.OrderID})
	if err != nil {
		return s, err
	}
	if recs[0].found {
		s.Steps = recs[0].steps
	}
	return s, nil
}

// idleGroup says what is wrong with the group of service svc on stream
// (the stream of ev's source in the order's partition) when ev has waited
// there for waited: entries no running consumer reads, or entries a
// consumer took and did not finish. A service's consumers are those of its
// group on source's stream of every partition: a consumer that reads one
// partition reads them all. A consumer runs while its process holds its
// presence record; a running one that got entries since the event came
// (and within LiveWithin) has taken what waits.
func (e *Engine) idleGroup(ctx context.Context, ev *Envelope, stream, svc string, waited time.Duration) ([]string, error) {
	source, t := ev.Source, ev.Type
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
	g, err := groupInfo(ctx, e.node.Bus.Redis, stream, svc)
	if err != nil {
		return nil, err
	}
	running, took := false, false
	var names []string
	for _, c := range consumers {
		state := "stopped"
		if c.live {
			state, running = "running", true
			took = took || c.Idle < min(waited, LiveWithin)
		}
		names = append(names, fmt.Sprintf("%s %s, %d pending", c.Name, state, c.Pending))
	}
	list := strings.Join(names, "; ")
	switch {
	case took:
		return nil, nil
	case streams.CompareIDs(g.lastGenerated, g.LastDeliveredID) > 0 && running: // unread, by entry IDs (see Backlog)
		return []string{fmt.Sprintf("the %s service runs but has not read the order's %s event, which came %s ago (group %s on %s: %s): its handlers are all busy or its reads fail; see its log and /readyz",
			svc, t, age, svc, stream, list)}, nil
	case streams.CompareIDs(g.lastGenerated, g.LastDeliveredID) > 0:
		return []string{fmt.Sprintf("the %s service is not consuming: group %s has unread entries on the stream %s and none of its consumers runs (%s); the order's %s event came %s ago; %s",
			svc, svc, stream, list, t, age, start)}, nil
	case g.Pending > 0 && running:
		return []string{fmt.Sprintf("the %s service took the order's %s event %s ago and has not finished it (group %s on %s: %s)",
			svc, t, age, svc, stream, list)}, nil
	case g.Pending > 0:
		return []string{fmt.Sprintf("the %s service took the order's %s event %s ago and has not finished it, and none of its consumers runs (group %s on %s: %s); %s, or another instance takes the event over after --claim-idle",
			svc, t, age, svc, stream, list, start)}, nil
	}
	return nil, nil
}

// consumer is a consumer of a service's group over every partition.
type consumer struct {
	redis.XInfoConsumer
	live bool // its process holds its presence record
}

// consumersOf returns the consumers of group svc over source's stream of
// every partition, each once, with its smallest idle time, all it has
// pending and whether it runs, and whether the group exists on any of them.
func (e *Engine) consumersOf(ctx context.Context, source, svc string) ([]consumer, bool, error) {
	b := e.node.Bus
	pipe := b.Redis.Pipeline()
	var cmds []*redis.XInfoConsumersCmd
	srcs := b.StreamsOf(source)
	for _, s := range srcs {
		cmds = append(cmds, pipe.XInfoConsumers(ctx, s, svc))
	}
	_, _ = pipe.Exec(ctx) // errors are per stream, below
	byName := map[string]*consumer{}
	var names []string
	var refs []streams.Ref
	grouped := false
	for i, c := range cmds {
		cs, err := c.Result()
		if redis.HasErrorPrefix(err, "NOGROUP") || redis.HasErrorPrefix(err, "no such key") {
			continue
		}
		if err != nil {
			return nil, false, fmt.Errorf("consumers of group %s: %w", svc, err)
		}
		grouped = true
		for _, x := range cs {
			refs = append(refs, streams.Ref{Stream: srcs[i], Group: svc, Name: x.Name})
			if m, ok := byName[x.Name]; ok {
				m.Idle, m.Pending = min(m.Idle, x.Idle), m.Pending+x.Pending
				continue
			}
			byName[x.Name] = &consumer{XInfoConsumer: x}
			names = append(names, x.Name)
		}
	}
	live, err := streams.Live(ctx, b.Redis, refs)
	if err != nil {
		return nil, false, err
	}
	for i, r := range refs {
		byName[r.Name].live = byName[r.Name].live || live[i]
	}
	out := make([]consumer, len(names))
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
