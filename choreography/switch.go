package choreography

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/choreography/stream"
	"github.com/ordersaga/ordersaga/shop"
)

// The switch of the plan of new orders: placement stamps the plan the
// deployment records (activities.SagaStepsKey), and an operator turns the
// fraud check on or off for the orders placed from then on.

// ErrConsumersBehind: the fraud check cannot be turned on while a live
// consumer of a group that must read its events reads an older catalogue.
var ErrConsumersBehind = errors.New("consumers run that do not read the fraud check's events")

// PlanCacheFor is how long the engine reuses the recorded plan: a switch
// reaches placements within it, and a placement costs no extra round trip.
const PlanCacheFor = time.Second

// planCache is the engine's copy of the recorded plan.
type planCache struct {
	mu    sync.Mutex
	steps []shop.Step
	at    time.Time
}

// plan returns the plan new orders take, read from Redis at most once per
// PlanCacheFor.
func (e *Engine) plan(ctx context.Context) ([]shop.Step, error) {
	c := &e.plans
	now := e.node.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.steps != nil && now.Sub(c.at) < PlanCacheFor && now.After(c.at) {
		return c.steps, nil
	}
	steps, _, err := activities.SagaSteps(ctx, e.node.Bus.Redis, e.node.Bus.Prefix)
	if err != nil {
		return nil, err
	}
	c.steps, c.at = steps, now
	return steps, nil
}

// catalogueTag is what a consumer's presence record says of the catalogue
// it reads (see stream.Config.Tag).
var catalogueTag = "catalogue " + strconv.Itoa(CatalogueRevision)

// Behind is a live consumer that reads an older revision of the catalogue
// than CatalogueRevision.
type Behind struct {
	Group, Name string
	Revision    int
	Holder      string // its host and pid
}

// ConsumersBehind lists the live consumers of the groups that must read
// the fraud check's events (inventory and payment) whose presence records
// say they read an older catalogue: a record without a revision is of
// revision 1. While one runs, orders must not take the fraud check.
func (e *Engine) ConsumersBehind(ctx context.Context) ([]Behind, error) {
	b := e.node.Bus
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	refs, err := b.consumerRefs(ctx, ServiceInventory, ServicePayment)
	if err != nil {
		return nil, err
	}
	holders, err := stream.Holders(ctx, b.Redis, refs)
	if err != nil {
		return nil, err
	}
	var out []Behind
	for i, h := range holders {
		if h == "" {
			continue // not running
		}
		rev := 1
		if v, ok := stream.TagOf(h, "catalogue"); ok {
			if rev, err = strconv.Atoi(v); err != nil {
				rev = 0
			}
		}
		seen := slices.ContainsFunc(out, func(o Behind) bool { return o.Group == refs[i].Group && o.Name == refs[i].Name })
		if rev < CatalogueRevision && !seen {
			out = append(out, Behind{Group: refs[i].Group, Name: refs[i].Name, Revision: rev, Holder: stream.Describe(h)})
		}
	}
	return out, nil
}

// consumerRefs lists the consumers of the groups on the streams each reads
// that every version of it subscribed to (those of the catalogue's first
// revision), partition by partition.
func (b *Bus) consumerRefs(ctx context.Context, groups ...string) ([]stream.Ref, error) {
	var refs []stream.Ref
	for _, g := range groups {
		for p := range b.Layout().Partitions {
			for _, src := range subscriptions[g] {
				if src == ServiceFraud {
					continue // older consumers do not read it
				}
				s := b.StreamOf(p, src)
				cs, err := b.Redis.XInfoConsumers(ctx, s, g).Result()
				if err != nil && !redis.HasErrorPrefix(err, "NOGROUP") && !redis.HasErrorPrefix(err, "no such key") {
					return nil, fmt.Errorf("list consumers of %s on %s: %w", g, s, err)
				}
				for _, c := range cs {
					refs = append(refs, stream.Ref{Stream: s, Group: g, Name: c.Name})
				}
			}
		}
	}
	return refs, nil
}

// Plan returns the plan new orders take, as recorded now (no cache).
func (e *Engine) Plan(ctx context.Context) ([]shop.Step, error) {
	if err := e.node.Bus.check(ctx); err != nil {
		return nil, err
	}
	steps, _, err := activities.SagaSteps(ctx, e.node.Bus.Redis, e.node.Bus.Prefix)
	return steps, err
}

// SetFraudCheck switches the plan of the orders placed from now on (within
// the engines' plan cache, PlanCacheFor) to shop.Steps (on) or
// shop.StepsBeforeFraud (off). Orders placed before keep theirs. It refuses
// to turn the check on, with ErrConsumersBehind, while ConsumersBehind
// lists a consumer: that one would never read the check's events.
func (e *Engine) SetFraudCheck(ctx context.Context, on bool) error {
	if err := e.node.Bus.check(ctx); err != nil {
		return err
	}
	plan := shop.StepsBeforeFraud
	if on {
		plan = shop.Steps
		behind, err := e.ConsumersBehind(ctx)
		if err != nil {
			return err
		}
		if len(behind) > 0 {
			return behindError(behind)
		}
	}
	b := e.node.Bus
	if err := b.Redis.Set(ctx, activities.SagaStepsKey(b.Prefix), activities.FormatSteps(plan), 0).Err(); err != nil {
		return fmt.Errorf("switch the fraud check: %w", err)
	}
	return nil
}

// behindError names the consumers that hold the fraud check back.
func behindError(behind []Behind) error {
	names := make([]string, len(behind))
	for i, c := range behind {
		names[i] = fmt.Sprintf("%s/%s (%s, catalogue %d)", c.Group, c.Name, c.Holder, c.Revision)
	}
	return fmt.Errorf("%w (catalogue %d): %s; upgrade them first", ErrConsumersBehind, CatalogueRevision, strings.Join(names, ", "))
}
