package activities

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/ordersaga/ordersaga/shop"
)

// Call is one operation of a batch (see Participants.CommitBatch).
type Call struct {
	Op     shop.Op
	In     OrderInput
	Outbox *Outbox
}

// Outcome is one call's result and error, as Commit returns them.
type Outcome struct {
	Result Result
	Err    error
}

// CommitBatch runs calls as Commit runs each one, sharing round trips: the
// per-SKU steps of every reservation and release go in one pipeline, then
// every operation's script in another. Each call keeps its own outcome,
// in the order of calls. A call with a delay planned, and a reservation or
// release with any fault planned (it checks its fault first), runs on its
// own, beside the others, so it holds none of them back.
func (p Participants) CommitBatch(ctx context.Context, calls []Call) []Outcome {
	out := make([]Outcome, len(calls))
	var alone sync.WaitGroup
	var together []int
	for i, c := range calls {
		if p.Inventory.runsAlone(c) {
			alone.Go(func() { out[i].Result, out[i].Err = p.Commit(ctx, c.Op, c.In, c.Outbox) })
			continue
		}
		together = append(together, i)
	}
	if len(together) > 0 {
		p.Inventory.runTogether(ctx, calls, together, out)
	}
	alone.Wait()
	return out
}

// runsAlone says whether a call of a batch runs on its own (see CommitBatch).
func (s Store) runsAlone(c Call) bool {
	if !slices.Contains(shop.Ops, c.Op) || (c.Outbox != nil && s.scripts == nil) {
		return true // Commit says what is wrong with it
	}
	f, planned := c.In.Faults.For(c.Op)
	return planned && (f.Kind == shop.FaultDelay || isStock(c.Op))
}

func isStock(op shop.Op) bool { return op == shop.OpReserve || op == shop.OpRelease }

// batched is a call of a batch on its way: the keys and arguments of its
// operation's script, and for a reservation or release its SKU step.
type batched struct {
	i    int
	call Call
	f    fault
	own  scriptCall
	sku  *skuStep
}

// runTogether runs the calls of a batch at indexes idx, with their SKU
// steps in one pipeline and their scripts in another, and sets their
// outcomes in out.
func (s Store) runTogether(ctx context.Context, calls []Call, idx []int, out []Outcome) {
	l, err := s.keys(ctx)
	if err != nil {
		for _, i := range idx {
			out[i].Err = fmt.Errorf("%s %s: %w", calls[i].Op, calls[i].In.OrderID, err)
		}
		return
	}
	bs := make([]*batched, 0, len(idx))
	for _, i := range idx {
		bs = append(bs, s.batchedCall(l, i, calls[i]))
	}
	bs = s.runSKUSteps(ctx, l, bs, out)
	runs := make([]scriptRun, 0, len(bs))
	ready := bs[:0]
	for _, b := range bs {
		run, err := s.prepare(b.call, b.f, b.own)
		if err != nil {
			out[b.i].Err = err
			continue
		}
		runs, ready = append(runs, run), append(ready, b)
	}
	replies, errs := runScripts(ctx, s.Redis, runs)
	for k, b := range ready {
		out[b.i].Result, out[b.i].Err = s.settle(ctx, l, b, replies[k], errs[k])
	}
}

// batchedCall sets a call of a batch on its way. A reservation or release
// runs its SKU step first (faults make it run alone, see runsAlone).
func (s Store) batchedCall(l Layout, i int, c Call) *batched {
	b := &batched{i: i, call: c}
	if f, planned := c.In.Faults.For(c.Op); planned {
		b.f = fault{kind: string(f.Kind), attempts: f.Attempts}
	}
	if !isStock(c.Op) {
		b.own.keys, b.own.args = s.call(l, c.Op, c.In)
		return b
	}
	inv, _, _ := l.OrderKeys(c.In.OrderID)
	b.own.keys = []string{inv}
	lines, refuse := s.stockLines(c.Op, c.In)
	if refuse != "" {
		b.own.args = []any{"refuse", refuse}
		return b
	}
	action := "release"
	if c.Op == shop.OpReserve {
		action = "reserve"
	}
	st := skuStepsOf(s.Redis, l, action, orderStock{orderID: c.In.OrderID, token: tokenOf(c.Outbox), lines: lines})
	b.sku = &st
	return b
}

// stock is what a batched reservation's or release's SKU steps work on.
func (b *batched) stock() orderStock {
	return orderStock{orderID: b.call.In.OrderID, token: tokenOf(b.call.Outbox), lines: b.sku.lines}
}

func tokenOf(ob *Outbox) string {
	if ob == nil {
		return ""
	}
	return ob.Token
}

// runSKUSteps runs the SKU steps of the batch's reservations and releases
// in one pipeline and turns each result into its script's arguments (see
// runStock). It returns the calls that go on to their scripts; the others
// have their outcome in out.
func (s Store) runSKUSteps(ctx context.Context, l Layout, bs []*batched, out []Outcome) []*batched {
	var runs []scriptRun
	for _, b := range bs {
		if b.sku != nil {
			runs = append(runs, b.sku.runs...)
		}
	}
	if len(runs) == 0 {
		return bs
	}
	replies, errs := runScripts(ctx, s.Redis, runs)
	next, k := bs[:0], 0
	for _, b := range bs {
		if b.sku == nil {
			next = append(next, b)
			continue
		}
		n := len(b.sku.runs)
		args, err := s.skuResult(ctx, l, b, replies[k:k+n], errs[k:k+n])
		k += n
		if err != nil {
			out[b.i].Err = fmt.Errorf("%s %s: %w", b.call.Op, b.call.In.OrderID, err)
			continue
		}
		b.own.args = args
		next = append(next, b)
	}
	return next
}

// skuResult turns a reservation's or release's SKU step into its script's
// arguments.
func (s Store) skuResult(ctx context.Context, l Layout, b *batched, replies []any, errs []error) ([]any, error) {
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	after, err := b.sku.after(replies)
	if err != nil {
		return nil, err
	}
	if b.call.Op != shop.OpReserve {
		return []any{"go", ""}, nil
	}
	return s.settleReservation(ctx, l, b.stock(), after)
}

// settle reads a batched call's script reply; a reservation or release the
// outbox's guard dropped undoes its SKU step (see runStock).
func (s Store) settle(ctx context.Context, l Layout, b *batched, v any, err error) (Result, error) {
	op, id := b.call.Op, b.call.In.OrderID
	if err != nil {
		return Result{}, fmt.Errorf("%s %s: %w", op, id, err)
	}
	reply0, ok := v.([]any)
	if !ok {
		return Result{}, fmt.Errorf("%s %s: unexpected script reply %v", op, id, v)
	}
	res, err := reply(op, id, reply0)
	if err == nil && res.Dropped && b.sku != nil {
		if _, err := s.skuSteps(ctx, l, "undo", b.stock()); err != nil {
			return res, fmt.Errorf("%s %s: undo for a dropped order: %w", op, id, err)
		}
	}
	return res, err
}
