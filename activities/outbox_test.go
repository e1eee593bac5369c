package activities_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/shop"
)

const (
	inStream   = "in"
	inGroup    = "svc"
	okStream   = "out:ok"
	failStream = "out:fail"
	historyKey = "history:o1"
)

// inbox is a consumer group on the incoming stream whose entries are pending.
type inbox struct{ e *env }

func newInbox(e *env) inbox {
	e.t.Helper()
	if err := e.rdb.XGroupCreateMkStream(e.t.Context(), inStream, inGroup, "$").Err(); err != nil {
		e.t.Fatalf("create group: %v", err)
	}
	return inbox{e}
}

// deliver adds an entry and reads it through the group, so it is pending.
func (b inbox) deliver() string {
	b.e.t.Helper()
	ctx := b.e.t.Context()
	id, err := b.e.rdb.XAdd(ctx, &redis.XAddArgs{Stream: inStream, Values: map[string]any{"type": "OrderPlaced"}}).Result()
	if err != nil {
		b.e.t.Fatal(err)
	}
	got, err := b.e.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: inGroup, Consumer: "c1", Streams: []string{inStream, ">"}, Count: 1}).Result()
	if err != nil || len(got) != 1 || len(got[0].Messages) != 1 || got[0].Messages[0].ID != id {
		b.e.t.Fatalf("read %s through the group: %v, %v", id, got, err)
	}
	if !b.isPending(id) {
		b.e.t.Fatalf("entry %s is not pending after XREADGROUP", id)
	}
	return id
}

func (b inbox) pendingCount() int64 {
	b.e.t.Helper()
	p, err := b.e.rdb.XPending(b.e.t.Context(), inStream, inGroup).Result()
	if err != nil {
		b.e.t.Fatal(err)
	}
	return p.Count
}

func (b inbox) isPending(id string) bool {
	b.e.t.Helper()
	p, err := b.e.rdb.XPendingExt(b.e.t.Context(), &redis.XPendingExtArgs{Stream: inStream, Group: inGroup, Start: id, End: id, Count: 1}).Result()
	if err != nil {
		b.e.t.Fatal(err)
	}
	return len(p) == 1
}

func (e *env) entries(stream string) []redis.XMessage {
	e.t.Helper()
	m, err := e.rdb.XRange(e.t.Context(), stream, "-", "+").Result()
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

func (e *env) history() []string {
	e.t.Helper()
	h, err := e.rdb.LRange(e.t.Context(), historyKey, 0, -1).Result()
	if err != nil {
		e.t.Fatal(err)
	}
	return h
}

func newOutbox(ackID, okType, failType string) *activities.Outbox {
	return &activities.Outbox{
		AckStream: inStream, AckGroup: inGroup, AckID: ackID,
		History:   historyKey,
		OnSuccess: activities.Message{Stream: okStream, Type: okType, JSON: []byte(`{"type":"` + okType + `","detail":"@DETAIL@"}`)},
		OnFailure: activities.Message{Stream: failStream, Type: failType, JSON: []byte(`{"type":"` + failType + `","reason":"@DETAIL@"}`)},
	}
}

// eventField decodes one string field of a published event.
func eventField(t *testing.T, event any, field string) string {
	t.Helper()
	s, ok := event.(string)
	if !ok {
		t.Fatalf("event is %T, want string", event)
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("published event %s is not JSON: %v", s, err)
	}
	return m[field]
}

func TestOutboxSuccessPublishesRecordsAndAcks(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	b := newInbox(e)
	other := b.deliver()
	id := b.deliver()

	in := input("o1", item("poster", 2))
	in.Outbox = newOutbox(id, "PaymentCharged", "PaymentDeclined")
	res := e.mustDo(shop.OpCharge, in)
	if res.Duplicate || res.Emitted == "" {
		t.Fatalf("charge = %+v, want a first run that emitted an entry", res)
	}

	out := e.entries(okStream)
	if len(out) != 1 {
		t.Fatalf("%s has %d entries, want 1", okStream, len(out))
	}
	if out[0].ID != res.Emitted {
		t.Fatalf("emitted %s, stream holds %s", res.Emitted, out[0].ID)
	}
	if got := out[0].Values["type"]; got != "PaymentCharged" {
		t.Fatalf("published type = %v", got)
	}
	if got := eventField(t, out[0].Values["event"], "detail"); got != "5000" {
		t.Fatalf("published detail = %q, want the amount 5000", got)
	}
	if got := e.history(); len(got) != 1 || got[0] != out[0].Values["event"] {
		t.Fatalf("history = %q, want the published event", got)
	}
	if n := len(e.entries(failStream)); n != 0 {
		t.Fatalf("%s has %d entries after a success", failStream, n)
	}
	if b.isPending(id) {
		t.Fatalf("entry %s is still pending", id)
	}
	if !b.isPending(other) || b.pendingCount() != 1 {
		t.Fatalf("the ack touched another entry: pending = %d", b.pendingCount())
	}
	if l := e.ledger(); l.Charges != 1 || l.ChargedCents != 5000 {
		t.Fatalf("ledger = %+v", l)
	}
}

func TestOutboxEveryOpOnSuccess(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	b := newInbox(e)
	in := input("o1", item("poster", 1))
	for _, op := range shop.Ops {
		id := b.deliver()
		in.Outbox = newOutbox(id, "ok-"+string(op), "fail-"+string(op))
		res := e.mustDo(op, in)
		if res.Emitted == "" {
			t.Fatalf("%s emitted nothing", op)
		}
		if b.pendingCount() != 0 {
			t.Fatalf("%s left %d pending", op, b.pendingCount())
		}
	}
	out := e.entries(okStream)
	if len(out) != len(shop.Ops) {
		t.Fatalf("%d events published, want %d", len(out), len(shop.Ops))
	}
	wantDetail := []string{"", "2500", "SHP-o1", "released", "2500", "cancelled"}
	for i, op := range shop.Ops {
		if got := out[i].Values["type"]; got != "ok-"+string(op) {
			t.Fatalf("event %d type = %v, want ok-%s", i, got, op)
		}
		if got := eventField(t, out[i].Values["event"], "detail"); got != wantDetail[i] {
			t.Fatalf("%s detail = %q, want %q", op, got, wantDetail[i])
		}
	}
	if got := len(e.history()); got != len(shop.Ops) {
		t.Fatalf("history has %d entries, want %d", got, len(shop.Ops))
	}
}

func TestOutboxBusinessFailurePublishesOnFailure(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	b := newInbox(e)

	cases := []struct {
		op     shop.Op
		in     activities.OrderInput
		typ    string
		reason string
	}{
		{op: shop.OpReserve, in: input("o1", item("poster", 11)), typ: activities.ErrTypeInventoryRejected, reason: "out of stock: poster has 10, wanted 11"},
		{op: shop.OpCharge, in: activities.OrderInput{OrderID: "o1", Items: []shop.Item{item("book", 1)}, Faults: plan(t, "payment")}, typ: activities.ErrTypePaymentDeclined, reason: "declined by fault plan"},
		{op: shop.OpRefund, in: activities.OrderInput{OrderID: "o2", Items: []shop.Item{item("book", 1)}, Faults: plan(t, "refund:decline")}, typ: activities.ErrTypeRefundFailed, reason: "declined by fault plan"},
	}
	for i, c := range cases {
		id := b.deliver()
		c.in.Outbox = newOutbox(id, "Ok", c.typ)
		res, err := e.do(c.op, c.in)
		wantBusiness(t, err, c.typ)
		fails := e.entries(failStream)
		if len(fails) != i+1 {
			t.Fatalf("%s: %s has %d entries, want %d", c.op, failStream, len(fails), i+1)
		}
		last := fails[i]
		if res.Emitted != last.ID || last.Values["type"] != c.typ {
			t.Fatalf("%s: emitted %q, last failure entry %+v", c.op, res.Emitted, last)
		}
		if got := eventField(t, last.Values["event"], "reason"); got != c.reason {
			t.Fatalf("%s: published reason %q, want %q", c.op, got, c.reason)
		}
		if h := e.history(); len(h) != i+1 || h[i] != last.Values["event"] {
			t.Fatalf("%s: history = %q", c.op, h)
		}
		if b.isPending(id) {
			t.Fatalf("%s: entry %s is still pending after a business failure", c.op, id)
		}
	}
	if n := len(e.entries(okStream)); n != 0 {
		t.Fatalf("%s has %d entries, want none", okStream, n)
	}
}

func TestOutboxDuplicatePublishesNothingButAcks(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	b := newInbox(e)

	ok := input("o1", item("poster", 2))
	ok.Outbox = newOutbox(b.deliver(), "InventoryReserved", "InventoryRejected")
	e.mustDo(shop.OpReserve, ok)

	bad := input("o2", item("poster", 11))
	bad.Outbox = newOutbox(b.deliver(), "InventoryReserved", "InventoryRejected")
	_, err := e.do(shop.OpReserve, bad)
	wantBusiness(t, err, activities.ErrTypeInventoryRejected)

	okBefore, failBefore, histBefore := e.entries(okStream), e.entries(failStream), e.history()
	if len(okBefore) != 1 || len(failBefore) != 1 || len(histBefore) != 2 {
		t.Fatalf("setup published %d ok, %d fail, %d history", len(okBefore), len(failBefore), len(histBefore))
	}

	for range 2 {
		id := b.deliver()
		ok.Outbox = newOutbox(id, "InventoryReserved", "InventoryRejected")
		res := e.mustDo(shop.OpReserve, ok)
		if !res.Duplicate || res.Emitted != "" {
			t.Fatalf("duplicate reserve = %+v, want duplicate with nothing emitted", res)
		}
		if b.isPending(id) {
			t.Fatalf("duplicate success left %s pending", id)
		}

		id = b.deliver()
		bad.Outbox = newOutbox(id, "InventoryReserved", "InventoryRejected")
		res, err := e.do(shop.OpReserve, bad)
		wantBusiness(t, err, activities.ErrTypeInventoryRejected)
		if !res.Duplicate || res.Emitted != "" {
			t.Fatalf("duplicate rejected reserve = %+v, want duplicate with nothing emitted", res)
		}
		if b.isPending(id) {
			t.Fatalf("duplicate failure left %s pending", id)
		}
	}
	if !reflect.DeepEqual(e.entries(okStream), okBefore) || !reflect.DeepEqual(e.entries(failStream), failBefore) {
		t.Fatal("a duplicate published an event")
	}
	if !reflect.DeepEqual(e.history(), histBefore) {
		t.Fatalf("a duplicate appended to the history: %q", e.history())
	}
	if got := e.stockOf("poster"); got != 8 {
		t.Fatalf("poster = %d, want 8", got)
	}
}

func TestOutboxTransientPublishesNothingAndDoesNotAck(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	b := newInbox(e)
	id := b.deliver()
	in := input("o1", item("book", 1))
	in.Faults = plan(t, "payment:transient:2")
	in.Outbox = newOutbox(id, "PaymentCharged", "PaymentDeclined")

	for range 2 {
		res, err := e.do(shop.OpCharge, in)
		wantTransient(t, err)
		if res.Emitted != "" {
			t.Fatalf("transient fault emitted %s", res.Emitted)
		}
		if n := len(e.entries(okStream)) + len(e.entries(failStream)); n != 0 {
			t.Fatalf("transient fault published %d events", n)
		}
		if h := e.history(); len(h) != 0 {
			t.Fatalf("transient fault wrote history %q", h)
		}
		if !b.isPending(id) {
			t.Fatalf("transient fault acked %s", id)
		}
	}

	res := e.mustDo(shop.OpCharge, in)
	if res.Emitted == "" || len(e.entries(okStream)) != 1 || len(e.history()) != 1 {
		t.Fatalf("charge after transient faults = %+v, published %d", res, len(e.entries(okStream)))
	}
	if b.pendingCount() != 0 {
		t.Fatalf("pending = %d after the successful retry", b.pendingCount())
	}
}

func TestOutboxCancelledDelayPublishesNothingAndDoesNotAck(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	b := newInbox(e)
	id := b.deliver()
	in := input("o1", item("book", 1))
	in.Faults = plan(t, "shipping:delay:1m")
	in.Outbox = newOutbox(id, "ShipmentScheduled", "ShipmentFailed")

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancel()
	_, err := e.p.Shipping.Schedule(ctx, in)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("schedule = %v, want DeadlineExceeded", err)
	}
	if n := len(e.entries(okStream)) + len(e.entries(failStream)) + len(e.history()); n != 0 {
		t.Fatalf("a cancelled operation published or recorded %d entries", n)
	}
	if !b.isPending(id) {
		t.Fatalf("a cancelled operation acked %s", id)
	}
}

func TestOutboxWithoutSuccessStreamStillAcks(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	b := newInbox(e)
	id := b.deliver()
	in := input("o1")
	in.Outbox = newOutbox(id, "", "CancelFailed")
	in.Outbox.OnSuccess = activities.Message{}
	res := e.mustDo(shop.OpCancel, in)
	if res.Emitted != "" {
		t.Fatalf("emitted %s with no success stream", res.Emitted)
	}
	if n := len(e.entries(failStream)) + len(e.history()); n != 0 {
		t.Fatalf("published or recorded %d entries with no success stream", n)
	}
	if b.isPending(id) {
		t.Fatalf("entry %s not acked", id)
	}
}

func TestOutboxWithoutAckOrHistory(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	b := newInbox(e)
	id := b.deliver()
	in := input("o1")
	in.Outbox = newOutbox("", "ShipmentScheduled", "ShipmentFailed")
	in.Outbox.AckStream, in.Outbox.AckGroup, in.Outbox.History = "", "", ""
	res := e.mustDo(shop.OpSchedule, in)
	if res.Emitted == "" || len(e.entries(okStream)) != 1 {
		t.Fatalf("schedule = %+v, want one published event", res)
	}
	if len(e.history()) != 0 {
		t.Fatal("history written with no history list")
	}
	if !b.isPending(id) {
		t.Fatalf("entry %s acked with no ack stream", id)
	}
}

func TestOutboxDetailIsJSONEscaped(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	b := newInbox(e)
	orderID := `q"u\o/te<&>` + "\n\t\u00e9"
	in := input(orderID)
	in.Outbox = newOutbox(b.deliver(), "ShipmentScheduled", "ShipmentFailed")
	in.Outbox.OnSuccess.JSON = []byte(`{"detail":"tracking @DETAIL@.","note":"@DETAIL@"}`)
	e.mustDo(shop.OpSchedule, in)
	out := e.entries(okStream)
	if len(out) != 1 {
		t.Fatalf("published %d events", len(out))
	}
	if got, want := eventField(t, out[0].Values["event"], "detail"), "tracking SHP-"+orderID+"."; got != want {
		t.Fatalf("detail = %q, want %q", got, want)
	}
	if got := eventField(t, out[0].Values["event"], "note"); got != activities.DetailPlaceholder {
		t.Fatalf("second placeholder = %q, want only the first one filled", got)
	}
	if h := e.history(); len(h) != 1 || h[0] != out[0].Values["event"] {
		t.Fatalf("history = %q, want the filled event", h)
	}
}

func TestOutboxWithoutPlaceholderIsPublishedAsIs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	b := newInbox(e)
	in := input("o1", item("book", 1))
	in.Outbox = newOutbox(b.deliver(), "PaymentCharged", "PaymentDeclined")
	in.Outbox.OnSuccess.JSON = []byte(`{"type":"PaymentCharged"}`)
	e.mustDo(shop.OpCharge, in)
	out := e.entries(okStream)
	if len(out) != 1 || out[0].Values["event"] != `{"type":"PaymentCharged"}` {
		t.Fatalf("published %+v, want the event unchanged", out)
	}
}

func TestWithoutOutboxNothingIsPublished(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	in := input("o1", item("poster", 1))
	for _, op := range shop.Ops {
		res := e.mustDo(op, in)
		if res.Emitted != "" {
			t.Fatalf("%s emitted %s without an outbox", op, res.Emitted)
		}
	}
	var cursor uint64
	for {
		keys, next, err := e.rdb.Scan(t.Context(), cursor, "*", 100).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if typ := e.rdb.Type(t.Context(), k).Val(); typ == "stream" || typ == "list" {
				t.Fatalf("key %s of type %s exists without an outbox", k, typ)
			}
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
}
