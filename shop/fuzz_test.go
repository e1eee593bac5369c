package shop_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/ordersaga/ordersaga/shop"
)

// FuzzParseFaultSpec: any --fail text either parses into a fault that
// prints back to something that parses to the same, or is refused with
// ErrBadFault. Never a panic.
func FuzzParseFaultSpec(f *testing.F) {
	for _, s := range []string{"payment", "payment:decline", "payment:transient:2", "shipping:delay:250ms",
		"refund:decline", "teleport", "payment:explode", "payment:delay:soon", "payment:transient:0", ":", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		op, fault, err := shop.ParseFaultSpec(s)
		if err != nil {
			if !errors.Is(err, shop.ErrBadFault) {
				t.Fatalf("%q: error %v does not wrap ErrBadFault", s, err)
			}
			return
		}
		op2, fault2, err := shop.ParseFaultSpec(string(op) + ":" + fault.String())
		if err != nil || op2 != op || fault2 != fault {
			t.Fatalf("%q: %s:%s does not parse back the same (%s %v %v)", s, op, fault, op2, fault2, err)
		}
	})
}

// FuzzOrderJSON: any JSON either fails to decode, fails validation with
// ErrInvalidOrder, or is a valid order that survives a round trip.
func FuzzOrderJSON(f *testing.F) {
	for _, s := range []string{
		`{"id":"o1","customer":"ada","items":[{"sku":"book","quantity":2}],"faults":{"charge":"decline"}}`,
		`{"id":"o1","items":[{"sku":"sofa","quantity":1}]}`,
		`{"id":"o 1","items":[{"sku":"book","quantity":1}]}`,
		`{"id":"o1","items":[{"sku":"book","quantity":0}]}`,
		`{"id":"o1","items":[{"sku":"book","quantity":1}],"faults":{"teleport":"decline"}}`,
		`{"id":"o1","items":[{"sku":"book","quantity":1}],"faults":{"charge":"transient:99"}}`,
		`{"id":"o1","items":[]}`,
		`[]`,
	} {
		f.Add([]byte(s))
	}
	cat := shop.DefaultCatalog()
	f.Fuzz(func(t *testing.T, data []byte) {
		var o shop.Order
		if err := json.Unmarshal(data, &o); err != nil {
			return
		}
		if err := o.Validate(cat); err != nil {
			if !errors.Is(err, shop.ErrInvalidOrder) {
				t.Fatalf("validation error %v does not wrap ErrInvalidOrder", err)
			}
			return
		}
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatalf("marshal a valid order: %v", err)
		}
		var back shop.Order
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("unmarshal a marshalled order: %v", err)
		}
		if !reflect.DeepEqual(normal(back), normal(o)) {
			t.Fatalf("round trip changed the order:\n%+v\n%+v", o, back)
		}
		if back.Total(cat) <= 0 {
			t.Fatalf("valid order with total %d", back.Total(cat))
		}
	})
}

func normal(o shop.Order) shop.Order {
	if len(o.Faults) == 0 {
		o.Faults = nil
	}
	return o
}
