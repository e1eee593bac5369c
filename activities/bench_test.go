package activities_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/internal/testenv"
	"github.com/ordersaga/ordersaga/shop"
)

// benchStep runs one participant operation per iteration, for a new order
// each time, with an outbox (ack the incoming entry, publish the next event,
// append it to the order's history), against a real redis-server: one
// choreography handler step without the consumer around it.
func benchStep(b *testing.B, op shop.Op) {
	rdb := testenv.StartRedis(b).Client()
	ctx := context.Background()
	cat := shop.DefaultCatalog()
	const prefix = "bench:"
	if err := activities.Seed(ctx, rdb, prefix, cat); err != nil {
		b.Fatal(err)
	}
	if err := rdb.XGroupCreateMkStream(ctx, "in", "svc", "$").Err(); err != nil {
		b.Fatal(err)
	}
	p := activities.New(rdb, prefix, cat)
	event := []byte(`{"id":"e","type":"Next","order_id":"o","payload":{"detail":"@DETAIL@","order":{"id":"o"}}}`)
	items := []shop.Item{{SKU: "book", Quantity: 1}, {SKU: "pen", Quantity: 2}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		id := "o" + strconv.Itoa(i)
		in := activities.OrderInput{OrderID: id, Items: items, Outbox: &activities.Outbox{
			AckStream: "in", AckGroup: "svc", AckID: "0-1", History: "history:" + id,
			OnSuccess: activities.Message{Stream: "out", Type: "Next", JSON: event},
			OnFailure: activities.Message{Stream: "out", Type: "Failed", JSON: event},
		}}
		if _, err := p.Do(ctx, op, in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReserveWithOutbox(b *testing.B) { benchStep(b, shop.OpReserve) }

func BenchmarkChargeWithOutbox(b *testing.B) { benchStep(b, shop.OpCharge) }
