package choreography

import (
	"testing"
	"time"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/shop"
)

// FuzzCheck feeds arbitrary bytes to the decoders and then to the check
// of an event against an order's records (reserved and charged, as placed):
// nothing panics, and an event that passes names the order as placed, so a
// participant acting on it charges the placed price and nothing else. The
// seed corpus lives in testdata/fuzz/FuzzCheck and runs with every `go test`.
func FuzzCheck(f *testing.F) {
	cat := shop.DefaultCatalog()
	placed := shop.Order{ID: "f1", Customer: "ada", Items: []shop.Item{{SKU: "book", Quantity: 2}},
		Faults: shop.FaultPlan{shop.OpRefund: {Kind: shop.FaultDecline}}}
	rec := record{found: true, order: placed, state: activities.OrderState{Ops: map[shop.Op]activities.OpState{
		shop.OpReserve: {Status: "ok"}, shop.OpCharge: {Status: "ok"},
	}}}
	seed := func(t EventType, s Saga) {
		ev, err := NewEvent(t, ServiceInventory, nil, s, time.Unix(1_700_000_000, 0))
		if err != nil {
			f.Fatal(err)
		}
		b, err := ev.Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	done := []shop.Step{shop.StepInventory}
	seed(InventoryReserved, Saga{Order: placed, Done: done})
	forged := placed
	forged.Items = []shop.Item{{SKU: "book", Quantity: -1000}}
	seed(InventoryReserved, Saga{Order: forged, Done: done})
	seed(InventoryReleased, Saga{Order: placed, Done: done, Compensated: done})
	seed(PaymentRefunded, Saga{Order: placed, Repair: true})
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := Decode(data)
		if err != nil {
			return
		}
		s, err := ev.Saga()
		if err != nil || s.Order.Validate(cat) != nil {
			return
		}
		if rec.check(ev.Type, s, shop.OpCharge) != "" {
			return
		}
		if got, want := s.Order.Total(cat), placed.Total(cat); got != want {
			t.Fatalf("accepted %s whose order costs %d, placed at %d: %+v", ev.Type, got, want, s.Order)
		}
		if claimed, result := opOf(ev.Type); claimed != "" && rec.state.Ops[claimed].Status != result {
			t.Fatalf("accepted %s, but %s recorded %q", ev.Type, claimed, rec.state.Ops[claimed].Status)
		}
	})
}
