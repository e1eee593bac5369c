package choreography

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// unreadCap bounds how many unread entries of one stream Backlog counts.
const unreadCap = 1000

// groupStream is one consumer group on one service's streams.
type groupStream struct{ group, service string }

// Lag is what one consumer group has not finished on one service's
// streams, summed over the partitions.
type Lag struct {
	Group   string // the consumer group, named after the service that reads
	Service string // the service whose streams it reads
	Pending int64  // entries delivered and not acked
	Unread  int    // entries not delivered yet (at most 1,000 per stream counted)
}

// Backlog reports, per consumer group and service stream (summed over the
// partitions), the entries left pending and those not read yet, for the
// groups that have any. "Unread"
// is judged from entry IDs, an entry after the group's last-delivered ID,
// not from the entries-read and lag that XINFO reports: those do not
// survive an append-only file rewrite and reload on Redis 7.0.
func (b *Bus) Backlog(ctx context.Context) ([]Lag, error) {
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	type probe struct {
		at     groupStream
		unread *redis.XMessageSliceCmd
	}
	type svcStream struct{ name, service string }
	streams := make([]svcStream, 0, b.Layout().Partitions*len(Services))
	infos := make([]*redis.XInfoGroupsCmd, 0, cap(streams))
	pipe := b.Redis.Pipeline()
	for p := range b.Layout().Partitions {
		for _, svc := range Publishers() {
			streams = append(streams, svcStream{b.StreamOf(p, svc), svc})
			infos = append(infos, pipe.XInfoGroups(ctx, b.StreamOf(p, svc)))
		}
	}
	_, _ = pipe.Exec(ctx) // errors are per stream, below
	var probes []probe
	pending := map[groupStream]int64{}
	pipe = b.Redis.Pipeline()
	for i, info := range infos {
		groups, err := info.Result()
		if err != nil {
			if strings.Contains(err.Error(), "no such key") {
				continue
			}
			return nil, fmt.Errorf("groups of %s: %w", streams[i].name, err)
		}
		for _, g := range groups {
			at := groupStream{g.Name, streams[i].service}
			pending[at] += g.Pending
			probes = append(probes, probe{at, pipe.XRangeN(ctx, streams[i].name, "("+g.LastDeliveredID, "+", unreadCap+1)})
		}
	}
	if len(probes) > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, fmt.Errorf("read unread entries: %w", err)
		}
	}
	unread := map[groupStream]int{}
	var order []groupStream
	for _, pr := range probes {
		if _, seen := unread[pr.at]; !seen {
			order = append(order, pr.at)
		}
		unread[pr.at] += len(pr.unread.Val())
	}
	var out []Lag
	for _, at := range order {
		if pending[at] > 0 || unread[at] > 0 {
			out = append(out, Lag{Group: at.group, Service: at.service, Pending: pending[at], Unread: unread[at]})
		}
	}
	return out, nil
}
