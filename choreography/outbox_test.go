package choreography

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/internal/testenv"
	"github.com/ordersaga/ordersaga/shop"
)

// outboxEnv is a participant set with the choreography's outbox over its
// own redis-server, and a group on an incoming stream whose entries it acks.
type outboxEnv struct {
	t   *testing.T
	rdb *redis.Client
	p   activities.Participants
}

const (
	obIn, obGroup, obOut, obHistory = "in", "svc", "out", "history"
)

func newOutboxEnv(t *testing.T) *outboxEnv {
	t.Helper()
	rdb := testenv.StartRedis(t).Client()
	cat := shop.DefaultCatalog()
	if err := activities.Seed(t.Context(), rdb, "t:", cat); err != nil {
		t.Fatal(err)
	}
	if err := rdb.XGroupCreateMkStream(t.Context(), obIn, obGroup, "$").Err(); err != nil {
		t.Fatal(err)
	}
	return &outboxEnv{t: t, rdb: rdb, p: activities.New(rdb, "t:", cat).WithOutbox(outboxHook)}
}

// deliver adds an entry to the incoming stream and reads it through the group.
func (e *outboxEnv) deliver() string {
	e.t.Helper()
	ctx := e.t.Context()
	id := e.rdb.XAdd(ctx, &redis.XAddArgs{Stream: obIn, Values: []any{"type", "x"}}).Val()
	if err := e.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: obGroup, Consumer: "c", Streams: []string{obIn, ">"}, Count: 1}).Err(); err != nil {
		e.t.Fatal(err)
	}
	return id
}

func (e *outboxEnv) pending() int64 {
	e.t.Helper()
	return e.rdb.XPending(e.t.Context(), obIn, obGroup).Val().Count
}

func (e *outboxEnv) commit(op shop.Op, in activities.OrderInput, okJSON string) (activities.Result, error) {
	e.t.Helper()
	id := e.deliver()
	ob := &activities.Outbox{
		Keys: []string{obIn, obHistory, obOut},
		Args: func() ([]any, error) {
			return []any{obGroup, id, "Ok", okJSON, "Failed", `{"reason":"@DETAIL@"}`}, nil
		},
	}
	return e.p.Commit(e.t.Context(), op, in, ob)
}

func field(t *testing.T, raw any, name string) string {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal([]byte(raw.(string)), &m); err != nil {
		t.Fatalf("%v is not JSON: %v", raw, err)
	}
	return m[name]
}

// A result is published with its detail filled in, appended to the history
// and the incoming entry acked, once; a duplicate only acks; a transient
// fault does none of it.
func TestOutboxPublishesRecordsAndAcks(t *testing.T) {
	e := newOutboxEnv(t)
	in := activities.OrderInput{OrderID: `q"u\o/te<&>` + "\n\u00e9", Items: []shop.Item{{SKU: "poster", Quantity: 2}}}
	res, err := e.commit(shop.OpSchedule, in, `{"detail":"tracking @DETAIL@.","note":"@DETAIL@"}`)
	if err != nil || res.Outbox == "" {
		t.Fatalf("schedule = %+v, %v", res, err)
	}
	bad := activities.OrderInput{OrderID: "o2", Items: []shop.Item{{SKU: "poster", Quantity: 11}}}
	if _, err := e.commit(shop.OpReserve, bad, `{}`); err == nil {
		t.Fatal("reserve of 11 posters succeeded")
	}
	out := e.rdb.XRange(t.Context(), obOut, "-", "+").Val()
	if len(out) != 2 || out[0].ID != res.Outbox || out[0].Values["type"] != "Ok" || out[1].Values["type"] != "Failed" {
		t.Fatalf("published %+v", out)
	}
	if got, want := field(t, out[0].Values["event"], "detail"), "tracking SHP-"+in.OrderID+"."; got != want {
		t.Fatalf("detail = %q, want %q", got, want)
	}
	if got := field(t, out[0].Values["event"], "note"); got != DetailPlaceholder {
		t.Fatalf("second placeholder = %q: only the first is filled", got)
	}
	if got := field(t, out[1].Values["event"], "reason"); got != "out of stock: poster has 10, wanted 11" {
		t.Fatalf("reason = %q", got)
	}
	if h := e.rdb.LRange(t.Context(), obHistory, 0, -1).Val(); len(h) != 2 || h[0] != out[0].Values["event"] {
		t.Fatalf("history = %q", h)
	}
	if n := e.pending(); n != 0 {
		t.Fatalf("%d entries left pending", n)
	}

	if res, err := e.commit(shop.OpSchedule, in, `{}`); err != nil || !res.Duplicate || res.Outbox != "" {
		t.Fatalf("duplicate schedule = %+v, %v; want acked with nothing published", res, err)
	}
	flaky := activities.OrderInput{OrderID: "o3", Faults: shop.FaultPlan{shop.OpCharge: {Kind: shop.FaultTransient, Attempts: 1}}}
	if _, err := e.commit(shop.OpCharge, flaky, `{}`); !activities.IsTransient(err) {
		t.Fatalf("charge = %v, want a transient fault", err)
	}
	if n := e.rdb.XLen(t.Context(), obOut).Val(); n != 2 {
		t.Fatalf("%d events published, want still 2", n)
	}
	if n := e.pending(); n != 1 {
		t.Fatalf("%d pending, want only the transient fault's entry", n)
	}
}

// benchStep runs one participant operation with the outbox per iteration,
// for a new order each time: one choreography handler step without the
// consumer around it.
func benchStep(b *testing.B, op shop.Op) {
	rdb := testenv.StartRedis(b).Client()
	ctx := context.Background()
	cat := shop.DefaultCatalog()
	if err := activities.Seed(ctx, rdb, "bench:", cat); err != nil {
		b.Fatal(err)
	}
	if err := rdb.XGroupCreateMkStream(ctx, obIn, obGroup, "$").Err(); err != nil {
		b.Fatal(err)
	}
	p := activities.New(rdb, "bench:", cat).WithOutbox(outboxHook)
	event := `{"id":"e","type":"Next","order_id":"o","payload":{"detail":"@DETAIL@","order":{"id":"o"}}}`
	items := []shop.Item{{SKU: "book", Quantity: 1}, {SKU: "pen", Quantity: 2}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		id := "o" + strconv.Itoa(i)
		ob := &activities.Outbox{Keys: []string{obIn, "history:" + id, obOut}, Args: func() ([]any, error) {
			return []any{obGroup, "0-1", "Next", event, "Failed", event}, nil
		}}
		if _, err := p.Commit(ctx, op, activities.OrderInput{OrderID: id, Items: items}, ob); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReserveWithOutbox(b *testing.B) { benchStep(b, shop.OpReserve) }

func BenchmarkChargeWithOutbox(b *testing.B) { benchStep(b, shop.OpCharge) }
