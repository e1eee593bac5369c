package choreography_test

import (
	"testing"
	"time"

	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/shop"
)

// benchSaga is a payload of the size an order's events carry mid-saga.
func benchSaga() choreography.Saga {
	return choreography.Saga{
		Detail: "charged 12345 cents",
		Done:   []shop.Step{shop.StepInventory, shop.StepPayment},
		Order: shop.Order{
			ID: "b1-0123abcd-42", Customer: "bench",
			Items: []shop.Item{{SKU: "book", Quantity: 2}, {SKU: "lamp", Quantity: 1}, {SKU: "pen", Quantity: 5}},
			Faults: shop.FaultPlan{
				shop.OpSchedule: {Kind: shop.FaultTransient, Attempts: 1},
				shop.OpRefund:   {Kind: shop.FaultDelay, Delay: 20 * time.Millisecond},
			},
		},
	}
}

// BenchmarkEventEncode is what a handler does to publish: build the
// envelope (payload JSON, a new ID) and encode it.
func BenchmarkEventEncode(b *testing.B) {
	s := benchSaga()
	parent, err := choreography.NewEvent(choreography.PaymentCharged, choreography.ServicePayment, nil, s, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		ev, err := choreography.NewEvent(choreography.ShipmentScheduled, choreography.ServiceShipping, parent, s, now)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ev.Encode(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEventDecode is what a handler does on delivery: decode the
// envelope and its saga payload.
func BenchmarkEventDecode(b *testing.B) {
	ev, err := choreography.NewEvent(choreography.PaymentCharged, choreography.ServicePayment, nil, benchSaga(), time.Now())
	if err != nil {
		b.Fatal(err)
	}
	raw, err := ev.Encode()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		got, err := choreography.Decode(raw)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := got.Saga(); err != nil {
			b.Fatal(err)
		}
	}
}
