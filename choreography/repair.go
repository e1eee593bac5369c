package choreography

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"slices"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/shop"
)

//go:embed lua/repair.lua
var repairLua string

var repairScript = redis.NewScript(repairLua)

// Repair runs again the refused compensations of a FAILED order, once the
// cause is fixed; for an injected fault, the repair clears it (the
// compensations' faults are dropped from the order's plan for the rerun).
// The order is PENDING again while the repair runs, and ends COMPENSATED
// (see Wait), or FAILED again if a compensation is refused again.
//
// The repair is a run of events like the compensation was: a
// RepairRequested event goes to the service of the first refused
// compensation in reverse saga order, which runs it again; each service
// after it runs its compensation (a duplicate of one that had succeeded
// changes nothing) and, in a repair run, publishes its event even then, so
// the order service sees the order's end again. Starting the repair is one
// script, so of concurrent repairs exactly one starts it; the others get
// shop.ErrRepairRunning, or shop.ErrRepaired once the repair has ended.
func (e *Engine) Repair(ctx context.Context, orderID string) error {
	n := e.node
	b := n.Bus
	if err := b.check(ctx); err != nil {
		return err
	}
	op, err := e.refusedCompensation(ctx, orderID)
	if err != nil {
		return err
	}
	last, err := b.Redis.LIndex(ctx, n.historyKey(orderID), -1).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("repair order %s: %w", orderID, err)
	}
	parent, err := Decode([]byte(last))
	if err != nil {
		return fmt.Errorf("repair order %s: its last event: %w", orderID, err)
	}
	s, err := parent.Saga()
	if err != nil {
		return fmt.Errorf("repair order %s: its last event: %w", orderID, err)
	}
	s.Repair, s.CompensationErrors, s.Detail = true, nil, string(op)
	s.Order.Faults = s.Order.Faults.WithoutCompensations()
	ev, err := n.encode(ctx, ServiceOrder, RepairRequested, parent, s)
	if err != nil {
		return err
	}
	target, err := repairStream(op)
	if err != nil {
		return err
	}
	res, err := repairScript.Run(ctx, b.Redis,
		[]string{n.orderKey(orderID), n.historyKey(orderID), b.StreamFor(orderID, target)},
		string(RepairRequested), ev).Text()
	if err != nil {
		return fmt.Errorf("repair order %s: %w", orderID, err)
	}
	switch res {
	case "ok":
		return nil
	case "REPAIRING":
		return fmt.Errorf("repair order %s: %w", orderID, shop.ErrRepairRunning)
	case "":
		return fmt.Errorf("order %s: %w", orderID, shop.ErrUnknownOrder)
	}
	return e.notFailed(ctx, orderID, res)
}

// notFailed is the answer to a repair of an order that is not FAILED (nor
// under repair): shop.ErrRepaired when its history holds a repair request,
// else shop.ErrNotRepairable.
func (e *Engine) notFailed(ctx context.Context, orderID, status string) error {
	evs, err := e.History(ctx, orderID)
	if err != nil {
		return err
	}
	for _, ev := range evs {
		if ev.Name == string(RepairRequested) {
			return fmt.Errorf("repair order %s: %w", orderID, shop.ErrRepaired)
		}
	}
	return fmt.Errorf("repair order %s (%s): %w", orderID, status, shop.ErrNotRepairable)
}

// refusedCompensation returns the first compensation of a FAILED order, in
// reverse saga order, that its participant refused.
func (e *Engine) refusedCompensation(ctx context.Context, orderID string) (shop.Op, error) {
	out, done, err := e.outcome(ctx, orderID)
	if err != nil {
		return "", err
	}
	if !done || out.Status != shop.StatusFailed {
		h, err := e.node.Bus.Redis.HGet(ctx, e.node.orderKey(orderID), "repair").Result()
		if err == nil && h == "1" {
			return "", fmt.Errorf("repair order %s: %w", orderID, shop.ErrRepairRunning)
		}
		if !done {
			out.Status = shop.StatusPending
		}
		return "", e.notFailed(ctx, orderID, string(out.Status))
	}
	st, err := e.node.Bus.Layout().ReadOrderState(ctx, e.node.Bus.Redis, orderID)
	if err != nil {
		return "", err
	}
	for _, step := range slices.Backward(shop.Steps) {
		if op := step.Compensation(); st.Ops[op].Status == "fail" {
			return op, nil
		}
	}
	// A repair that started meanwhile may have run it already.
	if again, done, err := e.outcome(ctx, orderID); err == nil && (!done || again.Status != shop.StatusFailed) {
		return e.refusedCompensation(ctx, orderID)
	}
	return "", fmt.Errorf("repair order %s: FAILED, but no compensation was refused", orderID)
}

// repairStream is the service whose stream a repair of op is published on:
// one that op's service consumes and no other service that reacts to
// RepairRequested does.
func repairStream(op shop.Op) (string, error) {
	for svc, rs := range reactions {
		if r, ok := rs[RepairRequested]; !ok || r.op != op {
			continue
		}
		for _, src := range subscriptions[svc] {
			if !consumedByOtherRepairer(src, svc) {
				return src, nil
			}
		}
	}
	return "", fmt.Errorf("no service repairs %s", op)
}

func consumedByOtherRepairer(src, svc string) bool {
	for other, rs := range reactions {
		if _, ok := rs[RepairRequested]; ok && other != svc && slices.Contains(subscriptions[other], src) {
			return true
		}
	}
	return false
}
