package admin

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/internal/platform/poll"
	"github.com/ordersaga/ordersaga/shop"
)

// InFlightError refuses a reset while an order is not terminal.
type InFlightError struct {
	Mode    shop.Mode
	OrderID string
	Status  shop.Status
}

func (e *InFlightError) Error() string {
	return fmt.Sprintf("not resetting %s: order %s is still %s (wait for it, or pass --force)", e.Mode, e.OrderID, e.Status)
}

// ResetResult is what a reset did to one engine.
type ResetResult struct {
	Mode shop.Mode `json:"mode"`
	// Orders is how many orders the reset deleted: those verify counted.
	Orders int `json:"deleted_orders"`
	// Deleted is how many keys were deleted.
	Deleted int64 `json:"deleted_keys"`
}

// ResetDeletes says what a reset does, for the help of every flag that
// asks for one.
const ResetDeletes = "deletes every order each holds in Redis (its record; the participants' reservations, " +
	"charges and shipments; the ledger; the choreography's streams and dead letters) and seeds the catalog again; " +
	"Temporal's workflow histories stay but no longer count"

// ReaderWait bounds how long a reset waits for the choreography services
// to read their streams again.
const ReaderWait = 5 * time.Second

// Reset starts every engine of e afresh: it deletes each one's orders,
// participant state, streams and ledger and seeds the catalog again (see
// ResetDeletes). Unless force, it first checks that no engine has an order
// in flight (an *InFlightError), so that nothing is half-reset. For
// choreography it then recreates the consumer groups and waits until the
// running services read their streams again, so that their pause after the
// streams vanished is over when Reset returns.
func (e *EngineSet) Reset(ctx context.Context, force bool) ([]ResetResult, error) {
	return e.reset(ctx, force, nil)
}

// Repartition is Reset with another number of partitions: engine m's state
// is deleted and partitions[m] recorded as its P (activities.ResetPartitions;
// an engine absent from partitions keeps its P), and the choreography is
// wired anew onto a node of its P. Nothing of the engines may run in another
// process meanwhile: a worker started with the old P keeps it.
func (e *EngineSet) Repartition(ctx context.Context, partitions map[shop.Mode]int, force bool) ([]ResetResult, error) {
	for m, p := range partitions {
		if _, err := activities.NewLayout(string(m), p); err != nil {
			return nil, err
		}
	}
	out, err := e.reset(ctx, force, partitions)
	if err != nil {
		return out, err
	}
	if p, ok := partitions[shop.ModeChoreography]; ok && e.Choreography != nil {
		node, err := Setup{Catalog: e.Catalog, Partitions: p, Log: e.Node.Log}.Prepare(ctx, e.Redis, shop.ModeChoreography)
		if err != nil {
			return out, err
		}
		old := e.Choreography
		e.useChoreography(node, old.ExpectDeadLetters)
		old.Close()
	}
	return out, nil
}

// Partitions returns the number of partitions recorded for each engine.
func (e *EngineSet) Partitions(ctx context.Context) (map[shop.Mode]int, error) {
	out := map[shop.Mode]int{}
	for _, m := range e.Modes {
		n, err := activities.RecordedPartitions(ctx, e.Redis, e.Sources[m].Prefix())
		if err != nil {
			return nil, err
		}
		out[m] = n
	}
	return out, nil
}

// reset is Reset, recording partitions[m] as engine m's P where given.
func (e *EngineSet) reset(ctx context.Context, force bool, partitions map[shop.Mode]int) ([]ResetResult, error) {
	held := map[shop.Mode]int{}
	for _, m := range e.Modes {
		n, err := e.held(ctx, m, !force)
		if err != nil {
			return nil, err
		}
		held[m] = n
	}
	var out []ResetResult
	for _, m := range e.Modes {
		readers := 0
		if m == shop.ModeChoreography {
			readers = readersNow(ctx, e.Redis)
		}
		prefix := e.Sources[m].Prefix()
		var n int64
		var err error
		if p, ok := partitions[m]; ok {
			n, err = activities.ResetPartitions(ctx, e.Redis, prefix, e.Catalog, p)
		} else {
			n, err = activities.Reset(ctx, e.Redis, prefix, e.Catalog)
		}
		if err != nil {
			return out, err
		}
		if m == shop.ModeChoreography {
			if err := awaitReaders(ctx, e.Redis, readers); err != nil {
				return out, err
			}
		}
		out = append(out, ResetResult{Mode: m, Orders: held[m], Deleted: n})
	}
	return out, nil
}

// Held is how many orders each engine holds, in the order of the modes:
// the orders verify counts, and a reset would delete.
type Held []ModeOrders

// ModeOrders is how many orders one engine holds.
type ModeOrders struct {
	Mode   shop.Mode `json:"mode"`
	Orders int       `json:"orders"`
}

// Total is how many orders all engines hold.
func (h Held) Total() int {
	n := 0
	for _, m := range h {
		n += m.Orders
	}
	return n
}

// String says it in a few words: "5 orders (orchestration 2, choreography 3)".
func (h Held) String() string {
	parts := make([]string, len(h))
	for i, m := range h {
		parts[i] = fmt.Sprintf("%s %d", m.Mode, m.Orders)
	}
	return fmt.Sprintf("%d orders (%s)", h.Total(), strings.Join(parts, ", "))
}

// Held counts the orders every engine of e holds.
func (e *EngineSet) Held(ctx context.Context) (Held, error) {
	var out Held
	for _, m := range e.Modes {
		n, err := e.held(ctx, m, false)
		if err != nil {
			return nil, err
		}
		out = append(out, ModeOrders{Mode: m, Orders: n})
	}
	return out, nil
}

// held counts the orders of mode m, with those settled by order retention;
// with refuseInFlight, an order in flight is an *InFlightError.
func (e *EngineSet) held(ctx context.Context, m shop.Mode, refuseInFlight bool) (int, error) {
	src := e.Sources[m]
	orders, err := src.Orders(ctx)
	if err != nil {
		return 0, fmt.Errorf("count %s orders: %w", m, err)
	}
	for _, o := range orders {
		if refuseInFlight && !o.Status.Terminal() {
			return 0, &InFlightError{Mode: m, OrderID: o.ID, Status: o.Status}
		}
	}
	settled, err := src.Settled(ctx)
	if err != nil {
		return 0, fmt.Errorf("count %s orders: %w", m, err)
	}
	return len(orders) + settled.Count(), nil
}

// awaitReaders recreates the consumer groups a reset deleted and waits
// until as many clients as before (before) are blocked reading the streams.
// Deleting a stream unblocks its readers with an error, after which a
// service backs off before it reads again. When CLIENT LIST is not allowed,
// a fixed pause stands in for the wait.
func awaitReaders(ctx context.Context, rdb redis.UniversalClient, before int) error {
	if err := choreography.NewBus(rdb).Setup(ctx); err != nil {
		return err
	}
	if _, err := blockedReaders(ctx, rdb); err != nil {
		return poll.Sleep(ctx, 1500*time.Millisecond)
	}
	err := poll.For(ctx, ReaderWait, poll.Every(10*time.Millisecond), func(ctx context.Context) (bool, error) {
		n, err := blockedReaders(ctx, rdb)
		return err != nil || n >= before, nil
	})
	if ctx.Err() != nil {
		return ctx.Err()
	}
	_ = err // not all readers came back in time: go on, as a fixed pause would
	return nil
}

// blockedReaders counts the clients blocked in XREADGROUP right now.
func blockedReaders(ctx context.Context, rdb redis.UniversalClient) (int, error) {
	list, err := rdb.ClientList(ctx).Result()
	if err != nil {
		return 0, err
	}
	n := 0
	for line := range strings.SplitSeq(list, "\n") {
		var blocked, reading bool
		for _, f := range strings.Fields(line) {
			if flags, ok := strings.CutPrefix(f, "flags="); ok {
				blocked = strings.Contains(flags, "b")
			}
			reading = reading || f == "cmd=xreadgroup"
		}
		if blocked && reading {
			n++
		}
	}
	return n, nil
}

// readersNow samples blockedReaders a few times and returns the most seen:
// a service is briefly not blocked between two reads.
func readersNow(ctx context.Context, rdb redis.UniversalClient) int {
	most, samples := 0, 0
	_ = poll.Until(ctx, poll.Every(20*time.Millisecond), func(ctx context.Context) (bool, error) {
		n, err := blockedReaders(ctx, rdb)
		if err != nil {
			return false, err
		}
		most, samples = max(most, n), samples+1
		return samples == 5, nil
	})
	return most
}

// String says what the reset did, as the commands print it.
func (r ResetResult) String() string {
	return fmt.Sprintf("%s: reset: %d orders deleted (%d keys), stock back to its initial values", r.Mode, r.Orders, r.Deleted)
}
