package admin

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/ordersaga/ordersaga/internal/platform/poll"
	"github.com/ordersaga/ordersaga/shop"
)

// AnswerWithin bounds one engine's answer while watching: a running
// workflow's status is a query that waits for a worker.
const AnswerWithin = 2 * time.Second

// Snapshot is an order's state on each engine at one moment.
type Snapshot struct {
	OrderID string
	Modes   []shop.Mode
	// Found holds the engines that know the order.
	Found map[shop.Mode]shop.Progress
	// NoAnswer holds the engines that did not answer, with why.
	NoAnswer map[shop.Mode]error
	// Why holds, for engines whose order does not move, the reasons found.
	Why map[shop.Mode][]string
}

// Terminal reports whether the order is terminal on every engine that knows it.
func (s Snapshot) Terminal() bool {
	if len(s.NoAnswer) > 0 {
		return false
	}
	for _, p := range s.Found {
		if !p.Status.Terminal() {
			return false
		}
	}
	return true
}

// Equal reports whether two snapshots say the same.
func (s Snapshot) Equal(o Snapshot) bool {
	sameErr := func(a, b error) bool { return a.Error() == b.Error() }
	sameWhy := func(a, b []string) bool { return fmt.Sprint(a) == fmt.Sprint(b) }
	sameProgress := func(a, b shop.Progress) bool { return fmt.Sprintf("%+v", a) == fmt.Sprintf("%+v", b) }
	return maps.EqualFunc(s.Found, o.Found, sameProgress) && maps.EqualFunc(s.NoAnswer, o.NoAnswer, sameErr) &&
		maps.EqualFunc(s.Why, o.Why, sameWhy)
}

// Ask calls f on every engine and returns the answers of those that know
// the order; it fails with shop.ErrUnknownOrder when none does.
func Ask[T any](ctx context.Context, e *EngineSet, orderID string, f func(ctx context.Context, m shop.Mode) (T, error)) (map[shop.Mode]T, error) {
	found := map[shop.Mode]T{}
	for _, m := range e.Modes {
		v, err := f(ctx, m)
		switch {
		case errors.Is(err, shop.ErrUnknownOrder):
		case err != nil:
			return nil, err
		default:
			found[m] = v
		}
	}
	if len(found) == 0 {
		where := "either engine"
		if len(e.Modes) == 1 {
			where = string(e.Modes[0])
		}
		return nil, fmt.Errorf("%w %s on %s", shop.ErrUnknownOrder, orderID, where)
	}
	return found, nil
}

// Snapshot asks every engine where the order is, each within answerWithin
// (0: no bound). An engine that does not answer in time is in NoAnswer.
func (e *EngineSet) Snapshot(ctx context.Context, orderID string, answerWithin time.Duration) (Snapshot, error) {
	s := Snapshot{OrderID: orderID, Modes: e.Modes, NoAnswer: map[shop.Mode]error{}, Why: map[shop.Mode][]string{}}
	var err error
	s.Found, err = Ask(ctx, e, orderID, func(ctx context.Context, m shop.Mode) (shop.Progress, error) {
		actx, cancel := ctx, context.CancelFunc(func() {})
		if answerWithin > 0 {
			actx, cancel = context.WithTimeout(ctx, answerWithin)
		}
		defer cancel()
		p, err := e.Sources[m].Status(actx, orderID)
		if err != nil && ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded) {
			s.NoAnswer[m] = fmt.Errorf("no answer within %s", answerWithin)
			return shop.Progress{Outcome: shop.Outcome{OrderID: orderID, Status: shop.StatusPending}}, nil
		}
		return p, err
	})
	return s, err
}

// Diagnose asks the engine of mode m why the order does not move.
func (e *EngineSet) Diagnose(ctx context.Context, m shop.Mode, orderID string) ([]string, error) {
	return e.Diagnosers[m].Diagnose(ctx, orderID)
}

// Watch calls show with a snapshot of the order every interval, each one
// with the diagnoses of the engines where it is not terminal, until the
// order is terminal everywhere or ctx ends. It fails at once when no engine
// knows the order.
func (e *EngineSet) Watch(ctx context.Context, orderID string, interval time.Duration, show func(Snapshot)) error {
	return poll.Until(ctx, poll.Every(interval), func(ctx context.Context) (bool, error) {
		s, err := e.Snapshot(ctx, orderID, AnswerWithin)
		if err != nil {
			return false, err
		}
		for m, p := range s.Found {
			if p.Status.Terminal() {
				continue
			}
			if why, err := e.Diagnose(ctx, m, orderID); err == nil && len(why) > 0 {
				s.Why[m] = why
			}
		}
		show(s)
		return s.Terminal(), nil
	})
}

// Follow calls show with every entry of the order's timeline on each
// engine that knows it, each once, as they happen, until the order is
// terminal everywhere (and its last entries shown) or ctx ends.
func (e *EngineSet) Follow(ctx context.Context, orderID string, interval time.Duration, show func(shop.Mode, shop.Event)) error {
	shown := map[shop.Mode]int{}
	return poll.Until(ctx, poll.Every(interval), func(ctx context.Context) (bool, error) {
		// The status first: when it is terminal, the history read after it
		// holds the last entries.
		s, err := e.Snapshot(ctx, orderID, AnswerWithin)
		if err != nil {
			return false, err
		}
		for _, m := range e.Modes {
			if _, ok := s.Found[m]; !ok {
				continue
			}
			evs, err := e.Sources[m].History(ctx, orderID)
			if err != nil && !errors.Is(err, shop.ErrUnknownOrder) {
				return false, err
			}
			for _, ev := range evs[min(shown[m], len(evs)):] {
				show(m, ev)
			}
			shown[m] = max(shown[m], len(evs))
		}
		return s.Terminal(), nil
	})
}
