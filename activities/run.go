package activities

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/shop"
)

// fault is the planned fault an operation's script applies: kind ” (none),
// 'decline' or 'transient' with how many attempts fail.
type fault struct {
	kind     string
	attempts int
}

// run applies the order's fault plan and runs one operation, with the
// outbox when ob is set. A refusal returns a *RefusalError, an injected
// transient fault a *TransientError.
func (s Store) run(ctx context.Context, op shop.Op, in OrderInput, ob *Outbox) (Result, error) {
	f, planned := in.Faults.For(op)
	if err := delayed(ctx, op, in.OrderID, f, planned); err != nil {
		return Result{}, err
	}
	if ob != nil && s.scripts == nil {
		return Result{}, fmt.Errorf("%s %s: an outbox needs participants built WithOutbox", op, in.OrderID)
	}
	l, err := s.keys(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("%s %s: %w", op, in.OrderID, err)
	}
	var pf fault
	if planned && f.Kind != shop.FaultDelay {
		pf = fault{kind: string(f.Kind), attempts: f.Attempts}
	}
	if op == shop.OpReserve || op == shop.OpRelease {
		return s.runStock(ctx, l, Call{Op: op, In: in, Outbox: ob}, pf)
	}
	keys, args := s.call(l, op, in)
	return s.commit(ctx, Call{Op: op, In: in, Outbox: ob}, pf, scriptCall{keys: keys, args: args})
}

// delayed waits out a planned delay fault, unless ctx ends first.
func delayed(ctx context.Context, op shop.Op, orderID string, f shop.Fault, planned bool) error {
	if !planned || f.Kind != shop.FaultDelay {
		return nil
	}
	t := time.NewTimer(f.Delay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("%s %s: %w", op, orderID, ctx.Err())
	case <-t.C:
		return nil
	}
}

// commit runs one operation's script in the order's partition: its
// recorded result if it ran before, else the fault, else its body, and the
// outbox with the final result; own is the operation's keys and arguments.
func (s Store) commit(ctx context.Context, c Call, f fault, own scriptCall) (Result, error) {
	run, err := s.prepare(c, f, own)
	if err != nil {
		return Result{}, err
	}
	v, err := run.script.Run(ctx, s.Redis, run.keys, run.args...).Slice()
	if err != nil {
		return Result{}, fmt.Errorf("%s %s: %w", c.Op, c.In.OrderID, err)
	}
	return reply(c.Op, c.In.OrderID, v)
}

// scriptRun is one run of one script.
type scriptRun struct {
	script *redis.Script
	scriptCall
}

// prepare builds the run of an operation's script with the operation's
// own keys and arguments, the fault and the outbox's (see commit).
func (s Store) prepare(c Call, f fault, own scriptCall) (scriptRun, error) {
	op, in, ob := c.Op, c.In, c.Outbox
	repair := 0
	if in.Repair && op.IsCompensation() {
		repair = 1
	}
	keys := own.keys
	argv := append([]any{len(keys), len(own.args), f.kind, f.attempts, repair}, own.args...)
	script := plainScripts[op]
	if ob != nil {
		script = s.scripts[op]
		keys = append(slices.Clone(keys), ob.Keys...)
		if ob.Args != nil {
			extra, err := ob.Args()
			if err != nil {
				return scriptRun{}, fmt.Errorf("%s %s: %w", op, in.OrderID, err)
			}
			argv = append(argv, extra...)
		}
	}
	return scriptRun{script: script, scriptCall: scriptCall{keys: keys, args: argv}}, nil
}

// statusProceed is a script's reply when it checked an operation and found
// it must now do its work outside the partition (see runStock).
const statusProceed = "proceed"

// reply reads a script's {status, detail, outbox result, duplicate}.
func reply(op shop.Op, orderID string, v []any) (Result, error) {
	if len(v) != 4 {
		return Result{}, fmt.Errorf("%s %s: unexpected script reply %v", op, orderID, v)
	}
	status, _ := v[0].(string)
	detail, _ := v[1].(string)
	outbox, _ := v[2].(string)
	dup, _ := v[3].(int64)
	res := Result{OrderID: orderID, Op: string(op), Detail: detail, Duplicate: dup == 1, Outbox: outbox}
	switch status {
	case "ok":
		return res, nil
	case statusProceed:
		res.proceed = true
		return res, nil
	case "dropped":
		res.Dropped = true
		return res, nil
	case "fail":
		return res, &RefusalError{Op: op, Reason: detail}
	case "transient":
		return res, &TransientError{Op: op, Detail: detail}
	}
	return res, fmt.Errorf("%s %s: unexpected script status %q", op, orderID, status)
}

// call returns the keys and arguments of the scripts of check, charge,
// refund, schedule and cancel: the order's record and its partition's
// totals.
func (s Store) call(l Layout, op shop.Op, in OrderInput) (keys []string, args []any) {
	p := l.Partition(in.OrderID)
	_, pay, ship := l.OrderKeys(in.OrderID)
	switch op {
	case shop.OpCheck:
		return []string{l.FraudKey(in.OrderID)}, []any{shop.FraudRefusal(in.Customer, s.amount(in))}
	case shop.OpCharge:
		return []string{pay, l.LedgerKey(p)}, []any{s.amount(in)}
	case shop.OpRefund:
		return []string{pay, l.LedgerKey(p)}, nil
	case shop.OpSchedule:
		return []string{ship, l.ShipmentsKey(p)}, []any{"SHP-" + in.OrderID}
	case shop.OpCancel:
		return []string{ship, l.ShipmentsKey(p)}, nil
	}
	return nil, nil
}

// amount is what the order costs: its amount priced at placement, or its
// items priced from the store's catalog when it has none.
func (s Store) amount(in OrderInput) int64 {
	if in.AmountCents > 0 {
		return in.AmountCents
	}
	return shop.Order{Items: in.Items}.Total(s.Catalog)
}
