// Package bench measures the order saga: it generates a seeded workload of
// orders with fault plans, places it on an engine with a fixed number of
// sagas in flight, records each saga's latency from placement to terminal
// status in an HDR histogram, measures the bare engines (a no-op Temporal
// workflow and a plain Redis Streams pipeline) with the same harness, and
// renders the results as a table, Markdown or JSON.
package bench

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/ordersaga/ordersaga/shop"
)

// Workload bounds.
const (
	MaxItems    = 3 // distinct SKUs per order, at least one
	MaxQuantity = 5 // per item, at least one
	MaxOrders   = 1_000_000
	// ScarceSKU is left out of generated orders: its stock is small on
	// purpose, so whether an order gets it would depend on timing.
	ScarceSKU = "poster"
)

// Workload is the orders of one bench run. Their content depends only on
// Seed, the count and the fault rules; only the IDs carry the run's nonce, so
// both engines get the same orders while Temporal, which keeps the IDs of
// finished workflows, never sees an ID twice.
type Workload struct {
	Seed   uint64
	Nonce  string
	Rules  []FaultRule
	Orders []shop.Order
}

// OrderID is the ID of the i-th order of a run: "b<seed>-<nonce>-<i>".
func OrderID(seed uint64, nonce string, i int) string {
	return fmt.Sprintf("b%d-%s-%d", seed, nonce, i)
}

// Generate builds n orders from seed: each with 1 to MaxItems distinct SKUs
// of the catalog (never ScarceSKU), quantities 1 to MaxQuantity, placed by a
// named customer, and for each rule, in order, the rule's fault with the
// rule's probability. No order may be one the fraud check's rule refuses
// (shop.FraudRefusal): only a fault rule (fraud=decline:P) refuses orders,
// so a mix means what it says; a catalog priced so that some would be
// refused is an error. The random
// stream is a PCG seeded from seed alone and every order draws the same
// number of values, so the i-th order is the same whatever n is.
func Generate(seed uint64, nonce string, n int, rules []FaultRule, catalog shop.Catalog) (Workload, error) {
	if n < 1 || n > MaxOrders {
		return Workload{}, fmt.Errorf("orders must be from 1 to %d, got %d", MaxOrders, n)
	}
	skus := slices.DeleteFunc(catalog.SKUs(), func(s string) bool { return s == ScarceSKU })
	if len(skus) == 0 {
		return Workload{}, fmt.Errorf("the catalog has no SKU besides %q", ScarceSKU)
	}
	rng := rand.New(rand.NewPCG(seed, 0x6f72646572736167)) // "ordersag"
	w := Workload{Seed: seed, Nonce: nonce, Rules: rules, Orders: make([]shop.Order, n)}
	pick := make([]string, len(skus))
	for i := range w.Orders {
		o := shop.Order{ID: OrderID(seed, nonce, i), Customer: "bench"}
		copy(pick, skus)
		k := 1 + rng.IntN(min(MaxItems, len(pick)))
		// A partial Fisher-Yates shuffle: the first k picks are distinct.
		for j := range MaxItems {
			if j >= len(pick) {
				_ = rng.Uint64() // keep the stream aligned
				continue
			}
			r := j + rng.IntN(len(pick)-j)
			pick[j], pick[r] = pick[r], pick[j]
		}
		for j := range MaxItems {
			q := 1 + rng.IntN(MaxQuantity)
			if j < k {
				o.Items = append(o.Items, shop.Item{SKU: pick[j], Quantity: q})
			}
		}
		for _, r := range rules {
			if rng.Float64() < r.Prob {
				if o.Faults == nil {
					o.Faults = shop.FaultPlan{}
				}
				o.Faults[r.Op] = r.Fault
			}
		}
		if err := o.Validate(catalog); err != nil {
			return Workload{}, fmt.Errorf("generated order %d: %w", i, err)
		}
		if why := shop.FraudRefusal(o.Customer, o.Total(catalog)); why != "" {
			return Workload{}, fmt.Errorf("generated order %d: the fraud check would refuse it (%s): only a fault rule may", i, why)
		}
		w.Orders[i] = o
	}
	return w, nil
}

// Expected returns the status an order's fault plan leads to with ample
// stock (and an amount the fraud check lets through, as Generate's): the
// first forward step with a decline fails the saga, and the saga is FAILED
// when the compensation of a step done before it is declined too (the
// fraud check has none).
// Transient faults are taken to heal within the engines' retry limits, and
// delays change nothing.
func Expected(o shop.Order) shop.Status {
	for k, st := range shop.Steps {
		f, ok := o.Faults.For(st.Forward())
		if !ok || f.Kind != shop.FaultDecline {
			continue
		}
		for _, done := range shop.Steps[:k] {
			if c, ok := o.Faults.For(done.Compensation()); ok && c.Kind == shop.FaultDecline {
				return shop.StatusFailed
			}
		}
		return shop.StatusCompensated
	}
	return shop.StatusCompleted
}

// ExpectedStatuses counts Expected over the workload.
func (w Workload) ExpectedStatuses() map[shop.Status]int {
	out := map[shop.Status]int{}
	for _, o := range w.Orders {
		out[Expected(o)]++
	}
	return out
}

// PlannedFailed returns the IDs of the orders planned to end FAILED.
func (w Workload) PlannedFailed() map[string]bool {
	out := map[string]bool{}
	for _, o := range w.Orders {
		if Expected(o) == shop.StatusFailed {
			out[o.ID] = true
		}
	}
	return out
}

// HasTransient reports whether an order's plan has a transient fault, the
// only kind that makes a participant count attempts.
func HasTransient(o shop.Order) bool {
	for _, f := range o.Faults {
		if f.Kind == shop.FaultTransient {
			return true
		}
	}
	return false
}
