package activities

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/internal/platform/keyspace"
	"github.com/ordersaga/ordersaga/shop"
)

// Stock lives per SKU, each in its own hash slot, so a reservation or a
// release cannot be one script with the order's records. It runs in up to
// three steps:
//
//  1. with a decline or transient fault planned, a check in the order's
//     partition: its recorded result, the refusal when the release came
//     first, the fault; each ends the operation (and runs the outbox);
//  2. one step per SKU, in the SKU's slot (sku.lua): each is idempotent by
//     order ID, recording in the SKU's holds what it did for the order, so
//     a retry reads back the same result. A reservation is all or nothing:
//     when a SKU is short, the SKUs reserved are rolled back. A release
//     leaves a tombstone, so a reservation that comes after it is refused;
//  3. the commit in the order's partition: the recorded result, the
//     quantities held, and the outbox, together.
//
// A crash between any two steps leaves what a retry finishes: the per-SKU
// steps read back their records and the commit runs once. When the outbox's
// guard drops the operation (its order is settled or unknown), the records
// its delivery wrote (Outbox.Token) are removed and their stock given back,
// also by a redelivery after a crash, before the caller acks.

// stockLine is one distinct SKU of an order and the quantity it wants.
type stockLine struct {
	sku string
	qty int
}

// stockLines returns the order's distinct SKUs with their total quantities
// and, for a reservation, why the items are refused outright ("" if not):
// an empty order, or an item the catalog does not allow.
func (s Store) stockLines(op shop.Op, in OrderInput) ([]stockLine, string) {
	want := map[string]int{}
	for _, it := range in.Items {
		if op == shop.OpReserve {
			if _, ok := s.Catalog[it.SKU]; !ok || it.Quantity < shop.MinQuantity || it.Quantity > shop.MaxQuantity {
				return nil, fmt.Sprintf("invalid item %s x%d", it.SKU, it.Quantity)
			}
		}
		want[it.SKU] += it.Quantity
	}
	if op == shop.OpReserve && len(in.Items) == 0 {
		return nil, "no items"
	}
	lines := make([]stockLine, 0, len(want))
	for _, sku := range distinctSKUs(in.Items) {
		lines = append(lines, stockLine{sku: sku, qty: want[sku]})
	}
	return lines, ""
}

// orderStock is what the SKU steps of one order work on: the order, its
// outbox's token ("" without an outbox) and its lines.
type orderStock struct {
	orderID, token string
	lines          []stockLine
}

// runStock runs reserve or release in the steps described above.
func (s Store) runStock(ctx context.Context, l Layout, c Call, f fault) (Result, error) {
	op, in := c.Op, c.In
	inv, _, _ := l.OrderKeys(in.OrderID)
	keys := []string{inv}
	lines, refuse := s.stockLines(op, in)
	if refuse != "" {
		return s.commit(ctx, c, f, scriptCall{keys: keys, args: []any{"refuse", refuse}})
	}
	if f.kind != "" {
		res, err := s.commit(ctx, c, f, scriptCall{keys: keys, args: []any{"check", ""}})
		if err != nil || res.Dropped || !res.proceed {
			return res, err
		}
	}
	action := "release"
	if op == shop.OpReserve {
		action = "reserve"
	}
	o := orderStock{orderID: in.OrderID, token: tokenOf(c.Outbox), lines: lines}
	after, err := s.skuSteps(ctx, l, action, o)
	if err != nil {
		return Result{}, fmt.Errorf("%s %s: %w", op, in.OrderID, err)
	}
	args := []any{"go", ""}
	if op == shop.OpReserve {
		if args, err = s.settleReservation(ctx, l, o, after); err != nil {
			return Result{}, fmt.Errorf("%s %s: %w", op, in.OrderID, err)
		}
	}
	res, err := s.commit(ctx, c, fault{}, scriptCall{keys: keys, args: args})
	if err == nil && res.Dropped {
		if _, err := s.skuSteps(ctx, l, "undo", o); err != nil {
			return res, fmt.Errorf("%s %s: undo for a dropped order: %w", op, in.OrderID, err)
		}
	}
	return res, err
}

// settleReservation turns the per-SKU results into the commit's arguments:
// "ok" with each SKU's quantity, or "fail" with the reason, after rolling
// back the SKUs that were reserved (after is updated to match).
func (s Store) settleReservation(ctx context.Context, l Layout, o orderStock, after []string) ([]any, error) {
	lines := o.lines
	reason, rolledBack := "", false
	var reserved []int
	for i, r := range after {
		switch {
		case strings.HasPrefix(r, "r:"):
			reserved = append(reserved, i)
		case reason != "":
		case strings.HasPrefix(r, "x:"):
			reason = "out of stock: " + lines[i].sku + " has " + r[2:] + ", wanted " + strconv.Itoa(lines[i].qty)
		case r == "t":
			reason = "order was released before it was reserved"
		default:
			rolledBack = true // by an earlier run, for a reason another SKU tells
		}
	}
	if reason == "" && rolledBack {
		reason = "reservation rolled back"
	}
	if reason == "" {
		args := []any{"ok", ""}
		for _, line := range lines {
			args = append(args, line.sku, line.qty)
		}
		return args, nil
	}
	if len(reserved) > 0 {
		back := make([]stockLine, len(reserved))
		for j, i := range reserved {
			back[j] = lines[i]
		}
		o.lines = back
		got, err := s.skuSteps(ctx, l, "rollback", o)
		if err != nil {
			return nil, err
		}
		for j, i := range reserved {
			after[i] = got[j]
		}
	}
	return []any{"fail", reason}, nil
}

// skuSteps runs one action of sku.lua for every line, one call per slot
// (all lines in one call on one Redis, in one pipeline on a cluster), and
// returns each SKU's state after it.
func (s Store) skuSteps(ctx context.Context, l Layout, action string, o orderStock) ([]string, error) {
	steps := skuStepsOf(s.Redis, l, action, o)
	replies, errs := runScripts(ctx, s.Redis, steps.runs)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return steps.after(replies)
}

// skuStep is one action of sku.lua on an order's lines: one script run
// per slot of the lines' SKUs.
type skuStep struct {
	orderID string
	lines   []stockLine
	groups  [][]int // per run, the lines it holds
	runs    []scriptRun
}

// skuStepsOf builds the runs of one action of sku.lua on an order's lines.
func skuStepsOf(rdb redis.UniversalClient, l Layout, action string, o orderStock) skuStep {
	orderID, lines := o.orderID, o.lines
	stocks := make([]string, len(lines))
	for i, line := range lines {
		stocks[i] = l.StockKey(line.sku)
	}
	st := skuStep{orderID: orderID, lines: lines, groups: keyspace.Groups(rdb, stocks)}
	st.runs = make([]scriptRun, len(st.groups))
	for g, idx := range st.groups {
		st.runs[g] = scriptRun{script: skuScript, scriptCall: scriptCall{args: []any{action, orderID, o.token}}}
		for _, i := range idx {
			st.runs[g].keys = append(st.runs[g].keys, stocks[i], l.HoldsKey(lines[i].sku))
			st.runs[g].args = append(st.runs[g].args, lines[i].qty)
		}
	}
	return st
}

// after reads each SKU's state from the replies of the step's runs.
func (st skuStep) after(replies []any) ([]string, error) {
	after := make([]string, len(st.lines))
	for g, idx := range st.groups {
		v, ok := replies[g].([]any)
		if !ok || len(v) != len(idx) {
			return nil, fmt.Errorf("stock of %s: unexpected reply %v", st.orderID, replies[g])
		}
		for j, i := range idx {
			pair, ok := v[j].([]any)
			if !ok || len(pair) != 2 {
				return nil, fmt.Errorf("stock of %s: unexpected reply %v", st.lines[i].sku, v[j])
			}
			after[i], _ = pair[1].(string)
		}
	}
	return after, nil
}

// scriptCall is the keys and arguments of one run of a script.
type scriptCall struct {
	keys []string
	args []any
}

// runScripts runs scripts in one pipeline (on a cluster, one per node, in
// parallel) and returns each run's reply and error. A node that does not
// know a script yet (NOSCRIPT, so the run did nothing) gets it with the
// run done again.
func runScripts(ctx context.Context, rdb redis.UniversalClient, runs []scriptRun) ([]any, []error) {
	pipe := rdb.Pipeline()
	cmds := make([]*redis.Cmd, len(runs))
	for i, r := range runs {
		cmds[i] = r.script.EvalSha(ctx, pipe, r.keys, r.args...)
	}
	_, _ = pipe.Exec(ctx)
	out, errs := make([]any, len(runs)), make([]error, len(runs))
	for i, cmd := range cmds {
		v, err := cmd.Result()
		if redis.HasErrorPrefix(err, "NOSCRIPT") {
			v, err = runs[i].script.Run(ctx, rdb, runs[i].keys, runs[i].args...).Result()
		}
		if err != nil && !errors.Is(err, redis.Nil) {
			errs[i] = err
		}
		out[i] = v
	}
	return out, errs
}

// distinctSKUs lists the SKUs of items once each, in order of appearance.
func distinctSKUs(items []shop.Item) []string {
	var out []string
	for _, it := range items {
		if !slices.Contains(out, it.SKU) {
			out = append(out, it.SKU)
		}
	}
	return out
}
