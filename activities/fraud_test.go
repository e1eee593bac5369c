package activities_test

import (
	"testing"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/shop"
)

// TestFraudCheckDecidesOnce: the rule lets a small order through and
// refuses a large one, a guest's above the guest limit, and any order
// with --fail fraud; each decision is recorded, so asking again returns it.
func TestFraudCheckDecidesOnce(t *testing.T) {
	e := newEnv(t, nil)
	cases := []struct {
		name    string
		in      activities.OrderInput
		refused bool
	}{
		{"small order", activities.OrderInput{OrderID: "f1", Customer: "ada", Items: []shop.Item{{SKU: "book", Quantity: 2}}}, false},
		{"above the limit", activities.OrderInput{OrderID: "f2", Customer: "ada", Items: []shop.Item{{SKU: "book", Quantity: 48}}}, true},
		{"priced at placement", activities.OrderInput{OrderID: "f3", Customer: "ada", Items: []shop.Item{{SKU: "pen"}}, AmountCents: shop.FraudLimitCents + 1}, true},
		{"guest above the guest limit", activities.OrderInput{OrderID: "f4", Items: []shop.Item{{SKU: "book", Quantity: 12}}}, true},
		{"guest below it", activities.OrderInput{OrderID: "f5", Items: []shop.Item{{SKU: "book", Quantity: 11}}}, false},
		{"--fail fraud", activities.OrderInput{OrderID: "f6", Customer: "ada", Items: []shop.Item{{SKU: "pen"}},
			Faults: shop.FaultPlan{shop.OpCheck: {Kind: shop.FaultDecline}}}, true},
	}
	for _, c := range cases {
		for attempt := range 2 {
			res, err := e.p.Fraud.Check(t.Context(), c.in)
			r, refused := activities.IsRefusal(err)
			if refused != c.refused || (err != nil && !refused) {
				t.Fatalf("%s, attempt %d: %v, want refused=%v", c.name, attempt, err, c.refused)
			}
			if refused && r.Type() != activities.ErrTypeFraudSuspected {
				t.Errorf("%s: refusal type %s, want %s", c.name, r.Type(), activities.ErrTypeFraudSuspected)
			}
			if res.Duplicate != (attempt == 1) {
				t.Errorf("%s, attempt %d: duplicate %v", c.name, attempt, res.Duplicate)
			}
		}
		st, err := activities.ReadOrderState(t.Context(), e.rdb, e.prefix, c.in.OrderID)
		if err != nil {
			t.Fatal(err)
		}
		want := "ok"
		if c.refused {
			want = "fail"
		}
		if got := st.Ops[shop.OpCheck].Status; got != want {
			t.Errorf("%s: recorded %q, want %q", c.name, got, want)
		}
	}
}
