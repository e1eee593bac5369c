package choreography_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/choreography/stream"
	"github.com/ordersaga/ordersaga/internal/testkit/teststack"
	"github.com/ordersaga/ordersaga/shop"
)

// switchPlan records the plan new orders take, as starter fraud-check
// does, and waits out the engine's plan cache. The harness's deployment is
// fresh: its orders take the fraud check until switched off.
func (h *harness) switchPlan(on bool) {
	h.t.Helper()
	if err := h.engine.SetFraudCheck(context.Background(), on); err != nil {
		h.t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
}

// With the fraud check on, an order takes it between its reservation and
// its charge; a refusal (--fail fraud, or the rule on a large order) ends
// it COMPENSATED: its stock released, nothing charged.
func TestFraudCheck(t *testing.T) { onBoth(t, testFraudCheck) }

func testFraudCheck(t *testing.T, h *harness) {
	ctx := context.Background()
	h.switchPlan(true)
	h.startAll()
	if out := h.run(order("fraud-ok", nil)); out.Status != shop.StatusCompleted ||
		!slices.Equal(out.Steps, shop.Steps) {
		t.Fatalf("cleared order: %+v", out)
	}
	plan, err := shop.ParseFaultPlan([]string{"fraud"})
	if err != nil {
		t.Fatal(err)
	}
	large := order("fraud-large", nil)
	large.Items = []shop.Item{{SKU: "book", Quantity: 48}}
	for _, o := range []shop.Order{order("fraud-fail", plan), large} {
		before := h.stock("book")
		out := h.run(o)
		if out.Status != shop.StatusCompensated || out.FailedStep != shop.StepFraud ||
			!slices.Equal(out.Compensated, []shop.Step{shop.StepInventory}) || !slices.Equal(out.Steps, []shop.Step{shop.StepInventory}) ||
			!strings.HasPrefix(out.Reason, activities.ErrTypeFraudSuspected) {
			t.Fatalf("%s refused by the fraud check: %+v", o.ID, out)
		}
		if after := h.stock("book"); after != before {
			t.Errorf("%s: book stock %d before, %d after: not released", o.ID, before, after)
		}
		st, err := h.node.Bus.Layout().ReadOrderState(ctx, h.rdb, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		if st.Ops[shop.OpCharge].Status != "" || st.Ops[shop.OpCheck].Status != "fail" {
			t.Errorf("%s: %+v, want the check refused and no charge", o.ID, st.Ops)
		}
	}
	waitDrained(t, h)
	if n, err := h.node.Bus.DeadLetterCount(ctx); err != nil || n != 0 {
		t.Fatalf("%d dead letters (%v), want none", n, err)
	}
}

// stock is a SKU's stock now.
func (h *harness) stock(sku string) int64 {
	h.t.Helper()
	n, err := h.rdb.Get(context.Background(), h.node.Bus.Layout().StockKey(sku)).Int64()
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

// An order keeps the plan it was placed with: one placed before the
// switch completes without the fraud check though the fraud service runs,
// one placed after takes it; the order's record, not the event, says.
func TestPlanTravelsWithTheOrder(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.switchPlan(false)
	old := order("plan-old", nil)
	if err := h.engine.Place(ctx, old); err != nil {
		t.Fatal(err)
	}
	h.switchPlan(true)
	h.startAll()
	out, err := h.engine.Wait(ctx, old.ID)
	if err != nil || out.Status != shop.StatusCompleted || !slices.Equal(out.Steps, shop.StepsBeforeFraud) {
		t.Fatalf("order placed before the switch: %+v %v", out, err)
	}
	if out := h.run(order("plan-new", nil)); !slices.Equal(out.Steps, shop.Steps) {
		t.Fatalf("order placed after the switch: %+v", out)
	}
	h.switchPlan(false)
	if out := h.run(order("plan-off", nil)); !slices.Equal(out.Steps, shop.StepsBeforeFraud) {
		t.Fatalf("order placed after the switch back: %+v", out)
	}
	waitDrained(t, h)
	if n, err := h.node.Bus.DeadLetterCount(ctx); err != nil || n != 0 {
		t.Fatalf("%d dead letters (%v), want none", n, err)
	}
}

// A FraudCleared that only payment reacts to is acked by the inventory
// group, not dead-lettered, while payment does not run; payment charges
// the order once it runs.
func TestFraudClearedIsNotDeadLettered(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.switchPlan(true)
	for _, s := range choreography.Services {
		if s != choreography.ServicePayment {
			h.start(s, s+"-1")
		}
	}
	o := order("cleared", nil)
	if err := h.engine.Place(ctx, o); err != nil {
		t.Fatal(err)
	}
	teststack.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		return ackedBy(ctx, h, choreography.ServiceFraud, choreography.ServiceInventory, 1)
	})
	if n, err := h.node.Bus.DeadLetterCount(ctx); err != nil || n != 0 {
		t.Fatalf("%d dead letters (%v), want none", n, err)
	}
	h.start(choreography.ServicePayment, "payment-1")
	out, err := h.engine.Wait(ctx, o.ID)
	if err != nil || !slices.Equal(out.Steps, shop.Steps) {
		t.Fatalf("%+v %v", out, err)
	}
}

// ackedBy says whether group read and acked want entries of service's
// streams.
func ackedBy(ctx context.Context, h *harness, service, group string, want int64) error {
	var read int64
	for _, s := range h.node.Bus.StreamsOf(service) {
		gs, err := h.rdb.XInfoGroups(ctx, s).Result()
		if err != nil && !errors.Is(err, redis.Nil) && !strings.Contains(err.Error(), "no such key") {
			return err
		}
		for _, g := range gs {
			if g.Name == group {
				if g.Pending != 0 {
					return fmt.Errorf("%s has %d pending on %s", group, g.Pending, s)
				}
				read += g.EntriesRead
			}
		}
	}
	if read != want {
		return fmt.Errorf("%s read %d entries of %s's streams, want %d", group, read, service, want)
	}
	return nil
}

// The fraud check cannot be turned on while a live consumer of the
// inventory or payment group reads an older catalogue (its presence
// record has no revision, or an older one); it can once none does.
func TestFraudCheckWaitsForConsumers(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.switchPlan(false)
	h.startAll()
	// A payment consumer of a build before catalogue revisions: in the
	// group, and live (its presence record, with no revision).
	s := h.node.Bus.StreamOf(0, choreography.ServiceInventory)
	if err := h.rdb.XGroupCreateConsumer(ctx, s, choreography.ServicePayment, "payment-old").Err(); err != nil {
		t.Fatal(err)
	}
	key := stream.PresenceKey(s, choreography.ServicePayment, "payment-old")
	if err := h.rdb.Set(ctx, key, "host old pid 1 #x", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	err := h.engine.SetFraudCheck(ctx, true)
	if !errors.Is(err, choreography.ErrConsumersBehind) || !strings.Contains(err.Error(), "payment/payment-old") {
		t.Fatalf("SetFraudCheck(on) with an old payment consumer: %v", err)
	}
	if steps, _ := h.engine.Plan(ctx); !slices.Equal(steps, shop.StepsBeforeFraud) {
		t.Fatalf("plan %v after a refused switch", steps)
	}
	h.rdb.Del(ctx, key) // it stopped
	if err := h.engine.SetFraudCheck(ctx, true); err != nil {
		t.Fatal(err)
	}
	if steps, _ := h.engine.Plan(ctx); !slices.Equal(steps, shop.Steps) {
		t.Fatalf("plan %v after the switch", steps)
	}
}
