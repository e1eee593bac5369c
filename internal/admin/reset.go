package admin

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/internal/poll"
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
	// Deleted is how many keys were deleted.
	Deleted int64 `json:"deleted_keys"`
}

// ReaderWait bounds how long a reset waits for the choreography services
// to read their streams again.
const ReaderWait = 5 * time.Second

// Reset starts every engine of e afresh: it deletes each one's orders,
// participant state, streams and ledger and seeds the catalog again. Unless
// force, it first checks that no engine has an order in flight (an
// *InFlightError), so that nothing is half-reset. For choreography it then
// recreates the consumer groups and waits until the running services read
// their streams again, so that their pause after the streams vanished is
// over when Reset returns.
func (e *Engines) Reset(ctx context.Context, force bool) ([]ResetResult, error) {
	if !force {
		for _, m := range e.Modes {
			if err := e.noneInFlight(ctx, m); err != nil {
				return nil, err
			}
		}
	}
	var out []ResetResult
	for _, m := range e.Modes {
		readers := 0
		if m == shop.ModeChoreography {
			readers = readersNow(ctx, e.Redis)
		}
		n, err := activities.Reset(ctx, e.Redis, e.Sources[m].Prefix(), e.Catalog)
		if err != nil {
			return out, err
		}
		if m == shop.ModeChoreography {
			if err := awaitReaders(ctx, e.Redis, readers); err != nil {
				return out, err
			}
		}
		out = append(out, ResetResult{Mode: m, Deleted: n})
	}
	return out, nil
}

func (e *Engines) noneInFlight(ctx context.Context, m shop.Mode) error {
	orders, err := e.Sources[m].Orders(ctx)
	if err != nil {
		return err
	}
	for _, o := range orders {
		if !o.Status.Terminal() {
			return &InFlightError{Mode: m, OrderID: o.ID, Status: o.Status}
		}
	}
	return nil
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
	return fmt.Sprintf("%s: reset (%d keys deleted), stock back to its initial values", r.Mode, r.Deleted)
}
