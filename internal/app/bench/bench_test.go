package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ordersaga/ordersaga/internal/app/bench"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/shop"
)

// Both baselines are bench targets.
var (
	_ bench.Target = (*bench.TemporalBaseline)(nil)
	_ bench.Target = (*bench.StreamPipeline)(nil)
)

func mustRules(t *testing.T, s string) []bench.FaultRule {
	t.Helper()
	r, err := bench.ParseFaults(s)
	if err != nil {
		t.Fatalf("ParseFaults(%q): %v", s, err)
	}
	return r
}

func generate(t *testing.T, seed uint64, nonce string, n int, faults string) bench.Workload {
	t.Helper()
	w, err := bench.Generate(seed, nonce, n, mustRules(t, faults), shop.DefaultCatalog())
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// content is an order without its ID.
func content(o shop.Order) shop.Order { o.ID = ""; return o }

func TestGenerateIsDeterministic(t *testing.T) {
	const faults = "payment=decline:0.2,shipping=transient:0.1,refund=decline:0.5"
	a := generate(t, 7, "x", 500, faults)
	b := generate(t, 7, "x", 500, faults)
	if !reflect.DeepEqual(a.Orders, b.Orders) {
		t.Fatal("the same seed gave different orders")
	}
	// Another nonce: other IDs, same content.
	c := generate(t, 7, "y", 500, faults)
	for i := range a.Orders {
		if a.Orders[i].ID == c.Orders[i].ID {
			t.Fatalf("order %d has ID %s under both nonces", i, a.Orders[i].ID)
		}
		if !reflect.DeepEqual(content(a.Orders[i]), content(c.Orders[i])) {
			t.Fatalf("order %d differs between nonces:\n%+v\n%+v", i, a.Orders[i], c.Orders[i])
		}
	}
	// A shorter run is a prefix of a longer one.
	short := generate(t, 7, "x", 50, faults)
	if !reflect.DeepEqual(short.Orders, a.Orders[:50]) {
		t.Fatal("the first 50 orders depend on how many are generated")
	}
	// Another seed: other orders and other faults.
	d := generate(t, 8, "x", 500, faults)
	sameItems, sameFaults := 0, 0
	for i := range a.Orders {
		if reflect.DeepEqual(a.Orders[i].Items, d.Orders[i].Items) {
			sameItems++
		}
		if reflect.DeepEqual(a.Orders[i].Faults, d.Orders[i].Faults) {
			sameFaults++
		}
	}
	if sameItems > 100 {
		t.Errorf("seeds 7 and 8 gave the same items for %d of 500 orders", sameItems)
	}
	if sameFaults == 500 {
		t.Error("seeds 7 and 8 gave the same fault plans")
	}
	if reflect.DeepEqual(a.ExpectedStatuses(), d.ExpectedStatuses()) && reflect.DeepEqual(a.PlannedFailed(), d.PlannedFailed()) {
		t.Error("seeds 7 and 8 planned the same outcomes")
	}
}

func TestGenerateShape(t *testing.T) {
	w := generate(t, 1, "n", 5000, "payment=decline:0.1,shipping=transient:2:0.05,inventory=delay:20ms:1")
	ids := map[string]bool{}
	sizes := map[int]int{}
	declines, transients := 0, 0
	for i, o := range w.Orders {
		if want := fmt.Sprintf("b1-n-%d", i); o.ID != want {
			t.Fatalf("order %d has ID %q, want %q", i, o.ID, want)
		}
		if ids[o.ID] {
			t.Fatalf("duplicate ID %s", o.ID)
		}
		ids[o.ID] = true
		if err := o.Validate(shop.DefaultCatalog()); err != nil {
			t.Fatalf("order %d: %v", i, err)
		}
		sizes[len(o.Items)]++
		for _, it := range o.Items {
			if it.SKU == bench.ScarceSKU {
				t.Fatalf("order %d has the scarce %s", i, it.SKU)
			}
			if it.Quantity < 1 || it.Quantity > bench.MaxQuantity {
				t.Fatalf("order %d: quantity %d", i, it.Quantity)
			}
		}
		if f, ok := o.Faults[shop.OpCharge]; ok {
			if f.Kind != shop.FaultDecline {
				t.Fatalf("order %d: charge fault %v", i, f)
			}
			declines++
		}
		if f, ok := o.Faults[shop.OpSchedule]; ok {
			if f != (shop.Fault{Kind: shop.FaultTransient, Attempts: 2}) {
				t.Fatalf("order %d: schedule fault %v", i, f)
			}
			transients++
		}
		if f := o.Faults[shop.OpReserve]; f != (shop.Fault{Kind: shop.FaultDelay, Delay: 20 * time.Millisecond}) {
			t.Fatalf("order %d: reserve fault %v, want delay:20ms with probability 1", i, f)
		}
	}
	for k := 1; k <= bench.MaxItems; k++ {
		if sizes[k] < 1000 {
			t.Errorf("only %d of 5000 orders have %d items", sizes[k], k)
		}
	}
	if declines < 400 || declines > 600 {
		t.Errorf("%d of 5000 orders declined at 0.1", declines)
	}
	if transients < 170 || transients > 330 {
		t.Errorf("%d of 5000 orders transient at 0.05", transients)
	}
	if n := generate(t, 1, "n", 1000, "").Orders; n[0].Faults != nil {
		t.Errorf("no rules, yet faults %v", n[0].Faults)
	}
	if _, err := bench.Generate(1, "n", 0, nil, shop.DefaultCatalog()); err == nil {
		t.Error("0 orders: want an error")
	}
}

// TestGenerateNeverTripsTheFraudCheck: no generated order is refused by
// the fraud check's rule, so a mix of faults means what it says; a catalog
// whose prices would make some refused is an error, not a silent skew.
func TestGenerateNeverTripsTheFraudCheck(t *testing.T) {
	cat := shop.DefaultCatalog()
	for _, o := range generate(t, 7, "n", 20000, "payment=decline:0.1").Orders {
		if why := shop.FraudRefusal(o.Customer, o.Total(cat)); why != "" {
			t.Fatalf("order %s: the fraud check refuses it: %s", o.ID, why)
		}
	}
	dear := shop.DefaultCatalog()
	for sku, p := range dear {
		p.PriceCents = shop.FraudLimitCents / 2
		dear[sku] = p
	}
	if _, err := bench.Generate(1, "n", 100, nil, dear); err == nil || !strings.Contains(err.Error(), "fraud check") {
		t.Errorf("a catalog whose orders the fraud check refuses: %v, want an error saying so", err)
	}
}

func TestParseFaults(t *testing.T) {
	good := []struct {
		in   string
		want []bench.FaultRule
	}{
		{"", nil},
		{"payment=decline:0.1", []bench.FaultRule{{Op: shop.OpCharge, Fault: shop.Fault{Kind: shop.FaultDecline}, Prob: 0.1}}},
		{"shipping=transient:0.05", []bench.FaultRule{{Op: shop.OpSchedule, Fault: shop.Fault{Kind: shop.FaultTransient, Attempts: 1}, Prob: 0.05}}},
		{"shipping=transient:2:0.05", []bench.FaultRule{{Op: shop.OpSchedule, Fault: shop.Fault{Kind: shop.FaultTransient, Attempts: 2}, Prob: 0.05}}},
		{"payment=delay:20ms:0.1", []bench.FaultRule{{Op: shop.OpCharge, Fault: shop.Fault{Kind: shop.FaultDelay, Delay: 20 * time.Millisecond}, Prob: 0.1}}},
		{"refund=decline:1,inventory=decline:0", []bench.FaultRule{
			{Op: shop.OpRefund, Fault: shop.Fault{Kind: shop.FaultDecline}, Prob: 1},
			{Op: shop.OpReserve, Fault: shop.Fault{Kind: shop.FaultDecline}, Prob: 0},
		}},
		{"payment=decline:0.1, shipping=transient:0.05", []bench.FaultRule{
			{Op: shop.OpCharge, Fault: shop.Fault{Kind: shop.FaultDecline}, Prob: 0.1},
			{Op: shop.OpSchedule, Fault: shop.Fault{Kind: shop.FaultTransient, Attempts: 1}, Prob: 0.05},
		}},
	}
	for _, tt := range good {
		got, err := bench.ParseFaults(tt.in)
		if err != nil {
			t.Errorf("ParseFaults(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseFaults(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		if tt.in != "" {
			back, err := bench.ParseFaults(bench.FormatFaults(got))
			if err != nil || !reflect.DeepEqual(back, got) {
				t.Errorf("round trip of %q through %q: %+v, %v", tt.in, bench.FormatFaults(got), back, err)
			}
		}
	}
	bad := []string{
		"payment", "payment=", "=decline:0.1", "payment=decline", "billing=decline:0.1",
		"payment=explode:0.1", "payment=decline:1.5", "payment=decline:-0.1", "payment=decline:x",
		"payment=decline:NaN", "payment=transient:0:0.1", "payment=transient:21:0.1", "payment=delay:0.1",
		"payment=delay:0s:0.1", "payment=decline:0.1,", "payment=decline:0.1,payment=transient:0.1",
		"payment=decline:0.1,charge=transient:0.2",
	}
	for _, in := range bad {
		got, err := bench.ParseFaults(in)
		if err == nil {
			t.Errorf("ParseFaults(%q) = %+v, want an error", in, got)
			continue
		}
		if !errors.Is(err, bench.ErrBadFaultSpec) {
			t.Errorf("ParseFaults(%q): %v does not wrap ErrBadFaultSpec", in, err)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseFaults(%q): error spans lines: %q", in, err)
		}
	}
}

func TestExpected(t *testing.T) {
	plan := func(specs ...string) shop.FaultPlan {
		p, err := shop.ParseFaultPlan(specs)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		faults shop.FaultPlan
		want   shop.Status
	}{
		{nil, shop.StatusCompleted},
		{plan("payment:transient:3", "shipping:delay:5ms"), shop.StatusCompleted},
		{plan("refund:decline"), shop.StatusCompleted},
		{plan("inventory"), shop.StatusCompensated},
		{plan("payment"), shop.StatusCompensated},
		{plan("shipping"), shop.StatusCompensated},
		{plan("payment", "refund:decline"), shop.StatusCompensated}, // refund never runs: payment itself failed
		{plan("payment", "release:decline"), shop.StatusFailed},
		{plan("shipping", "refund:decline"), shop.StatusFailed},
		{plan("shipping", "cancel:decline"), shop.StatusCompensated},
		{plan("inventory", "release:decline"), shop.StatusCompensated},
		{plan("payment", "release:transient:3"), shop.StatusCompensated},
		{plan("fraud"), shop.StatusCompensated},
		{plan("fraud", "release:decline"), shop.StatusFailed},
		{plan("fraud", "payment", "refund:decline"), shop.StatusCompensated}, // the check refused first: nothing was charged
		{plan("fraud:transient:2"), shop.StatusCompleted},
	}
	for _, tt := range tests {
		if got := bench.Expected(shop.Order{Faults: tt.faults}); got != tt.want {
			t.Errorf("Expected(%v) = %s, want %s", tt.faults, got, tt.want)
		}
	}
}

func TestHistogramPercentiles(t *testing.T) {
	h := bench.NewHistogram()
	// 1 ms to 10 s in 1 ms steps: percentile q is q% of 10 s.
	for ms := 1; ms <= 10_000; ms++ {
		bench.Record(h, time.Duration(ms)*time.Millisecond)
	}
	for _, tt := range []struct {
		q    float64
		want float64 // ms
	}{{50, 5000}, {90, 9000}, {99, 9900}, {100, 10_000}} {
		got := float64(h.ValueAtQuantile(tt.q)) / 1000
		if math.Abs(got-tt.want)/tt.want > 0.001 {
			t.Errorf("p%v = %v ms, want %v ms within 0.1%%", tt.q, got, tt.want)
		}
	}
	if got := float64(h.Max()) / 1000; math.Abs(got-10_000) > 10 {
		t.Errorf("max = %v ms, want 10000", got)
	}
	// Out of range values are clamped, not lost.
	bench.Record(h, 0)
	bench.Record(h, 100*time.Hour)
	if h.TotalCount() != 10_002 {
		t.Errorf("count %d, want 10002", h.TotalCount())
	}
}

// sleeper is a target whose i-th unit takes (i%10+1) ms, and that counts
// how many units are in flight.
type sleeper struct {
	inflight, most atomic.Int64
	failAt         int
}

func (s *sleeper) Place(ctx context.Context, i int) error {
	n := s.inflight.Add(1)
	for {
		m := s.most.Load()
		if n <= m || s.most.CompareAndSwap(m, n) {
			break
		}
	}
	return nil
}

func (s *sleeper) Wait(ctx context.Context, i int) (shop.Status, error) {
	defer s.inflight.Add(-1)
	time.Sleep(time.Duration(i%10+1) * time.Millisecond)
	if i == s.failAt {
		return "", errors.New("boom")
	}
	if i%4 == 0 {
		return shop.StatusCompensated, nil
	}
	return shop.StatusCompleted, nil
}

func TestMeasure(t *testing.T) {
	s := &sleeper{failAt: 13}
	var done atomic.Int64
	r := bench.Measure(context.Background(), s, 200, 8, func() { done.Add(1) })
	if done.Load() != 200 {
		t.Errorf("progress saw %d units, want 200", done.Load())
	}
	if got := s.most.Load(); got != 8 {
		t.Errorf("at most %d in flight, want 8", got)
	}
	if r.Errors != 1 || r.Err == nil || !strings.Contains(r.Err.Error(), "boom") {
		t.Errorf("errors %d (%v), want the one of unit 13", r.Errors, r.Err)
	}
	counts := r.StatusCounts()
	if counts[shop.StatusCompensated] != 50 || counts[shop.StatusCompleted] != 149 || counts[bench.StatusError] != 1 {
		t.Errorf("statuses %v", counts)
	}
	st := r.Stats()
	// Sleeps last at least as long as asked, and on a busy machine longer:
	// the lower bounds are exact, the upper ones only catch a unit error.
	if st.P50 < 1 || st.P50 > 1000 || st.Max < 10 || st.Max > 10_000 || st.P50 > st.Max {
		t.Errorf("latencies p50 %.2f ms max %.2f ms, want about 5 and 10", st.P50, st.Max)
	}
	// 200 units of 5.5 ms on average, 8 at a time: about 140 ms.
	if r.Wall < 100*time.Millisecond || r.Wall > 30*time.Second {
		t.Errorf("wall %s", r.Wall)
	}
	if want := 200 / r.Wall.Seconds(); math.Abs(st.Throughput-want) > 0.01 {
		t.Errorf("throughput %.1f, want %.1f", st.Throughput, want)
	}
	// Each unit's end is on the run's time line, after at least its own
	// latency, and the last is the wall time.
	if len(r.Ends) != 200 || slices.Max(r.Ends) != r.Wall {
		t.Fatalf("%d ends, the last at %s, want 200 and the wall time %s", len(r.Ends), slices.Max(r.Ends), r.Wall)
	}
	for i, e := range r.Ends {
		if e < time.Duration(i%10+1)*time.Millisecond {
			t.Errorf("unit %d ended at %s, before its %d ms had passed", i, e, i%10+1)
		}
	}
	if len(st.Percentiles) != len(bench.Quantiles) || st.Series == nil || len(st.Series.PerSecond) != 199/bench.PerBucket {
		t.Errorf("stats: %d percentiles, series %+v", len(st.Percentiles), st.Series)
	}

	// A cancelled run stops feeding and counts what was never placed.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r = bench.Measure(ctx, &sleeper{failAt: -1}, 50, 4, nil)
	if r.Errors == 0 || r.Err == nil {
		t.Errorf("cancelled run: %d errors (%v), want some", r.Errors, r.Err)
	}
}

func TestCombine(t *testing.T) {
	s := &sleeper{failAt: -1}
	a := bench.Measure(context.Background(), bench.Offset{Target: s, Base: 0}, 30, 3, nil)
	b := bench.Measure(context.Background(), bench.Offset{Target: s, Base: 30}, 50, 5, nil)
	whole := bench.Combine(a, b)
	if whole.N != 80 || whole.Latency.TotalCount() != 80 || len(whole.Statuses) != 80 || whole.Errors != 0 || whole.Concurrency != 5 {
		t.Fatalf("combined run: n %d, latencies %d, statuses %d, errors %d, concurrency %d", whole.N, whole.Latency.TotalCount(), len(whole.Statuses), whole.Errors, whole.Concurrency)
	}
	if whole.Wall != a.Wall+b.Wall {
		t.Errorf("wall %s, want %s + %s", whole.Wall, a.Wall, b.Wall)
	}
	// Unit i of b is unit 30+i: 30, 34, … are compensated.
	if got := whole.StatusCounts()[shop.StatusCompensated]; got != 20 {
		t.Errorf("%d compensated, want 20 (every 4th of 0..79)", got)
	}
	if whole.Latency.Max() < a.Latency.Max() || whole.Latency.Max() < b.Latency.Max() {
		t.Error("the combined maximum is below a part's")
	}
}

func TestStreamPipeline(t *testing.T) {
	rdb := testenv.StartRedis(t).Client()
	ctx := context.Background()
	p := &bench.StreamPipeline{Redis: rdb, Prefix: "t:bench:", IDs: func(i int) string { return fmt.Sprintf("u%d", i) }}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	r := bench.Measure(ctx, p, 300, 16, nil)
	if err := p.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if r.Errors != 0 || r.StatusCounts()[shop.StatusCompleted] != 300 {
		t.Fatalf("errors %d (%v), statuses %v", r.Errors, r.Err, r.StatusCounts())
	}
	// Every hop acked everything, and Stop left no key behind.
	keys, err := rdb.Keys(ctx, "t:bench:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 0 {
		t.Errorf("keys left behind: %v", keys)
	}
	if (&bench.StreamPipeline{Redis: rdb, Prefix: "nocolon", IDs: p.IDs}).Start(ctx) == nil {
		t.Error("a prefix without ':' was accepted")
	}
}

func sampleReport() *bench.Report {
	ok := true
	rep := &bench.Report{
		Command: "starter bench --orders 10", Date: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Seed: 7, Orders: 10, Concurrency: 2, Faults: "payment=decline:0.2",
		Results: []bench.Result{
			{Mode: shop.ModeOrchestration, Stats: bench.Stats{Orders: 10, Throughput: 50, P50: 80, P90: 90, P99: 99, Max: 120},
				Statuses: map[shop.Status]int{shop.StatusCompleted: 8, shop.StatusCompensated: 2}, InvariantsOK: true, Violations: []string{}},
			{Mode: shop.ModeChoreography, Stats: bench.Stats{Orders: 10, Throughput: 2000, P50: 5, P90: 9, P99: 12, Max: 13},
				Statuses: map[shop.Status]int{shop.StatusCompleted: 8, shop.StatusCompensated: 2}, Retries: 3, InvariantsOK: true, Violations: []string{}},
		},
		Baseline: &bench.Baselines{
			Orchestration: &bench.BaselineResult{Name: bench.BareTemporalName, Stats: bench.Stats{Orders: 10, Throughput: 100, P50: 40}},
			Choreography:  &bench.BaselineResult{Name: bench.BareStreamsName, Stats: bench.Stats{Orders: 10, Throughput: 8000, P50: 2}},
		},
		OutcomesMatch: &ok, OK: true,
		Machine: bench.Machine{CPUs: 2, OS: "linux", Arch: "amd64", GoVersion: "go1.26", RedisVersion: "7.0.15", TemporalVersion: "1.2.3", TemporalVersionFrom: "GetSystemInfo"},
	}
	for i, r := range rep.Results {
		rep.Baseline.For(r.Mode).SetRatios(rep.Results[i].Stats)
	}
	return rep
}

func TestReportRendering(t *testing.T) {
	rep := sampleReport()
	if b := rep.Baseline.Orchestration; b.ThroughputRatio != 0.5 || b.P50Ratio != 2 {
		t.Errorf("orchestration ratios %v %v, want 0.5 and 2", b.ThroughputRatio, b.P50Ratio)
	}
	var md bytes.Buffer
	if err := rep.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| ENGINE | SAGAS/S | P50 | P90 | P99 | MAX | COMPLETED | COMPENSATED | FAILED | OTHER | RETRIES | INVARIANTS |",
		"| orchestration | 50.0 | 80.0ms | 90.0ms | 99.0ms | 120ms | 8 | 2 | 0 | - | 0 | OK |",
		"| choreography | 2000.0 | 5.00ms |",
		"| " + bench.BareTemporalName + " | 100.0 | 40.0ms |",
		"starter bench --orders 10", "2026-01-02 03:04:05 UTC", "CPUs: 2", "Redis: 7.0.15", "Temporal server: 1.2.3 (GetSystemInfo)",
		"Measured on: 2 CPUs, linux/amd64; Redis 7.0.15; Temporal server 1.2.3; go1.26.",
		"throughput 0.50×", "p50 2.00×", "both engines agree",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("Markdown report lacks %q:\n%s", want, md.String())
		}
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "ENGINE") || !strings.Contains(text.String(), "choreography: invariants hold") ||
		!strings.Contains(text.String(), "measured on: 2 CPUs, linux/amd64; Redis 7.0.15; Temporal server 1.2.3; go1.26\n") {
		t.Errorf("text report:\n%s", text.String())
	}

	bad := false
	rep.OutcomesMatch = &bad
	rep.Results[1].InvariantsOK = false
	rep.Results[1].Violations = []string{"stock of book: off by one"}
	text.Reset()
	_ = rep.WriteText(&text)
	for _, want := range []string{"1 violation(s)", "stock of book: off by one", "outcomes DIFFER"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
}

func TestReportJSON(t *testing.T) {
	b, err := json.Marshal(sampleReport())
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Results  []map[string]any          `json:"results"`
		Baseline map[string]map[string]any `json:"baseline"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"mode", "orders", "throughput", "p50_ms", "p90_ms", "p99_ms", "max_ms", "statuses", "retries", "invariants_ok", "violations", "latency_percentiles"} {
		if _, ok := doc.Results[0][k]; !ok {
			t.Errorf("result lacks %q: %s", k, b)
		}
	}
	for _, m := range []string{"orchestration", "choreography"} {
		for _, k := range []string{"name", "throughput", "p50_ms", "throughput_ratio", "p50_ratio"} {
			if _, ok := doc.Baseline[m][k]; !ok {
				t.Errorf("baseline %s lacks %q: %s", m, k, b)
			}
		}
	}
	rep := sampleReport()
	rep.Baseline = nil
	b, _ = json.Marshal(rep)
	if strings.Contains(string(b), `"baseline"`) {
		t.Errorf("no baseline measured, yet %s", b)
	}
}

func TestBar(t *testing.T) {
	got := bench.Bar("choreography", 50, 200, 2*time.Second)
	for _, want := range []string{"choreography", "[#######.......................]", "50/200", " 25%", "25/s", "2s"} {
		if !strings.Contains(got, want) {
			t.Errorf("Bar = %q, lacks %q", got, want)
		}
	}
	if got := bench.Bar("x", 300, 200, time.Second); !strings.Contains(got, "100%") {
		t.Errorf("overfull bar %q", got)
	}
	var buf bytes.Buffer
	if bench.IsTerminal(&buf) {
		t.Error("a buffer is not a terminal")
	}
	p := bench.StartProgress(&buf, "x", 10)
	p.Add()
	p.Stop()
	if !strings.Contains(buf.String(), "1/10") || !strings.HasSuffix(buf.String(), "\r\033[K") {
		t.Errorf("progress output %q", buf.String())
	}
	var nilBar *bench.Progress
	nilBar.Add()
	nilBar.Stop()
}

// TestBaselineNotEager: the baseline starts its workflows the way the
// bench's orders start, which have no worker sharing their client: not
// eagerly.
func TestBaselineNotEager(t *testing.T) {
	b := &bench.TemporalBaseline{IDs: func(i int) string { return fmt.Sprint(i) }}
	if b.StartOptions(0).EnableEagerStart {
		t.Error("the baseline starts its workflows eagerly; the engine's orders never are")
	}
}

// TestBaselineHasTheSagasShape: the bare engines run one activity, one
// hop, per step of the saga, and their names say how many.
func TestBaselineHasTheSagasShape(t *testing.T) {
	if bench.BareSteps != len(shop.Steps) || bench.Hops != len(shop.Steps)+1 {
		t.Errorf("bare workflow of %d activities, pipeline of %d hops; the saga has %d steps", bench.BareSteps, bench.Hops, len(shop.Steps))
	}
	if !strings.Contains(bench.BareTemporalName, fmt.Sprintf(" %d no-op activities", bench.BareSteps)) ||
		!strings.Contains(bench.BareStreamsName, fmt.Sprintf(" %d hops", bench.Hops)) {
		t.Errorf("names %q and %q do not say %d activities and %d hops", bench.BareTemporalName, bench.BareStreamsName, bench.BareSteps, bench.Hops)
	}
}
