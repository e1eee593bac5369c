package shop_test

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ordersaga/ordersaga/shop"
)

func validOrder() shop.Order {
	return shop.Order{
		ID:       "o-1",
		Customer: "ada",
		Items:    []shop.Item{{SKU: "book", Quantity: 2}, {SKU: "poster", Quantity: 1}},
	}
}

func TestOrderValidate(t *testing.T) {
	cat := shop.DefaultCatalog()
	tests := []struct {
		name    string
		edit    func(o *shop.Order)
		wantErr string
	}{
		{name: "valid", edit: func(*shop.Order) {}},
		{name: "quantity 1", edit: func(o *shop.Order) { o.Items = []shop.Item{{SKU: "pen", Quantity: shop.MinQuantity}} }},
		{name: "quantity 1000", edit: func(o *shop.Order) { o.Items = []shop.Item{{SKU: "pen", Quantity: shop.MaxQuantity}} }},
		{name: "quantity above stock is still valid", edit: func(o *shop.Order) { o.Items = []shop.Item{{SKU: "poster", Quantity: 11}} }},
		{name: "every SKU", edit: func(o *shop.Order) {
			o.Items = nil
			for _, sku := range cat.SKUs() {
				o.Items = append(o.Items, shop.Item{SKU: sku, Quantity: 1})
			}
		}},
		{name: "no customer", edit: func(o *shop.Order) { o.Customer = "" }},
		{name: "ID of 128 characters", edit: func(o *shop.Order) { o.ID = strings.Repeat("x", 128) }},
		{name: "ID with colon and dash", edit: func(o *shop.Order) { o.ID = "bench:42-a" }},
		{name: "good fault plan", edit: func(o *shop.Order) {
			o.Faults = shop.FaultPlan{shop.OpCharge: {Kind: shop.FaultDecline}, shop.OpRefund: {Kind: shop.FaultTransient, Attempts: 2}}
		}},

		{name: "missing ID", edit: func(o *shop.Order) { o.ID = "" }, wantErr: "missing order ID"},
		{name: "blank ID", edit: func(o *shop.Order) { o.ID = "  \t" }, wantErr: "missing order ID"},
		{name: "ID too long", edit: func(o *shop.Order) { o.ID = strings.Repeat("x", 129) }, wantErr: "1 to 128"},
		{name: "ID with space", edit: func(o *shop.Order) { o.ID = "a b" }, wantErr: "1 to 128"},
		{name: "ID with newline", edit: func(o *shop.Order) { o.ID = "a\nb" }, wantErr: "1 to 128"},
		{name: "ID with brace", edit: func(o *shop.Order) { o.ID = "{slot}" }, wantErr: "1 to 128"},
		{name: "ID with slash", edit: func(o *shop.Order) { o.ID = "a/b" }, wantErr: "1 to 128"},
		{name: "ID with quote", edit: func(o *shop.Order) { o.ID = `a"b` }, wantErr: "1 to 128"},
		{name: "no items", edit: func(o *shop.Order) { o.Items = nil }, wantErr: "has no items"},
		{name: "empty items", edit: func(o *shop.Order) { o.Items = []shop.Item{} }, wantErr: "has no items"},
		{name: "unknown SKU", edit: func(o *shop.Order) { o.Items = []shop.Item{{SKU: "sofa", Quantity: 1}} }, wantErr: `unknown SKU "sofa"`},
		{name: "empty SKU", edit: func(o *shop.Order) { o.Items = []shop.Item{{SKU: "", Quantity: 1}} }, wantErr: "unknown SKU"},
		{name: "quantity 0", edit: func(o *shop.Order) { o.Items = []shop.Item{{SKU: "book", Quantity: 0}} }, wantErr: "quantity 0 of book"},
		{name: "negative quantity", edit: func(o *shop.Order) { o.Items = []shop.Item{{SKU: "book", Quantity: -1}} }, wantErr: "quantity -1 of book"},
		{name: "quantity 1001", edit: func(o *shop.Order) { o.Items = []shop.Item{{SKU: "book", Quantity: 1001}} }, wantErr: "quantity 1001 of book"},
		{name: "bad item after good one", edit: func(o *shop.Order) {
			o.Items = []shop.Item{{SKU: "book", Quantity: 1}, {SKU: "mug", Quantity: 0}}
		}, wantErr: "quantity 0 of mug"},
		{name: "duplicate SKU", edit: func(o *shop.Order) {
			o.Items = []shop.Item{{SKU: "book", Quantity: 1}, {SKU: "mug", Quantity: 1}, {SKU: "book", Quantity: 2}}
		}, wantErr: "SKU book listed twice"},
		{name: "fault plan with unknown op", edit: func(o *shop.Order) {
			o.Faults = shop.FaultPlan{"payment": {Kind: shop.FaultDecline}}
		}, wantErr: "unknown operation"},
		{name: "fault plan with zero fault", edit: func(o *shop.Order) {
			o.Faults = shop.FaultPlan{shop.OpCharge: {}}
		}, wantErr: "unknown fault kind"},
		{name: "fault plan with transient 0", edit: func(o *shop.Order) {
			o.Faults = shop.FaultPlan{shop.OpCharge: {Kind: shop.FaultTransient}}
		}, wantErr: "transient:N"},
		{name: "fault plan with negative delay", edit: func(o *shop.Order) {
			o.Faults = shop.FaultPlan{shop.OpSchedule: {Kind: shop.FaultDelay, Delay: -time.Second}}
		}, wantErr: "delay:DURATION"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := validOrder()
			tt.edit(&o)
			err := o.Validate(cat)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate(%+v) = nil, want error mentioning %q", o, tt.wantErr)
			}
			if !errors.Is(err, shop.ErrInvalidOrder) {
				t.Fatalf("Validate error %v does not wrap ErrInvalidOrder", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate error %q, want it to mention %q", err, tt.wantErr)
			}
		})
	}
}

func TestValidOrderID(t *testing.T) {
	good := []string{"a", "o-1", "bench:42-a", "A.b_c:D-9", strings.Repeat("x", 128)}
	bad := []string{"", strings.Repeat("x", 129), "a b", " a", "a\tb", "a\n", "{a}", "a/b", `a"b`, "a*", "a|b", "é", "a\x00"}
	for _, s := range good {
		if !shop.ValidOrderID(s) {
			t.Errorf("ValidOrderID(%q) = false", s)
		}
	}
	for _, s := range bad {
		if shop.ValidOrderID(s) {
			t.Errorf("ValidOrderID(%q) = true", s)
		}
	}
}

func TestOrderValidateUnknownSKUListsCatalog(t *testing.T) {
	o := shop.Order{ID: "o", Items: []shop.Item{{SKU: "sofa", Quantity: 1}}}
	err := o.Validate(shop.Catalog{"b": {}, "a": {}})
	if err == nil || !strings.Contains(err.Error(), "known: a, b") {
		t.Fatalf("Validate = %v, want the sorted known SKUs in the message", err)
	}
}

func TestOrderValidateAgainstEmptyCatalog(t *testing.T) {
	err := validOrder().Validate(nil)
	if !errors.Is(err, shop.ErrInvalidOrder) {
		t.Fatalf("Validate(nil catalog) = %v, want ErrInvalidOrder", err)
	}
}

func TestOrderJSONRoundTrip(t *testing.T) {
	orders := []shop.Order{
		validOrder(),
		{
			ID:       "o-2",
			Customer: "grace",
			Items:    []shop.Item{{SKU: "mug", Quantity: 3}},
			Faults: shop.FaultPlan{
				shop.OpReserve:  {Kind: shop.FaultDelay, Delay: 250 * time.Millisecond},
				shop.OpCharge:   {Kind: shop.FaultTransient, Attempts: 2},
				shop.OpSchedule: {Kind: shop.FaultDecline},
				shop.OpRelease:  {Kind: shop.FaultDelay, Delay: 90 * time.Second},
				shop.OpRefund:   {Kind: shop.FaultDecline},
				shop.OpCancel:   {Kind: shop.FaultTransient, Attempts: shop.MaxTransientAttempts},
			},
		},
	}
	for _, o := range orders {
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatalf("marshal %+v: %v", o, err)
		}
		var back shop.Order
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("unmarshal %s: %v", b, err)
		}
		if !reflect.DeepEqual(back, o) {
			t.Fatalf("round trip of %+v gave %+v (json %s)", o, back, b)
		}
		if err := back.Validate(shop.DefaultCatalog()); err != nil {
			t.Fatalf("round-tripped order does not validate: %v", err)
		}
	}
}

func TestOrderJSONShape(t *testing.T) {
	o := shop.Order{
		ID:    "o-3",
		Items: []shop.Item{{SKU: "pen", Quantity: 1}},
		Faults: shop.FaultPlan{
			shop.OpCharge:   {Kind: shop.FaultTransient, Attempts: 2},
			shop.OpSchedule: {Kind: shop.FaultDelay, Delay: 250 * time.Millisecond},
		},
	}
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"o-3","customer":"","items":[{"sku":"pen","quantity":1}],"faults":{"charge":"transient:2","schedule":"delay:250ms"}}`
	if string(b) != want {
		t.Fatalf("json = %s\nwant   %s", b, want)
	}

	o.Faults = nil
	b, err = json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "faults") {
		t.Fatalf("an order without faults marshals them: %s", b)
	}
}

func TestOrderJSONFromText(t *testing.T) {
	in := `{"id":"o-4","items":[{"sku":"book","quantity":1}],"faults":{"refund":"decline","charge":"transient:3","schedule":"delay:1s"}}`
	var o shop.Order
	if err := json.Unmarshal([]byte(in), &o); err != nil {
		t.Fatal(err)
	}
	want := shop.FaultPlan{
		shop.OpRefund:   {Kind: shop.FaultDecline},
		shop.OpCharge:   {Kind: shop.FaultTransient, Attempts: 3},
		shop.OpSchedule: {Kind: shop.FaultDelay, Delay: time.Second},
	}
	if !reflect.DeepEqual(o.Faults, want) {
		t.Fatalf("faults = %v, want %v", o.Faults, want)
	}
}

func TestOrderJSONBadFault(t *testing.T) {
	bad := []string{
		`{"id":"o","items":[],"faults":{"charge":"explode"}}`,
		`{"id":"o","items":[],"faults":{"charge":""}}`,
		`{"id":"o","items":[],"faults":{"charge":"transient:0"}}`,
		`{"id":"o","items":[],"faults":{"charge":"transient:abc"}}`,
		`{"id":"o","items":[],"faults":{"schedule":"delay:-1s"}}`,
		`{"id":"o","items":[],"faults":{"schedule":"delay:abc"}}`,
		`{"id":"o","items":[],"faults":{"charge":"decline:3"}}`,
		`{"id":"o","items":[],"faults":{"charge":3}}`,
	}
	for _, in := range bad {
		var o shop.Order
		if err := json.Unmarshal([]byte(in), &o); err == nil {
			t.Errorf("unmarshal %s = nil error, faults %v", in, o.Faults)
		}
	}
	var o shop.Order
	err := json.Unmarshal([]byte(bad[0]), &o)
	if !errors.Is(err, shop.ErrBadFault) {
		t.Errorf("unmarshal error %v does not wrap ErrBadFault", err)
	}
}

func TestOrderJSONUnknownOpFailsValidation(t *testing.T) {
	var o shop.Order
	in := `{"id":"o","items":[{"sku":"book","quantity":1}],"faults":{"payment":"decline"}}`
	if err := json.Unmarshal([]byte(in), &o); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	if err := o.Validate(shop.DefaultCatalog()); !errors.Is(err, shop.ErrInvalidOrder) {
		t.Fatalf("Validate = %v, want ErrInvalidOrder for a plan keyed by a step name", err)
	}
}

func TestFaultJSON(t *testing.T) {
	f := shop.Fault{Kind: shop.FaultTransient, Attempts: 4}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `"transient:4"` {
		t.Fatalf("json = %s", b)
	}
	var back shop.Fault
	if err := json.Unmarshal(b, &back); err != nil || back != f {
		t.Fatalf("unmarshal = %+v, %v; want %+v", back, err, f)
	}
	back = shop.Fault{Kind: shop.FaultDecline}
	if err := back.UnmarshalText([]byte("nope")); err == nil {
		t.Fatal("UnmarshalText(nope) = nil")
	}
	if back != (shop.Fault{Kind: shop.FaultDecline}) {
		t.Fatalf("failed UnmarshalText changed the fault to %+v", back)
	}
}

func TestOrderTotal(t *testing.T) {
	cat := shop.DefaultCatalog()
	tests := []struct {
		items []shop.Item
		want  int64
	}{
		{nil, 0},
		{[]shop.Item{{SKU: "book", Quantity: 1}}, 4200},
		{[]shop.Item{{SKU: "book", Quantity: 2}, {SKU: "poster", Quantity: 1}}, 2*4200 + 2500},
		{[]shop.Item{{SKU: "pen", Quantity: 1000}, {SKU: "mug", Quantity: 3}, {SKU: "lamp", Quantity: 1}}, 1000*199 + 3*1250 + 3999},
		{[]shop.Item{{SKU: "sofa", Quantity: 5}}, 0},
	}
	for _, tt := range tests {
		if got := (shop.Order{Items: tt.items}).Total(cat); got != tt.want {
			t.Errorf("Total(%v) = %d, want %d", tt.items, got, tt.want)
		}
	}
	big := shop.Catalog{"gold": {PriceCents: 1 << 40}}
	if got := (shop.Order{Items: []shop.Item{{SKU: "gold", Quantity: 1000}}}).Total(big); got != 1000<<40 {
		t.Errorf("Total overflowed: %d", got)
	}
}

func TestStepOpMappings(t *testing.T) {
	tests := []struct {
		step         shop.Step
		forward, com shop.Op
	}{
		{shop.StepInventory, shop.OpReserve, shop.OpRelease},
		{shop.StepPayment, shop.OpCharge, shop.OpRefund},
		{shop.StepShipping, shop.OpSchedule, shop.OpCancel},
	}
	for _, tt := range tests {
		if got := tt.step.Forward(); got != tt.forward {
			t.Errorf("%s.Forward() = %q, want %q", tt.step, got, tt.forward)
		}
		if got := tt.step.Compensation(); got != tt.com {
			t.Errorf("%s.Compensation() = %q, want %q", tt.step, got, tt.com)
		}
		if got := tt.forward.Step(); got != tt.step {
			t.Errorf("%s.Step() = %q, want %q", tt.forward, got, tt.step)
		}
		if got := tt.com.Step(); got != tt.step {
			t.Errorf("%s.Step() = %q, want %q", tt.com, got, tt.step)
		}
		if tt.forward.IsCompensation() {
			t.Errorf("%s.IsCompensation() = true", tt.forward)
		}
		if !tt.com.IsCompensation() {
			t.Errorf("%s.IsCompensation() = false", tt.com)
		}
		got, err := shop.ParseStep(string(tt.step))
		if err != nil || got != tt.step {
			t.Errorf("ParseStep(%q) = %q, %v", tt.step, got, err)
		}
	}

	if got := shop.Step("billing").Forward(); got != "" {
		t.Errorf("unknown step Forward() = %q", got)
	}
	if got := shop.Step("billing").Compensation(); got != "" {
		t.Errorf("unknown step Compensation() = %q", got)
	}
	if got := shop.Op("payment").Step(); got != "" {
		t.Errorf("Op(payment).Step() = %q, want empty", got)
	}
	if shop.Op("").IsCompensation() {
		t.Error(`Op("").IsCompensation() = true`)
	}
	for _, s := range []string{"", "billing", "Payment", "reserve"} {
		if st, err := shop.ParseStep(s); err == nil {
			t.Errorf("ParseStep(%q) = %q, want error", s, st)
		}
	}

	wantSteps := []shop.Step{shop.StepInventory, shop.StepFraud, shop.StepPayment, shop.StepShipping}
	if !slices.Equal(shop.Steps, wantSteps) {
		t.Errorf("Steps = %v, want %v", shop.Steps, wantSteps)
	}
	wantOps := []shop.Op{shop.OpReserve, shop.OpCheck, shop.OpCharge, shop.OpSchedule, shop.OpRelease, shop.OpRefund, shop.OpCancel}
	if !slices.Equal(shop.Ops, wantOps) {
		t.Errorf("Ops = %v, want %v", shop.Ops, wantOps)
	}
	for i, op := range shop.Ops {
		if op.IsCompensation() != (i >= 4) {
			t.Errorf("Ops[%d] = %s: forward operations must come first", i, op)
		}
	}
}

func TestStatusTerminal(t *testing.T) {
	tests := map[shop.Status]bool{
		shop.StatusPending:     false,
		shop.StatusCompleted:   true,
		shop.StatusCompensated: true,
		shop.StatusFailed:      true,
		"":                     false,
		"RUNNING":              false,
	}
	for st, want := range tests {
		if got := st.Terminal(); got != want {
			t.Errorf("%q.Terminal() = %v, want %v", st, got, want)
		}
	}
}

func TestWorkflowID(t *testing.T) {
	if got := shop.WorkflowID("42"); got != "order-42" {
		t.Fatalf("WorkflowID(42) = %q", got)
	}
}

func TestCatalog(t *testing.T) {
	cat := shop.DefaultCatalog()
	want := []string{"book", "lamp", "mug", "pen", "poster"}
	if got := cat.SKUs(); !slices.Equal(got, want) {
		t.Fatalf("SKUs() = %v, want %v", got, want)
	}
	if _, ok := cat[shop.DefaultSKU]; !ok {
		t.Fatalf("DefaultSKU %q is not in the catalog", shop.DefaultSKU)
	}
	if cat["poster"].InitialStock != 10 {
		t.Fatalf("poster stock = %d, want 10", cat["poster"].InitialStock)
	}
	for sku, p := range cat {
		if p.PriceCents <= 0 || p.InitialStock <= 0 || p.Name == "" {
			t.Errorf("catalog entry %s = %+v: want a name, a price and stock", sku, p)
		}
	}
	cat["book"] = shop.Product{}
	if shop.DefaultCatalog()["book"].PriceCents == 0 {
		t.Fatal("DefaultCatalog shares state between calls")
	}
	if got := (shop.Catalog{}).SKUs(); len(got) != 0 {
		t.Fatalf("empty catalog SKUs() = %v", got)
	}
}

func TestModes(t *testing.T) {
	want := []shop.Mode{shop.ModeOrchestration, shop.ModeChoreography}
	if !slices.Equal(shop.Modes, want) {
		t.Fatalf("Modes = %v, want %v", shop.Modes, want)
	}
}

// A catalog price large enough that quantity × price overflows int64 makes
// the order invalid instead of a negative total.
func TestOrderValidateTotalOverflow(t *testing.T) {
	c := shop.Catalog{"gold": {Name: "Gold", PriceCents: math.MaxInt64 / 2, InitialStock: 10}}
	o := shop.Order{ID: "o", Items: []shop.Item{{SKU: "gold", Quantity: 3}}}
	if err := o.Validate(c); !errors.Is(err, shop.ErrInvalidOrder) {
		t.Fatalf("Validate of an overflowing total: %v", err)
	}
	o.Items[0].Quantity = 1
	if err := o.Validate(c); err != nil {
		t.Fatalf("Validate of a total that fits: %v", err)
	}
	c["neg"] = shop.Product{Name: "Negative", PriceCents: -1}
	if err := (shop.Order{ID: "o", Items: []shop.Item{{SKU: "neg", Quantity: 1}}}).Validate(c); !errors.Is(err, shop.ErrInvalidOrder) {
		t.Fatalf("Validate of a negative price: %v", err)
	}
}

// TestCustomerBounded: a customer name is short, one line and plain text;
// anything else makes the order invalid wherever it is placed.
func TestCustomerBounded(t *testing.T) {
	c := shop.DefaultCatalog()
	for _, ok := range []string{"", "ada", "Zoë O'Brien-Smith", "ops+test@example.com", "李雷", strings.Repeat("é", shop.MaxCustomerLen)} {
		if _, err := shop.ParseOrder("o-1", ok, nil, nil, c); err != nil {
			t.Errorf("customer %q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{
		strings.Repeat("a", 120_000), strings.Repeat("a", shop.MaxCustomerLen+1),
		"<img src=x onerror=alert(1)>", "[x](javascript:alert(1))", "**bold**", "a`b", "a|b",
		"ada\nlovelace", "ada\x00", "ada\u202e", " ada", "ada ", "ada  lovelace", "\xff",
	} {
		_, err := shop.ParseOrder("o-1", bad, nil, nil, c)
		if !errors.Is(err, shop.ErrInvalidOrder) || !strings.Contains(err.Error(), "customer") {
			t.Errorf("customer %.40q: %v, want an invalid customer", bad, err)
		}
		if err != nil && len(err.Error()) > 300 {
			t.Errorf("the error is %d bytes long", len(err.Error()))
		}
	}
}

// TestCheckText: free text from an operator is bounded and printable.
func TestCheckText(t *testing.T) {
	if err := shop.CheckText("--stack", "make up (Redis 7.0, 3 masters)", 10); err == nil {
		t.Error("31 characters passed a bound of 10")
	}
	for _, bad := range []string{"a\nb", "a\x1b[31m", "\xff"} {
		if err := shop.CheckText("--stack", bad, 100); err == nil {
			t.Errorf("%q passed", bad)
		}
	}
	if err := shop.CheckText("--stack", "make up (Redis 7.0, 3 masters)", 100); err != nil {
		t.Error(err)
	}
}
