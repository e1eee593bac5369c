package choreography

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/shop"
)

// Compensations retrying past the alert threshold, counted for a gauge.
//
// Status shows an order COMPENSATING when its last event set off a
// compensation longer ago than the threshold (see flagCompensating). That
// event's entry then waits in the group of the service that compensates:
// pending, because its handler keeps failing and it is redelivered, or not
// read yet, because the service is down or behind; the commit that ends
// the compensation acks it. So those orders are found where they wait,
// among the entries of the compensating groups older than the threshold,
// without reading any order: a healthy stack has none, and each read is
// bounded by compensatingCap whatever Redis holds.

// The threshold is one setting, the --compensation-alert-after of the
// worker that runs the order service, whose gauge counts with it. That
// worker records it in Redis at start (RecordAlertAfter), as every process
// records the number of partitions, and whoever shows an order's status
// (starter status, the live page) reads it there (AlertAfter): so status,
// page and gauge agree on when an order is COMPENSATING.

// RecordAlertAfter records after as the choreography's compensation alert
// threshold. The order service's instances of a deployment share one
// threshold: the last one started wins.
func (b *Bus) RecordAlertAfter(ctx context.Context, after time.Duration) error {
	if after <= 0 {
		return fmt.Errorf("the compensation alert threshold must be positive, got %v", after)
	}
	if err := b.Redis.Set(ctx, activities.AlertAfterKey(b.Prefix), after.String(), 0).Err(); err != nil {
		return fmt.Errorf("record the compensation alert threshold: %w", err)
	}
	return nil
}

// AlertAfter returns the compensation alert threshold recorded in Redis,
// or shop.DefaultCompensationAlertAfter while none is recorded.
func (b *Bus) AlertAfter(ctx context.Context) (time.Duration, error) {
	return b.alertAfterOf(b.Redis.Get(ctx, activities.AlertAfterKey(b.Prefix)))
}

// alertAfterOf is AlertAfter from the read of its key.
func (b *Bus) alertAfterOf(cmd *redis.StringCmd) (time.Duration, error) {
	s, err := cmd.Result()
	if errors.Is(err, redis.Nil) {
		return shop.DefaultCompensationAlertAfter, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read the compensation alert threshold: %w", err)
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s holds %q, not a compensation alert threshold", activities.AlertAfterKey(b.Prefix), s)
	}
	return d, nil
}

// compensatingCap bounds how many entries Compensating reads per group and
// stream: as many pending, and as many unread.
const compensatingCap = 100

// waitQueue is a group that compensates, on one stream it consumes.
type waitQueue struct{ group, stream string }

// waiting is an entry of a queue older than the threshold.
type waiting struct {
	group string
	msg   redis.XMessage
}

// Compensating counts, per compensation the choreography runs (zero
// included), the orders Status shows COMPENSATING now with the alert
// threshold after: those whose compensation has been running longer than
// after. It reads at most compensatingCap pending and compensatingCap
// unread entries of each stream of a compensating group, in three
// pipelined round trips (the groups, the entries' IDs, the entries), so
// past that many on one partition the count is a lower bound.
func (n *Node) Compensating(ctx context.Context, after time.Duration) (map[shop.Op]int, error) {
	now := n.Now()
	entries, err := n.Bus.waitingEntries(ctx, now.Add(-after).UnixMilli())
	if err != nil {
		return nil, err
	}
	counts := map[shop.Op]int{}
	for _, op := range compensations() {
		counts[op] = 0
	}
	seen := map[string]bool{}
	for _, w := range entries {
		ev, op, ok := compensationOf(w.group, w.msg)
		if !ok || seen[ev.OrderID] || !retrying(op, ev, now, after) {
			continue
		}
		seen[ev.OrderID] = true
		counts[op]++
	}
	return counts, nil
}

// retrying reports whether op, the operation last set off, is a
// compensation that has run longer than after at now.
func retrying(op shop.Op, last *Envelope, now time.Time, after time.Duration) bool {
	return op.IsCompensation() && after > 0 && now.Sub(last.Time) >= after
}

// compensations lists the compensations of the choreography's reactions.
func compensations() []shop.Op {
	var ops []shop.Op
	for _, rs := range reactions {
		for _, r := range rs {
			if r.op.IsCompensation() && !slices.Contains(ops, r.op) {
				ops = append(ops, r.op)
			}
		}
	}
	slices.Sort(ops)
	return ops
}

// compensationOf decodes an entry of group's streams that sets off one of
// group's compensations, and says which.
func compensationOf(group string, m redis.XMessage) (*Envelope, shop.Op, bool) {
	t, _ := m.Values[fieldType].(string)
	r, ok := reactions[group][EventType(t)]
	if !ok || !r.op.IsCompensation() {
		return nil, "", false
	}
	raw, _ := m.Values[fieldEvent].(string)
	ev, err := Decode([]byte(raw))
	if err != nil || currentOp(ev) != r.op {
		return nil, "", false // not an event, or a repair of another service's compensation
	}
	return ev, r.op, true
}

// waitQueues lists every stream of every partition that a service with a
// compensation consumes, with that service's group.
func (b *Bus) waitQueues() []waitQueue {
	var qs []waitQueue
	for _, svc := range Services {
		compensates := false
		for _, r := range reactions[svc] {
			compensates = compensates || r.op.IsCompensation()
		}
		if !compensates {
			continue
		}
		streams, _ := b.streamsOf(svc)
		for _, s := range streams {
			qs = append(qs, waitQueue{svc, s})
		}
	}
	return qs
}

// waitingEntries returns the entries of the wait queues added before
// cutoff (Unix milliseconds) and not acked by the queue's group: pending
// ones and unread ones, at most compensatingCap of each per queue.
func (b *Bus) waitingEntries(ctx context.Context, cutoff int64) ([]waiting, error) {
	qs := b.waitQueues()
	infos := make(map[string]*redis.XInfoGroupsCmd)
	pipe := b.Redis.Pipeline()
	for _, q := range qs {
		if infos[q.stream] == nil {
			infos[q.stream] = pipe.XInfoGroups(ctx, q.stream)
		}
	}
	_, _ = pipe.Exec(ctx) // errors are per stream, below
	end := strconv.FormatInt(cutoff, 10)
	var pendings, unread []queued
	pipe = b.Redis.Pipeline()
	for _, q := range qs {
		g, found, err := findGroup(infos[q.stream], q.group)
		if err != nil {
			return nil, fmt.Errorf("groups of %s: %w", q.stream, err)
		}
		if found && g.Pending > 0 {
			pendings = append(pendings, queued{q, pipe.XPendingExt(ctx, &redis.XPendingExtArgs{
				Stream: q.stream, Group: q.group, Start: "-", End: end, Count: compensatingCap}), nil})
		}
		if found && idMillis(g.LastDeliveredID) <= cutoff {
			unread = append(unread, queued{q, nil, pipe.XRangeN(ctx, q.stream, "("+g.LastDeliveredID, end, compensatingCap)})
		}
	}
	if len(pendings)+len(unread) == 0 {
		return nil, nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("entries waiting for a compensation: %w", err)
	}
	out, err := b.pendingEntries(ctx, pendings)
	if err != nil {
		return nil, err
	}
	for _, u := range unread {
		for _, m := range u.entries.Val() {
			out = append(out, waiting{u.group, m})
		}
	}
	return out, nil
}

// queued is a read of a wait queue: the IDs of its pending entries, or
// entries.
type queued struct {
	waitQueue
	pending *redis.XPendingExtCmd
	entries *redis.XMessageSliceCmd
}

// findGroup finds group among a stream's groups; a stream that does not
// exist yet has none.
func findGroup(cmd *redis.XInfoGroupsCmd, group string) (redis.XInfoGroup, bool, error) {
	groups, err := cmd.Result()
	if err != nil {
		if strings.Contains(err.Error(), "no such key") {
			return redis.XInfoGroup{}, false, nil
		}
		return redis.XInfoGroup{}, false, err
	}
	for _, g := range groups {
		if g.Name == group {
			return g, true, nil
		}
	}
	return redis.XInfoGroup{}, false, nil
}

// pendingEntries reads the entries the pending lists name, in one round
// trip; an entry trimmed meanwhile is left out.
func (b *Bus) pendingEntries(ctx context.Context, pendings []queued) ([]waiting, error) {
	var reads []queued
	pipe := b.Redis.Pipeline()
	for _, p := range pendings {
		for _, e := range p.pending.Val() {
			reads = append(reads, queued{p.waitQueue, nil, pipe.XRangeN(ctx, p.stream, e.ID, e.ID, 1)})
		}
	}
	if len(reads) == 0 {
		return nil, nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("read pending entries: %w", err)
	}
	var out []waiting
	for _, r := range reads {
		for _, m := range r.entries.Val() {
			out = append(out, waiting{r.group, m})
		}
	}
	return out, nil
}

// idMillis is the time part of a stream entry ID.
func idMillis(id string) int64 {
	ms, _, _ := strings.Cut(id, "-")
	v, _ := strconv.ParseInt(ms, 10, 64)
	return v
}
