package shop_test

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ordersaga/ordersaga/shop"
)

func TestParseFault(t *testing.T) {
	tests := []struct {
		in      string
		want    shop.Fault
		wantErr bool
	}{
		{in: "decline", want: shop.Fault{Kind: shop.FaultDecline}},
		{in: "transient:1", want: shop.Fault{Kind: shop.FaultTransient, Attempts: 1}},
		{in: "transient:2", want: shop.Fault{Kind: shop.FaultTransient, Attempts: 2}},
		{in: "transient:20", want: shop.Fault{Kind: shop.FaultTransient, Attempts: shop.MaxTransientAttempts}},
		{in: "delay:250ms", want: shop.Fault{Kind: shop.FaultDelay, Delay: 250 * time.Millisecond}},
		{in: "delay:1.5s", want: shop.Fault{Kind: shop.FaultDelay, Delay: 1500 * time.Millisecond}},
		{in: "delay:5m", want: shop.Fault{Kind: shop.FaultDelay, Delay: shop.MaxDelay}},
		{in: "delay:1ns", want: shop.Fault{Kind: shop.FaultDelay, Delay: time.Nanosecond}},

		{in: "", wantErr: true},
		{in: "explode", wantErr: true},
		{in: "Decline", wantErr: true},
		{in: "decline:3", wantErr: true},
		{in: "decline:", wantErr: true},
		{in: "transient", wantErr: true},
		{in: "transient:", wantErr: true},
		{in: "transient:0", wantErr: true},
		{in: "transient:-1", wantErr: true},
		{in: "transient:21", wantErr: true},
		{in: "transient:abc", wantErr: true},
		{in: "transient:1.5", wantErr: true},
		{in: "transient:2:3", wantErr: true},
		{in: "delay", wantErr: true},
		{in: "delay:", wantErr: true},
		{in: "delay:0s", wantErr: true},
		{in: "delay:-1s", wantErr: true},
		{in: "delay:abc", wantErr: true},
		{in: "delay:100", wantErr: true},
		{in: "delay:5m1s", wantErr: true},
		{in: "delay:24h", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := shop.ParseFault(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseFault(%q) = %+v, want error", tt.in, got)
				}
				if !errors.Is(err, shop.ErrBadFault) {
					t.Fatalf("ParseFault(%q) error %v does not wrap ErrBadFault", tt.in, err)
				}
				if got != (shop.Fault{}) {
					t.Fatalf("ParseFault(%q) returned %+v with an error, want zero Fault", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseFault(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("ParseFault(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestFaultStringRoundTrip(t *testing.T) {
	tests := []struct {
		f    shop.Fault
		want string
	}{
		{shop.Fault{Kind: shop.FaultDecline}, "decline"},
		{shop.Fault{Kind: shop.FaultTransient, Attempts: 3}, "transient:3"},
		{shop.Fault{Kind: shop.FaultDelay, Delay: 250 * time.Millisecond}, "delay:250ms"},
		{shop.Fault{Kind: shop.FaultDelay, Delay: 90 * time.Second}, "delay:1m30s"},
	}
	for _, tt := range tests {
		if got := tt.f.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.f, got, tt.want)
		}
		back, err := shop.ParseFault(tt.f.String())
		if err != nil {
			t.Errorf("ParseFault(%q): %v", tt.f.String(), err)
			continue
		}
		if back != tt.f {
			t.Errorf("ParseFault(%q) = %+v, want %+v", tt.f.String(), back, tt.f)
		}
	}
}

func TestParseTarget(t *testing.T) {
	good := map[string]shop.Op{
		"inventory": shop.OpReserve,
		"fraud":     shop.OpCheck,
		"check":     shop.OpCheck,
		"payment":   shop.OpCharge,
		"shipping":  shop.OpSchedule,
		"reserve":   shop.OpReserve,
		"charge":    shop.OpCharge,
		"schedule":  shop.OpSchedule,
		"release":   shop.OpRelease,
		"refund":    shop.OpRefund,
		"cancel":    shop.OpCancel,
		"notify":    shop.OpNotify,
	}
	for in, want := range good {
		got, err := shop.ParseTarget(in)
		if err != nil || got != want {
			t.Errorf("ParseTarget(%q) = %q, %v; want %q, nil", in, got, err, want)
		}
	}
	for _, op := range append(slices.Clone(shop.Ops), shop.OpNotify) {
		if got, err := shop.ParseTarget(op.Target()); err != nil || got != op {
			t.Errorf("ParseTarget(%q), %s's target, = %q, %v; want %q", op.Target(), op, got, err, op)
		}
	}
	if shop.OpCheck.Target() != "fraud" || shop.OpRefund.Target() != "refund" || shop.OpNotify.Target() != "notify" {
		t.Errorf("targets: check %q, refund %q, notify %q", shop.OpCheck.Target(), shop.OpRefund.Target(), shop.OpNotify.Target())
	}
	for _, in := range []string{"", "billing", "Payment", "payment ", "inventory:"} {
		got, err := shop.ParseTarget(in)
		if err == nil {
			t.Errorf("ParseTarget(%q) = %q, want error", in, got)
			continue
		}
		if !errors.Is(err, shop.ErrBadFault) {
			t.Errorf("ParseTarget(%q) error %v does not wrap ErrBadFault", in, err)
		}
	}
}

func TestParseFaultSpec(t *testing.T) {
	tests := []struct {
		in      string
		op      shop.Op
		f       shop.Fault
		wantErr string
	}{
		{in: "payment", op: shop.OpCharge, f: shop.Fault{Kind: shop.FaultDecline}},
		{in: "inventory", op: shop.OpReserve, f: shop.Fault{Kind: shop.FaultDecline}},
		{in: "shipping", op: shop.OpSchedule, f: shop.Fault{Kind: shop.FaultDecline}},
		{in: "payment:decline", op: shop.OpCharge, f: shop.Fault{Kind: shop.FaultDecline}},
		{in: "payment:transient:2", op: shop.OpCharge, f: shop.Fault{Kind: shop.FaultTransient, Attempts: 2}},
		{in: "shipping:delay:250ms", op: shop.OpSchedule, f: shop.Fault{Kind: shop.FaultDelay, Delay: 250 * time.Millisecond}},
		{in: "refund:decline", op: shop.OpRefund, f: shop.Fault{Kind: shop.FaultDecline}},
		{in: "refund", op: shop.OpRefund, f: shop.Fault{Kind: shop.FaultDecline}},
		{in: "release:transient:3", op: shop.OpRelease, f: shop.Fault{Kind: shop.FaultTransient, Attempts: 3}},
		{in: "cancel:delay:1s", op: shop.OpCancel, f: shop.Fault{Kind: shop.FaultDelay, Delay: time.Second}},
		{in: "charge:transient:1", op: shop.OpCharge, f: shop.Fault{Kind: shop.FaultTransient, Attempts: 1}},

		{in: "", wantErr: "unknown step"},
		{in: "billing", wantErr: "unknown step"},
		{in: "billing:decline", wantErr: "unknown step"},
		{in: "payment:explode", wantErr: "unknown fault kind"},
		{in: "payment:", wantErr: "unknown fault kind"},
		{in: "payment:transient:0", wantErr: "transient:N"},
		{in: "payment:transient:abc", wantErr: "transient:N"},
		{in: "payment:transient", wantErr: "transient:N"},
		{in: "shipping:delay:-1s", wantErr: "delay:DURATION"},
		{in: "shipping:delay:abc", wantErr: "delay:DURATION"},
		{in: "payment:decline:3", wantErr: "decline takes no argument"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			op, f, err := shop.ParseFaultSpec(tt.in)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("ParseFaultSpec(%q) = %q, %+v; want error", tt.in, op, f)
				}
				if !errors.Is(err, shop.ErrBadFault) {
					t.Fatalf("ParseFaultSpec(%q) error %v does not wrap ErrBadFault", tt.in, err)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseFaultSpec(%q) error %q, want it to mention %q", tt.in, err, tt.wantErr)
				}
				if op != "" || f != (shop.Fault{}) {
					t.Fatalf("ParseFaultSpec(%q) returned %q, %+v with an error", tt.in, op, f)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseFaultSpec(%q): %v", tt.in, err)
			}
			if op != tt.op || f != tt.f {
				t.Fatalf("ParseFaultSpec(%q) = %q, %+v; want %q, %+v", tt.in, op, f, tt.op, tt.f)
			}
		})
	}
}

func TestParseFaultPlan(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		want    shop.FaultPlan
		wantErr string
	}{
		{name: "nil", in: nil, want: nil},
		{name: "empty", in: []string{}, want: nil},
		{name: "one", in: []string{"payment"}, want: shop.FaultPlan{shop.OpCharge: {Kind: shop.FaultDecline}}},
		{
			name: "several",
			in:   []string{"payment:transient:2", "shipping:delay:250ms", "refund:decline", "inventory:delay:1s"},
			want: shop.FaultPlan{
				shop.OpCharge:   {Kind: shop.FaultTransient, Attempts: 2},
				shop.OpSchedule: {Kind: shop.FaultDelay, Delay: 250 * time.Millisecond},
				shop.OpRefund:   {Kind: shop.FaultDecline},
				shop.OpReserve:  {Kind: shop.FaultDelay, Delay: time.Second},
			},
		},
		{
			name: "forward and compensation of one step",
			in:   []string{"payment", "refund:transient:1"},
			want: shop.FaultPlan{
				shop.OpCharge: {Kind: shop.FaultDecline},
				shop.OpRefund: {Kind: shop.FaultTransient, Attempts: 1},
			},
		},
		{name: "duplicate op", in: []string{"payment", "payment:transient:2"}, wantErr: "more than one fault for charge"},
		{name: "duplicate via step and op name", in: []string{"payment:decline", "charge:delay:1s"}, wantErr: "more than one fault for charge"},
		{name: "duplicate identical", in: []string{"refund", "refund"}, wantErr: "more than one fault for refund"},
		{name: "unknown step", in: []string{"payment", "billing"}, wantErr: "unknown step"},
		{name: "unknown kind", in: []string{"shipping:explode"}, wantErr: "unknown fault kind"},
		{name: "transient 0", in: []string{"payment:transient:0"}, wantErr: "transient"},
		{name: "bad delay", in: []string{"shipping:delay:-1s"}, wantErr: "delay"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := shop.ParseFaultPlan(tt.in)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("ParseFaultPlan(%q) = %v, want error", tt.in, got)
				}
				if !errors.Is(err, shop.ErrBadFault) {
					t.Fatalf("ParseFaultPlan(%q) error %v does not wrap ErrBadFault", tt.in, err)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseFaultPlan(%q) error %q, want it to mention %q", tt.in, err, tt.wantErr)
				}
				if got != nil {
					t.Fatalf("ParseFaultPlan(%q) returned plan %v with an error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseFaultPlan(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseFaultPlan(%q) = %v, want %v", tt.in, got, tt.want)
			}
			if err := got.Validate(); err != nil {
				t.Fatalf("parsed plan does not validate: %v", err)
			}
		})
	}
}

func TestFaultPlanFor(t *testing.T) {
	plan := shop.FaultPlan{shop.OpCharge: {Kind: shop.FaultTransient, Attempts: 2}}
	if f, ok := plan.For(shop.OpCharge); !ok || f != (shop.Fault{Kind: shop.FaultTransient, Attempts: 2}) {
		t.Fatalf("For(charge) = %+v, %v", f, ok)
	}
	if f, ok := plan.For(shop.OpRefund); ok || f != (shop.Fault{}) {
		t.Fatalf("For(refund) = %+v, %v; want nothing", f, ok)
	}
	var none shop.FaultPlan
	if f, ok := none.For(shop.OpCharge); ok || f != (shop.Fault{}) {
		t.Fatalf("nil plan For(charge) = %+v, %v; want nothing", f, ok)
	}
}

func TestFaultPlanValidate(t *testing.T) {
	tests := []struct {
		name    string
		plan    shop.FaultPlan
		wantErr bool
	}{
		{name: "nil", plan: nil},
		{name: "every op", plan: shop.FaultPlan{
			shop.OpReserve:  {Kind: shop.FaultDecline},
			shop.OpCharge:   {Kind: shop.FaultTransient, Attempts: 20},
			shop.OpSchedule: {Kind: shop.FaultDelay, Delay: time.Millisecond},
			shop.OpRelease:  {Kind: shop.FaultDecline},
			shop.OpRefund:   {Kind: shop.FaultTransient, Attempts: 1},
			shop.OpCancel:   {Kind: shop.FaultDelay, Delay: shop.MaxDelay},
		}},
		{name: "unknown op", plan: shop.FaultPlan{"payment": {Kind: shop.FaultDecline}}, wantErr: true},
		{name: "empty op", plan: shop.FaultPlan{"": {Kind: shop.FaultDecline}}, wantErr: true},
		{name: "zero fault", plan: shop.FaultPlan{shop.OpCharge: {}}, wantErr: true},
		{name: "unknown kind", plan: shop.FaultPlan{shop.OpCharge: {Kind: "explode"}}, wantErr: true},
		{name: "transient 0", plan: shop.FaultPlan{shop.OpCharge: {Kind: shop.FaultTransient}}, wantErr: true},
		{name: "transient too many", plan: shop.FaultPlan{shop.OpCharge: {Kind: shop.FaultTransient, Attempts: 21}}, wantErr: true},
		{name: "delay 0", plan: shop.FaultPlan{shop.OpCharge: {Kind: shop.FaultDelay}}, wantErr: true},
		{name: "delay negative", plan: shop.FaultPlan{shop.OpCharge: {Kind: shop.FaultDelay, Delay: -time.Second}}, wantErr: true},
		{name: "delay too long", plan: shop.FaultPlan{shop.OpCharge: {Kind: shop.FaultDelay, Delay: time.Hour}}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.plan.Validate()
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Validate(%v) = nil, want error", tt.plan)
				}
				if !errors.Is(err, shop.ErrBadFault) {
					t.Fatalf("Validate error %v does not wrap ErrBadFault", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

func TestParseItem(t *testing.T) {
	tests := []struct {
		in      string
		want    shop.Item
		wantErr string
	}{
		{in: "book", want: shop.Item{SKU: "book", Quantity: 1}},
		{in: "book:3", want: shop.Item{SKU: "book", Quantity: 3}},
		{in: "poster:10", want: shop.Item{SKU: "poster", Quantity: 10}},
		{in: "book:0", want: shop.Item{SKU: "book", Quantity: 0}},
		{in: "book:-2", want: shop.Item{SKU: "book", Quantity: -2}},
		{in: "unknown:1", want: shop.Item{SKU: "unknown", Quantity: 1}},

		{in: "", wantErr: "missing SKU"},
		{in: ":3", wantErr: "missing SKU"},
		{in: "book:", wantErr: "not a whole number"},
		{in: "book:abc", wantErr: "not a whole number"},
		{in: "book:1.5", wantErr: "not a whole number"},
		{in: "book:1:2", wantErr: "not a whole number"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := shop.ParseItem(tt.in)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("ParseItem(%q) = %+v, want error", tt.in, got)
				}
				if !errors.Is(err, shop.ErrInvalidOrder) {
					t.Fatalf("ParseItem(%q) error %v does not wrap ErrInvalidOrder", tt.in, err)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseItem(%q) error %q, want it to mention %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseItem(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("ParseItem(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}
