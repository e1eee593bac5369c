package choreography_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/shop"
)

// FuzzDecode feeds arbitrary bytes to the event decoder: it never panics,
// rejects with ErrMalformed or ErrUnknownVersion, and what it accepts
// survives an encode/decode round trip. The seed corpus lives in
// testdata/fuzz/FuzzDecode and runs with every `go test`.
func FuzzDecode(f *testing.F) {
	good, err := choreography.NewEvent(choreography.OrderPlaced, choreography.ServiceOrder, nil, choreography.Saga{
		Order: shop.Order{ID: "f1", Customer: "ada", Items: []shop.Item{{SKU: "book", Quantity: 1}},
			Faults: shop.FaultPlan{shop.OpCharge: {Kind: shop.FaultTransient, Attempts: 2}}},
	}, time.Unix(1_700_000_000, 0))
	if err != nil {
		f.Fatal(err)
	}
	b, err := good.Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"id":"x","type":"OrderPlaced","order_id":"o","version":2,"payload":{}}`))
	f.Add([]byte(`{"id":"x","type":"OrderPlaced","order_id":"o","version":1,"payload":{"order":{"id":"o","faults":{"charge":"transient:x"}}}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := choreography.Decode(data)
		if err != nil {
			if !errors.Is(err, choreography.ErrMalformed) && !errors.Is(err, choreography.ErrUnknownVersion) {
				t.Fatalf("error %v is neither ErrMalformed nor ErrUnknownVersion", err)
			}
			return
		}
		s, err := ev.Saga()
		if err != nil {
			if !errors.Is(err, choreography.ErrMalformed) {
				t.Fatalf("payload error %v is not ErrMalformed", err)
			}
			return
		}
		again, err := ev.Encode()
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		ev2, err := choreography.Decode(again)
		if err != nil {
			t.Fatalf("round trip: %v", err)
		}
		if ev2.ID != ev.ID || ev2.Type != ev.Type || ev2.OrderID != ev.OrderID || !bytes.Equal(compact(t, ev2.Payload), compact(t, ev.Payload)) {
			t.Fatalf("round trip changed the event: %+v vs %+v", ev, ev2)
		}
		_ = s
	})
}

func compact(t *testing.T, b []byte) []byte {
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		t.Fatalf("compact: %v", err)
	}
	return out.Bytes()
}
