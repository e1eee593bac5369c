package choreography_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/internal/app/scenarios"
	"github.com/ordersaga/ordersaga/internal/app/verify"
	"github.com/ordersaga/ordersaga/internal/platform/poll"
	"github.com/ordersaga/ordersaga/internal/testkit/teststack"
	"github.com/ordersaga/ordersaga/shop"
)

// duplicator re-publishes every entry of every stream once, as a copy.
func (h *harness) duplicator(ctx context.Context) *atomic.Int64 {
	var copies atomic.Int64
	streams := h.node.Bus.Streams()
	go func() {
		last := map[string]string{}
		copied := map[string]bool{}
		for ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
			for _, s := range streams {
				from := "-"
				if id, ok := last[s]; ok {
					from = "(" + id
				}
				msgs, err := h.rdb.XRange(ctx, s, from, "+").Result()
				if err != nil {
					continue
				}
				for _, m := range msgs {
					last[s] = m.ID
					if copied[s+m.ID] {
						continue
					}
					id, err := h.rdb.XAdd(ctx, &redis.XAddArgs{Stream: s, Values: m.Values}).Result()
					if err == nil {
						copied[s+id] = true
						copies.Add(1)
					}
				}
			}
		}
	}()
	return &copies
}

func TestDuplicatesChangeNothing(t *testing.T) { onBoth(t, testDuplicatesChangeNothing) }

func testDuplicatesChangeNothing(t *testing.T, h *harness) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	copies := h.duplicator(ctx)
	h.startAll()
	scenarios.Run(t, h.engine, h.rdb, activities.ChoreographyPrefix)
	// Let the copies of the last events drain too.
	time.Sleep(300 * time.Millisecond)
	cancel()
	if copies.Load() == 0 {
		t.Fatal("no event was duplicated")
	}
	t.Logf("re-published %d events", copies.Load())
	waitDrained(t, h)
	l, _ := activities.ReadLedger(context.Background(), h.rdb, activities.ChoreographyPrefix)
	completed := 0
	for _, sc := range scenarios.Table() {
		if sc.Status == shop.StatusCompleted {
			completed++
		}
	}
	// Every charge happened once: charges = completed orders + those later refunded or failed.
	if l.Charges > int64(len(scenarios.Table())) {
		t.Fatalf("%d charges for %d orders", l.Charges, len(scenarios.Table()))
	}
}

func waitDrained(t *testing.T, h *harness) {
	t.Helper()
	teststack.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		backlog, err := h.node.Bus.Backlog(context.Background())
		if err == nil && len(backlog) == 0 {
			return nil
		}
		return fmt.Errorf("not drained: %v %v", backlog, err)
	})
}

// streamLen sums the length of a service's streams over the partitions.
func (h *harness) streamLen(service string) int64 {
	h.t.Helper()
	var n int64
	for p := range h.node.Bus.Layout().Partitions {
		n += h.rdb.XLen(context.Background(), h.node.Bus.StreamOf(p, service)).Val()
	}
	return n
}

// A consumer that read entries and died before handling them: another
// consumer of the group reclaims them and finishes the sagas, once.
func TestDeadConsumerEntriesAreReclaimed(t *testing.T) {
	onBoth(t, testDeadConsumerEntriesAreReclaimed)
}

func testDeadConsumerEntriesAreReclaimed(t *testing.T, h *harness) {
	for _, s := range []string{choreography.ServiceOrder, choreography.ServiceInventory, choreography.ServiceFraud, choreography.ServiceShipping, choreography.ServiceNotify} {
		h.start(s, s+"-1")
	}
	const n = 5
	ctx := context.Background()
	for i := range n {
		if err := h.engine.Place(ctx, order(fmt.Sprintf("orphan-%d", i), nil)); err != nil {
			t.Fatal(err)
		}
	}
	// The doomed payment consumer takes the InventoryReserved entries and dies.
	taken := 0
	teststack.Eventually(t, 10*time.Second, 10*time.Millisecond, func() error {
		for p := range h.node.Bus.Layout().Partitions {
			stream := h.node.Bus.StreamOf(p, choreography.ServiceInventory)
			res, err := h.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: choreography.ServicePayment, Consumer: "payment-doomed", Streams: []string{stream, ">"}, Block: -1}).Result()
			if err == nil {
				taken += len(res[0].Messages)
			}
		}
		if taken < n {
			return fmt.Errorf("doomed consumer took %d entries, want %d", taken, n)
		}
		return nil
	})
	if taken != n {
		t.Fatalf("doomed consumer took %d entries, want %d", taken, n)
	}
	h.start(choreography.ServicePayment, "payment-2")
	for i := range n {
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		out, err := h.engine.Wait(wctx, fmt.Sprintf("orphan-%d", i))
		cancel()
		if err != nil || out.Status != shop.StatusCompleted {
			t.Fatalf("orphan-%d: %v %v", i, out.Status, err)
		}
	}
	l, _ := activities.ReadLedger(ctx, h.rdb, activities.ChoreographyPrefix)
	if l.Charges != n {
		t.Fatalf("%d charges, want %d", l.Charges, n)
	}
	waitDrained(t, h)
}

// Handlers that die before their commit are retried; handlers that die
// right after it (the work and the ack already committed together) cause
// no second effect.
func TestHandlerDyingBeforeOrAfterCommit(t *testing.T) {
	onBoth(t, testHandlerDyingBeforeOrAfterCommit)
}

func testHandlerDyingBeforeOrAfterCommit(t *testing.T, h *harness) {
	for _, s := range []string{choreography.ServiceOrder, choreography.ServiceInventory, choreography.ServiceFraud, choreography.ServiceShipping, choreography.ServiceNotify} {
		h.start(s, s+"-1")
	}
	hs, err := h.node.Handlers(choreography.ServicePayment)
	if err != nil {
		t.Fatal(err)
	}
	var calls sync.Map
	wrapped := map[choreography.EventType]choreography.Handler{}
	for typ, next := range hs {
		wrapped[typ] = func(ctx context.Context, d *choreography.Delivery) error {
			n, _ := calls.LoadOrStore(d.ID, new(atomic.Int32))
			switch n.(*atomic.Int32).Add(1) {
			case 1: // dies before doing anything
				return fmt.Errorf("simulated crash before commit")
			case 2: // commits, then dies before it can report success
				if err := next(ctx, d); err != nil {
					return err
				}
				return fmt.Errorf("simulated crash after commit")
			}
			return next(ctx, d)
		}
	}
	defer h.consume(choreography.ServicePayment, wrapped, fastConfig)()

	for i := range 4 {
		o := order(fmt.Sprintf("crashy-%d", i), nil)
		if i%2 == 1 {
			o.Faults = shop.FaultPlan{shop.OpSchedule: {Kind: shop.FaultDecline}}
		}
		out := h.run(o)
		want := shop.StatusCompleted
		if i%2 == 1 {
			want = shop.StatusCompensated
		}
		if out.Status != want {
			t.Fatalf("%s: %s, want %s", o.ID, out.Status, want)
		}
	}
	l, _ := activities.ReadLedger(context.Background(), h.rdb, activities.ChoreographyPrefix)
	if l.Charges != 4 || l.Refunds != 2 {
		t.Fatalf("ledger %+v, want 4 charges and 2 refunds", l)
	}
	waitDrained(t, h)
}

func TestPoisonGoesToDeadLetterAndStreamKeepsFlowing(t *testing.T) {
	onBoth(t, testPoisonGoesToDeadLetterAndStreamKeepsFlowing)
}

func testPoisonGoesToDeadLetterAndStreamKeepsFlowing(t *testing.T, h *harness) {
	h.startAll()
	ctx := context.Background()
	orderStream := h.node.Bus.StreamOf(0, choreography.ServiceOrder)
	poison := []map[string]any{
		{"type": "OrderPlaced", "event": "{not json"},
		{"type": "OrderPlaced", "event": `{"id":"x","type":"OrderPlaced","order_id":"p1","version":99,"payload":{}}`},
		{"type": "OrderPlaced", "event": `{"id":"x","type":"OrderPlaced","version":1}`},
		{"type": "OrderPlaced", "event": `{"id":"x","type":"OrderPlaced","order_id":"p2","version":1,"payload":{"order":{"id":"other"}}}`},
		{"something": "else"},
	}
	for _, v := range poison {
		if err := h.rdb.XAdd(ctx, &redis.XAddArgs{Stream: orderStream, Values: v}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if out := h.run(order("after-poison", nil)); out.Status != shop.StatusCompleted {
		t.Fatalf("order after poison: %s", out.Status)
	}
	waitDrained(t, h)
	dl, err := h.rdb.XRange(ctx, h.node.Bus.DeadLetterStream(0), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	// The notify service reads the order stream too: it dead-letters the
	// entry with no type as well, and skips the OrderPlaced entries unread.
	byInventory := 0
	for _, m := range dl {
		if m.Values["group"] == choreography.ServiceInventory {
			byInventory++
		}
	}
	if byInventory != len(poison) || len(dl) != len(poison)+1 {
		t.Fatalf("dead-letter stream holds %d entries, %d of the inventory group, want %d and 1 of the notify group", len(dl), byInventory, len(poison))
	}
	reasons := []string{}
	for _, m := range dl {
		if m.Values["group"] == choreography.ServiceNotify {
			continue
		}
		r, _ := m.Values["reason"].(string)
		if r == "" || m.Values["stream"] != orderStream || m.Values["group"] != choreography.ServiceInventory {
			t.Fatalf("dead letter without reason or origin: %v", m.Values)
		}
		if strings.HasSuffix(strings.TrimSpace(r), ":") {
			t.Errorf("a dead-letter reason ends in a colon: %q", r)
		}
		reasons = append(reasons, r)
	}
	joined := strings.Join(reasons, "\n")
	for _, want := range []string{"malformed", "unknown schema version"} {
		if !strings.Contains(joined, want) {
			t.Fatalf("no dead letter says %q:\n%s", want, joined)
		}
	}
}

func TestRetriesExhaustedGoToDeadLetter(t *testing.T) { onBoth(t, testRetriesExhaustedGoToDeadLetter) }

func testRetriesExhaustedGoToDeadLetter(t *testing.T, h *harness) {
	hs := map[choreography.EventType]choreography.Handler{
		choreography.OrderPlaced: func(context.Context, *choreography.Delivery) error { return fmt.Errorf("always broken") },
	}
	cfg := fastConfig
	cfg.MaxDeliveries = 3
	defer h.consume(choreography.ServiceInventory, hs, cfg)()
	ctx := context.Background()
	if err := h.engine.Place(ctx, order("never", nil)); err != nil {
		t.Fatal(err)
	}
	teststack.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		dl, _ := h.node.Bus.DeadLetters(ctx, 0)
		if len(dl) != 1 {
			return errors.New("entry was never dead-lettered")
		}
		if !strings.Contains(dl[0].Reason, "delivered 3 times") {
			t.Fatalf("reason %v", dl[0].Reason)
		}
		return nil
	})
}

func TestServiceDownCatchesUp(t *testing.T) { onBoth(t, testServiceDownCatchesUp) }

func testServiceDownCatchesUp(t *testing.T, h *harness) {
	for _, s := range []string{choreography.ServiceOrder, choreography.ServiceInventory, choreography.ServiceFraud, choreography.ServiceShipping, choreography.ServiceNotify} {
		h.start(s, s+"-1")
	}
	ctx := context.Background()
	const n = 20
	for i := range n {
		if err := h.engine.Place(ctx, order(fmt.Sprintf("waiting-%d", i), nil)); err != nil {
			t.Fatal(err)
		}
	}
	teststack.Eventually(t, 10*time.Second, 10*time.Millisecond, func() error {
		p, err := h.engine.Status(ctx, fmt.Sprintf("waiting-%d", n-1))
		if err != nil {
			t.Fatal(err)
		}
		if p.Current != shop.OpCharge {
			return fmt.Errorf("order never reached the charge step: %+v", p)
		}
		if p.Status != shop.StatusPending {
			t.Fatalf("status %s while payment is down", p.Status)
		}
		return nil
	})
	h.start(choreography.ServicePayment, "payment-1")
	for i := range n {
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		out, err := h.engine.Wait(wctx, fmt.Sprintf("waiting-%d", i))
		cancel()
		if err != nil || out.Status != shop.StatusCompleted {
			t.Fatalf("waiting-%d: %v %v", i, out.Status, err)
		}
	}
	waitDrained(t, h)
}

func TestSeveralInstancesShareAGroup(t *testing.T) { onBoth(t, testSeveralInstancesShareAGroup) }

func testSeveralInstancesShareAGroup(t *testing.T, h *harness) {
	h.startAll()
	h.start(choreography.ServicePayment, "payment-2")
	h.start(choreography.ServiceInventory, "inventory-2")
	ctx := context.Background()
	const n = 60
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := order(fmt.Sprintf("many-%d", i), nil)
			if i%3 == 0 {
				o.Faults = shop.FaultPlan{shop.OpCharge: {Kind: shop.FaultDecline}}
			}
			if err := h.engine.Place(ctx, o); err != nil {
				t.Error(err)
				return
			}
			wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			if _, err := h.engine.Wait(wctx, o.ID); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	l, _ := activities.ReadLedger(ctx, h.rdb, activities.ChoreographyPrefix)
	if l.Charges != n-n/3 {
		t.Fatalf("%d charges, want %d", l.Charges, n-n/3)
	}
	waitDrained(t, h)
}

func TestDuplicatePlaceIsRejected(t *testing.T) { onBoth(t, testDuplicatePlaceIsRejected) }

func testDuplicatePlaceIsRejected(t *testing.T, h *harness) {
	ctx := context.Background()
	if err := h.engine.Place(ctx, order("twice", nil)); err != nil {
		t.Fatal(err)
	}
	err := h.engine.Place(ctx, order("twice", nil))
	if err == nil || !errorsIs(err, shop.ErrDuplicateOrder) {
		t.Fatalf("second place: %v, want ErrDuplicateOrder", err)
	}
	if n := h.streamLen(choreography.ServiceOrder); n != 1 {
		t.Fatalf("order stream holds %d entries, want 1", n)
	}
	if _, err := h.engine.Status(ctx, "nope"); !errorsIs(err, shop.ErrUnknownOrder) {
		t.Fatalf("status of unknown order: %v", err)
	}
	if err := h.engine.Place(ctx, shop.Order{ID: "bad", Items: []shop.Item{{SKU: "nope", Quantity: 1}}}); !errorsIs(err, shop.ErrInvalidOrder) {
		t.Fatalf("invalid order: %v", err)
	}
	for _, customer := range []string{strings.Repeat("a", 120_000), "[x](javascript:alert(1))"} {
		o := order("bad-customer", nil)
		o.Customer = customer
		if err := h.engine.Place(ctx, o); !errorsIs(err, shop.ErrInvalidOrder) {
			t.Fatalf("customer of %d bytes: %v, want ErrInvalidOrder", len(customer), err)
		}
	}
	if n := h.streamLen(choreography.ServiceOrder); n != 1 {
		t.Fatalf("order stream holds %d entries after refused orders, want 1", n)
	}
}

func TestTrimKeepsUnackedEntries(t *testing.T) { onBoth(t, testTrimKeepsUnackedEntries) }

func testTrimKeepsUnackedEntries(t *testing.T, h *harness) {
	ctx := context.Background()
	for i := range 10 {
		if err := h.engine.Place(ctx, order(fmt.Sprintf("trim-%d", i), nil)); err != nil {
			t.Fatal(err)
		}
	}
	// Nobody has read the order stream: nothing may go.
	if n, err := h.node.Bus.Trim(ctx, 0); err != nil || n != 0 {
		t.Fatalf("trimmed %d (err %v) before anything was read", n, err)
	}
	h.startAll()
	for i := range 10 {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if _, err := h.engine.Wait(wctx, fmt.Sprintf("trim-%d", i)); err != nil {
			t.Fatal(err)
		}
		cancel()
	}
	waitDrained(t, h)
	before := h.streamLen(choreography.ServiceOrder)
	if before != 20 { // 10 OrderPlaced, 10 OrderCompleted
		t.Fatalf("order stream holds %d entries, want 20", before)
	}
	if _, err := h.node.Bus.Trim(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	if n := h.streamLen(choreography.ServiceOrder); n != before {
		t.Fatalf("retention of an hour kept %d of %d entries", n, before)
	}
	if _, err := h.node.Bus.Trim(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if n := h.streamLen(choreography.ServiceOrder); n > int64(h.node.Bus.Layout().Partitions) {
		t.Fatalf("order streams still hold %d acked entries", n)
	}
	// History survives trimming.
	if hist, err := h.engine.History(ctx, "trim-0"); err != nil || len(hist) != 6 { // with FraudCleared
		t.Fatalf("history after trim: %d entries, %v", len(hist), err)
	}
}

// An entry dead-lettered while its handler was broken completes the saga
// once it is redriven after the fix.
func TestRedriveAfterFix(t *testing.T) { onBoth(t, testRedriveAfterFix) }

func testRedriveAfterFix(t *testing.T, h *harness) {
	for _, s := range []string{choreography.ServiceOrder, choreography.ServiceFraud, choreography.ServicePayment, choreography.ServiceShipping, choreography.ServiceNotify} {
		h.start(s, s+"-1")
	}
	broken := map[choreography.EventType]choreography.Handler{
		choreography.OrderPlaced: func(context.Context, *choreography.Delivery) error { return fmt.Errorf("inventory database is down") },
	}
	cfg := fastConfig
	cfg.MaxDeliveries = 2
	cfg.Name = "inventory-broken"
	stop := h.consume(choreography.ServiceInventory, broken, cfg)
	if err := h.engine.Place(context.Background(), order("redrive-me", nil)); err != nil {
		t.Fatal(err)
	}
	var dl []choreography.DeadLetter
	// The consumer stops before dl is checked: this wait never fails.
	_ = poll.For(context.Background(), 10*time.Second, poll.Every(20*time.Millisecond), func(context.Context) (bool, error) {
		dl, _ = h.node.Bus.DeadLetters(context.Background(), 0)
		return len(dl) > 0, nil
	})
	stop()
	if len(dl) != 1 || dl[0].Type != string(choreography.OrderPlaced) || dl[0].Group != choreography.ServiceInventory || dl[0].Deliveries < 2 {
		t.Fatalf("dead letters: %+v", dl)
	}
	if _, err := h.node.Bus.Redrive(context.Background(), "0-1"); err == nil {
		t.Fatal("redrive of an unknown ID succeeded")
	}
	// The fix: the real inventory service runs again.
	h.start(choreography.ServiceInventory, "inventory-1")
	got, err := h.node.Bus.Redrive(context.Background(), dl[0].ID)
	if err != nil || len(got) != 1 {
		t.Fatalf("redrive: %v %v", got, err)
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	out, err := h.engine.Wait(wctx, "redrive-me")
	if err != nil || out.Status != shop.StatusCompleted {
		t.Fatalf("after redrive: %v %v", out.Status, err)
	}
	if left, _ := h.node.Bus.DeadLetters(context.Background(), 0); len(left) != 0 {
		t.Fatalf("dead-letter stream still holds %d entries", len(left))
	}
	waitDrained(t, h)
}

// Settling folds finished orders into totals and deletes their records:
// verify still balances, FAILED orders stay, memory goes back down, and an
// old event of a settled order is not redriven.
func TestSettleKeepsTheBooksAndFreesMemory(t *testing.T) {
	onBoth(t, testSettleKeepsTheBooksAndFreesMemory)
}

func testSettleKeepsTheBooksAndFreesMemory(t *testing.T, h *harness) {
	h.startAll()
	ctx := context.Background()
	scenarios.Run(t, h.engine, h.rdb, activities.ChoreographyPrefix)
	waitDrained(t, h)
	before, err := verify.Check(ctx, h.rdb, h.engine, shop.DefaultCatalog(), verify.Options{})
	if err != nil {
		t.Fatal(err)
	}

	// A dead letter of a finished order, to redrive after it is settled.
	var someID string
	orders := mustOrders(t, h)
	for _, o := range orders {
		if o.Status == shop.StatusCompleted {
			someID = o.ID
			break
		}
	}
	placed, _ := h.rdb.LIndex(ctx, h.node.Bus.HistoryKey(someID), 0).Result()
	err = h.node.Bus.AddDeadLetter(ctx, h.node.Bus.StreamFor(someID, choreography.ServiceOrder), choreography.ServiceInventory,
		map[string]any{"type": "OrderPlaced", "event": placed})
	if err != nil {
		t.Fatal(err)
	}
	dls, _ := h.node.Bus.DeadLetters(ctx, 0)
	dl := dls[0].ID

	n, err := h.node.Settle(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	failed := before.Statuses[shop.StatusFailed]
	if n != before.Orders-failed {
		t.Fatalf("settled %d orders, want %d (all but the %d FAILED)", n, before.Orders-failed, failed)
	}
	if again, _ := h.node.Settle(ctx, 0, 1000); again != 0 {
		t.Fatalf("a second settle settled %d more", again)
	}
	h.engine.ExpectDeadLetters = 1
	after, err := verify.Check(ctx, h.rdb, h.engine, shop.DefaultCatalog(), verify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if after.Orders != before.Orders || after.Settled != n || !maps.Equal(after.Statuses, before.Statuses) {
		t.Fatalf("after settling: %d orders %v (%d settled), before %d %v", after.Orders, after.Statuses, after.Settled, before.Orders, before.Statuses)
	}
	if len(after.Violations) != failed {
		t.Fatalf("after settling, want only the %d FAILED orders reported: %v", failed, after.Violations)
	}
	for _, o := range orders {
		if o.Status == shop.StatusFailed {
			continue
		}
		inv, pay, ship := h.node.Bus.Layout().OrderKeys(o.ID)
		if n := h.rdb.Exists(ctx, inv, pay, ship, h.node.Bus.HistoryKey(o.ID)).Val(); n != 0 {
			t.Fatalf("settled order %s keeps %d records", o.ID, n)
		}
	}
	if _, err := h.engine.Status(ctx, someID); !errors.Is(err, shop.ErrUnknownOrder) {
		t.Fatalf("status of a settled order: %v", err)
	}
	if _, err := h.node.Bus.Redrive(ctx, dl); err == nil || !strings.Contains(err.Error(), "already settled") {
		t.Fatalf("redrive of a settled order's event: %v", err)
	}
	// Tampering with the settled totals is caught.
	h.rdb.HIncrBy(ctx, h.node.Bus.SettledKey(0), "net_cents", 1)
	if rep, _ := verify.Check(ctx, h.rdb, h.engine, shop.DefaultCatalog(), verify.Options{}); rep.OK() || len(rep.Violations) == failed {
		t.Fatalf("a wrong settled total went unnoticed: %v", rep.Violations)
	}
}

func mustOrders(t *testing.T, h *harness) []shop.Record {
	t.Helper()
	orders, err := h.engine.Orders(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return orders
}

// A reset deletes the streams and groups under running services; they set
// them up again and keep serving.
func TestServicesSurviveAReset(t *testing.T) { onBoth(t, testServicesSurviveAReset) }

func testServicesSurviveAReset(t *testing.T, h *harness) {
	h.startAll()
	ctx := context.Background()
	if out := h.run(order("before-reset", nil)); out.Status != shop.StatusCompleted {
		t.Fatalf("before reset: %s", out.Status)
	}
	for i := range 3 {
		if _, err := activities.Reset(ctx, h.rdb, activities.ChoreographyPrefix, shop.DefaultCatalog()); err != nil {
			t.Fatal(err)
		}
		if err := h.node.Bus.Setup(ctx); err != nil {
			t.Fatal(err)
		}
		if out := h.run(order(fmt.Sprintf("after-reset-%d", i), nil)); out.Status != shop.StatusCompleted {
			t.Fatalf("after reset %d: %s", i, out.Status)
		}
	}
}
