package choreography

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/choreography/stream"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/shop"
)

// outboxEnv is a node over its own redis-server whose orders are placed
// but whose services do not run: the test delivers entries itself.
type outboxEnv struct {
	t      testing.TB
	rdb    *redis.Client
	node   *Node
	engine *Engine
}

func newOutboxEnv(t testing.TB) *outboxEnv {
	t.Helper()
	rdb := testenv.StartRedis(t).Client()
	cat := shop.DefaultCatalog()
	ctx := context.Background()
	if err := activities.Seed(ctx, rdb, activities.ChoreographyPrefix, cat); err != nil {
		t.Fatal(err)
	}
	node := NewNode(rdb, cat, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := node.Bus.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	return &outboxEnv{t: t, rdb: rdb, node: node, engine: NewEngine(node, cat)}
}

// place places an order and reads its OrderPlaced through the inventory group.
func (e *outboxEnv) place(o shop.Order) *Delivery {
	e.t.Helper()
	ctx := context.Background()
	if err := e.engine.Place(ctx, o); err != nil {
		e.t.Fatal(err)
	}
	s := e.node.Bus.StreamFor(o.ID, ServiceOrder)
	res, err := e.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: ServiceInventory, Consumer: "c", Streams: []string{s, ">"}, Count: 1, Block: -1}).Result()
	if err != nil {
		e.t.Fatal(err)
	}
	m := res[0].Messages[0]
	ev, err := Decode([]byte(m.Values[fieldEvent].(string)))
	if err != nil {
		e.t.Fatal(err)
	}
	return &Delivery{Delivery: &stream.Delivery{Stream: s, Group: ServiceInventory, ID: m.ID, Values: m.Values}, Event: ev}
}

// commit runs op for the delivered event with the inventory service's outbox.
func (e *outboxEnv) commit(op shop.Op, d *Delivery, r reaction) (activities.Result, error) {
	e.t.Helper()
	s, err := d.Event.Saga()
	if err != nil {
		e.t.Fatal(err)
	}
	return e.node.Participants.Commit(context.Background(), op, activities.InputFor(s.Order), e.node.outbox(context.Background(), ServiceInventory, r, d, s))
}

func (e *outboxEnv) pending(d *Delivery) int64 {
	e.t.Helper()
	return e.rdb.XPending(context.Background(), d.Stream, d.Group).Val().Count
}

func eventJSON(t *testing.T, raw any) Saga {
	t.Helper()
	ev, err := Decode([]byte(raw.(string)))
	if err != nil {
		t.Fatal(err)
	}
	s, err := ev.Saga()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A result is published with its detail filled in, appended to the history
// and the incoming entry acked, once; a duplicate only acks; a transient
// fault does none of it.
func TestOutboxPublishesRecordsAndAcks(t *testing.T) {
	e := newOutboxEnv(t)
	ctx := context.Background()
	reserve := reactions[ServiceInventory][OrderPlaced]
	o := shop.Order{ID: "o1", Customer: "c", Items: []shop.Item{{SKU: "poster", Quantity: 2}}}
	d := e.place(o)
	res, err := e.commit(shop.OpReserve, d, reserve)
	if err != nil || res.Outbox == "" {
		t.Fatalf("reserve = %+v, %v", res, err)
	}
	bad := shop.Order{ID: "o2", Customer: "c", Items: []shop.Item{{SKU: "poster", Quantity: 9}}}
	d2 := e.place(bad)
	if _, err := e.commit(shop.OpReserve, d2, reserve); err == nil {
		t.Fatal("reserve of 9 more posters succeeded")
	}
	var out []redis.XMessage // o1's events (o2's may share the stream)
	for _, m := range e.rdb.XRange(ctx, e.node.Bus.StreamFor(o.ID, ServiceInventory), "-", "+").Val() {
		if eventJSON(t, m.Values[fieldEvent]).Order.ID == o.ID {
			out = append(out, m)
		}
	}
	if len(out) != 1 || out[0].ID != res.Outbox || out[0].Values[fieldType] != string(InventoryReserved) {
		t.Fatalf("published %+v", out)
	}
	failed := e.rdb.XRange(ctx, e.node.Bus.StreamFor(bad.ID, ServiceInventory), "-", "+").Val()
	if n := len(failed); n == 0 || failed[n-1].Values[fieldType] != string(InventoryRejected) {
		t.Fatalf("published %+v", failed)
	}
	if got := eventJSON(t, failed[len(failed)-1].Values[fieldEvent]).Reason; got != "InventoryRejected: out of stock: poster has 8, wanted 9" {
		t.Fatalf("reason = %q", got)
	}
	if h := e.rdb.LRange(ctx, e.node.historyKey(o.ID), 0, -1).Val(); len(h) != 2 || h[1] != out[0].Values[fieldEvent] {
		t.Fatalf("history = %q", h)
	}
	if n := e.pending(d); n != 0 {
		t.Fatalf("%d entries left pending", n)
	}
	again := *d
	if res, err := e.commit(shop.OpReserve, &again, reserve); err != nil || !res.Duplicate || res.Outbox != "" {
		t.Fatalf("duplicate reserve = %+v, %v; want acked with nothing published", res, err)
	}
	flaky := shop.Order{ID: "o3", Customer: "c", Items: []shop.Item{{SKU: "book", Quantity: 1}},
		Faults: shop.FaultPlan{shop.OpReserve: {Kind: shop.FaultTransient, Attempts: 1}}}
	d3 := e.place(flaky)
	if _, err := e.commit(shop.OpReserve, d3, reserve); !activities.IsTransient(err) {
		t.Fatalf("reserve = %v, want a transient fault", err)
	}
	if n := e.rdb.LLen(ctx, e.node.historyKey(flaky.ID)).Val(); n != 1 || e.pending(d3) != 1 {
		t.Fatalf("a transient fault published (history of %d) or acked", n)
	}
}

// An event of an order that is not recorded is acked, counted and dropped,
// and what reserve did per SKU is undone.
func TestOutboxDropsEventsOfUnknownOrders(t *testing.T) {
	e := newOutboxEnv(t)
	ctx := context.Background()
	d := e.place(shop.Order{ID: "gone", Customer: "c", Items: []shop.Item{{SKU: "poster", Quantity: 3}}})
	if err := e.rdb.Del(ctx, e.node.orderKey("gone")).Err(); err != nil {
		t.Fatal(err)
	}
	res, err := e.commit(shop.OpReserve, d, reactions[ServiceInventory][OrderPlaced])
	if err != nil || !res.Dropped || res.Detail != "unknown order" {
		t.Fatalf("reserve = %+v, %v; want dropped", res, err)
	}
	if s, _ := activities.Stock(ctx, e.rdb, activities.ChoreographyPrefix, shop.DefaultCatalog()); s["poster"] != 10 {
		t.Fatalf("poster = %d after a dropped reserve", s["poster"])
	}
	// Counted, and left for the caller to ack once it undid its work.
	if n, _ := e.engine.Dropped(ctx); n != 1 || e.pending(d) != 1 {
		t.Fatalf("dropped %d, %d pending", n, e.pending(d))
	}
}

// benchStep runs one participant operation with the outbox per iteration,
// for a new order each time: one choreography handler step without the
// consumer around it.
func benchStep(b *testing.B, op shop.Op) {
	e := newOutboxEnv(b)
	r := reactions[ServiceInventory][OrderPlaced]
	items := []shop.Item{{SKU: "book", Quantity: 1}, {SKU: "pen", Quantity: 2}}
	var ds []*Delivery
	for i := range b.N + 1000 {
		if i >= 20000 {
			break
		}
		ds = append(ds, e.place(shop.Order{ID: "o" + strconv.Itoa(i), Customer: "c", Items: items}))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		d := ds[i%len(ds)]
		i++
		if _, err := e.commit(op, d, r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReserveWithOutbox(b *testing.B) { benchStep(b, shop.OpReserve) }

func BenchmarkChargeWithOutbox(b *testing.B) { benchStep(b, shop.OpCharge) }
