package experiment

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/internal/app/admin"
	"github.com/ordersaga/ordersaga/internal/app/bench"
	"github.com/ordersaga/ordersaga/internal/platform/poll"
	"github.com/ordersaga/ordersaga/shop"
)

// InFlightProbe is what one order in flight holds, measured directly:
// Orders orders are placed while the payment participant is stopped, so
// that each stays in flight at the payment step, and the memory while
// they wait is set against the memory before them.
type InFlightProbe struct {
	// Orders are the probe's orders placed (their placement answered).
	Orders int `json:"orders"`
	// Reached counts the orders the engine's status showed waiting at
	// the payment step when the memory was read.
	Reached int `json:"reached_payment"`
	// RedisBefore and RedisHeld are Redis's used_memory before the
	// placements and while the orders were held.
	RedisBefore int64 `json:"redis_before_bytes"`
	RedisHeld   int64 `json:"redis_held_bytes"`
	// TemporalBefore and TemporalHeld are the Temporal persistence's
	// size (--temporal-data), zero when not given.
	TemporalBefore int64 `json:"temporal_before_bytes"`
	TemporalHeld   int64 `json:"temporal_held_bytes"`
}

// probePlacers is how many placements of the probe run at once.
const probePlacers = 8

// probeOrders is how many orders the probe holds: ten seconds of the
// load's rate, from 50 to 500.
func probeOrders(cfg Config) int { return min(500, max(50, int(cfg.Rate*10))) }

// probeInFlight measures what an order in flight holds on engine m: on
// the engines reset, with m's participants running but payment, it places
// the probe's orders, waits until the engine's status shows each waiting
// for its charge (up to cfg.Drain: none can end while payment is down),
// reads the memory, starts payment again, waits for the orders to end and
// resets the engines again. A delay fault of the shipment held longer
// than the activities' heartbeat timeout would hold them too, but on a
// loaded machine the orchestration's did not end within minutes after it.
func probeInFlight(ctx context.Context, eng *admin.EngineSet, m shop.Mode, cfg Config) (InFlightProbe, error) {
	work, err := bench.Generate(cfg.Seed, "probe"+nonce(), probeOrders(cfg), nil, eng.Catalog)
	if err != nil {
		return InFlightProbe{}, err
	}
	if _, err := eng.Reset(ctx, false); err != nil {
		return InFlightProbe{}, err
	}
	parts, err := startParticipants(ctx, eng, m, cfg.Instances)
	if err != nil {
		return InFlightProbe{}, err
	}
	defer parts.Close()
	if err := parts.Stop(ctx, choreography.ServicePayment); err != nil {
		return InFlightProbe{}, err
	}
	e, p := eng.Sources[m], InFlightProbe{}
	p.RedisBefore, p.TemporalBefore = steadyMemory(ctx, eng, cfg)
	placed := placeAll(ctx, e, work.Orders, cfg.PlaceTimeout)
	p.Orders = len(placed)
	p.Reached = awaitStep(ctx, e, placed, shop.OpCharge, cfg.Drain)
	p.RedisHeld, p.TemporalHeld = steadyMemory(ctx, eng, cfg)
	if err := parts.Start(ctx, choreography.ServicePayment); err != nil {
		return p, err
	}
	if err := waitAll(ctx, e, work.Orders, cfg.Drain); err != nil {
		return p, err
	}
	_, err = eng.Reset(ctx, false) // the load's first sample is taken without them
	return p, err
}

// placeAll places the orders, probePlacers at once, and returns those
// whose placement was answered.
func placeAll(ctx context.Context, e shop.Engine, orders []shop.Order, timeout time.Duration) []shop.Order {
	ok := make([]bool, len(orders))
	sem := make(chan struct{}, probePlacers)
	var wg sync.WaitGroup
	for i, o := range orders {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			pctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			ok[i] = e.Place(pctx, o) == nil
		})
	}
	wg.Wait()
	var out []shop.Order
	for i, o := range orders {
		if ok[i] {
			out = append(out, o)
		}
	}
	return out
}

// awaitStep waits, up to d, until the engine's status shows every order at
// step op, and returns how many it showed there.
func awaitStep(ctx context.Context, e shop.Engine, orders []shop.Order, op shop.Op, d time.Duration) int {
	pending := slices.Clone(orders)
	_ = poll.For(ctx, max(d, 0), poll.Every(250*time.Millisecond), func(ctx context.Context) (bool, error) {
		pending = slices.DeleteFunc(pending, func(o shop.Order) bool {
			p, err := e.Status(ctx, o.ID)
			return err == nil && p.Current == op
		})
		return len(pending) == 0, nil
	})
	return len(orders) - len(pending)
}

// waitAll waits, up to d, for every order to end; an order the engine does
// not know (its placement was not answered and did not go through) has none.
func waitAll(ctx context.Context, e shop.Engine, orders []shop.Order, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for _, o := range orders {
		if _, err := e.Wait(ctx, o.ID); err != nil && !errors.Is(err, shop.ErrUnknownOrder) {
			return err
		}
	}
	return nil
}

// steadyMemory is the median of three readings of Redis's used memory and
// of the Temporal persistence's size, a fifth of a second apart.
func steadyMemory(ctx context.Context, eng *admin.EngineSet, cfg Config) (redisBytes, temporalBytes int64) {
	var rs, ts []int64
	for i := range 3 {
		if i > 0 && poll.Sleep(ctx, 200*time.Millisecond) != nil {
			break
		}
		rs, ts = append(rs, redisMemory(ctx, eng.Redis)), append(ts, dirSize(cfg.TemporalData))
	}
	slices.Sort(rs)
	slices.Sort(ts)
	return rs[len(rs)/2], ts[len(ts)/2]
}

// perOrder is the growth from before to held over the probe's orders.
func (p InFlightProbe) perOrder(before, held int64) float64 {
	if p.Orders == 0 {
		return 0
	}
	return float64(held-before) / float64(p.Orders)
}
