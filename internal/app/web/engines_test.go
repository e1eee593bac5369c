package web

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/choreography/stream"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/internal/testkit/teststack"
	"github.com/ordersaga/ordersaga/shop"
	"github.com/ordersaga/ordersaga/workflows"
)

// fakeTemporal answers counts and listings from a list of workflows.
type fakeTemporal struct {
	mu      sync.Mutex
	execs   []*workflowpb.WorkflowExecutionInfo
	attr    bool // whether OrderStatus is a registered search attribute
	queries []string
}

func (f *fakeTemporal) add(id string, start time.Time, st enums.WorkflowExecutionStatus, attr shop.Status) {
	ex := &workflowpb.WorkflowExecutionInfo{
		Execution: &commonpb.WorkflowExecution{WorkflowId: shop.WorkflowID(id), RunId: "run-" + id},
		StartTime: timestamppb.New(start), Status: st,
	}
	if attr != "" {
		p, _ := converter.GetDefaultDataConverter().ToPayload(string(attr))
		ex.SearchAttributes = &commonpb.SearchAttributes{IndexedFields: map[string]*commonpb.Payload{workflows.SearchAttrOrderStatus: p}}
	}
	f.mu.Lock()
	// Newest first, as visibility lists them.
	f.execs = append([]*workflowpb.WorkflowExecutionInfo{ex}, f.execs...)
	f.mu.Unlock()
}

func (f *fakeTemporal) attrOf(ex *workflowpb.WorkflowExecutionInfo) string {
	var s string
	if p := ex.GetSearchAttributes().GetIndexedFields()[workflows.SearchAttrOrderStatus]; p != nil {
		_ = converter.GetDefaultDataConverter().FromPayload(p, &s)
	}
	return s
}

var attrQuery = regexp.MustCompile(`OrderStatus = '(\w+)'`)

func (f *fakeTemporal) CountWorkflow(_ context.Context, req *workflowservice.CountWorkflowExecutionsRequest) (*workflowservice.CountWorkflowExecutionsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, req.Query)
	if m := attrQuery.FindStringSubmatch(req.Query); m != nil {
		if !f.attr {
			return nil, serviceerror.NewInvalidArgument("invalid query: unknown or invalid search attribute: OrderStatus")
		}
		var n int64
		for _, ex := range f.execs {
			if f.attrOf(ex) == m[1] && (!strings.Contains(req.Query, "ExecutionStatus = 'Completed'") || ex.GetStatus() == enums.WORKFLOW_EXECUTION_STATUS_COMPLETED) {
				n++
			}
		}
		return &workflowservice.CountWorkflowExecutionsResponse{Count: n}, nil
	}
	if !strings.HasSuffix(req.Query, " GROUP BY ExecutionStatus") {
		return nil, fmt.Errorf("unexpected query %q", req.Query)
	}
	by := map[string]int64{}
	for _, ex := range f.execs {
		by[ex.GetStatus().String()]++
	}
	resp := &workflowservice.CountWorkflowExecutionsResponse{Count: int64(len(f.execs))}
	for st, n := range by {
		p, _ := converter.GetDefaultDataConverter().ToPayload(st)
		resp.Groups = append(resp.Groups, &workflowservice.CountWorkflowExecutionsResponse_AggregationGroup{GroupValues: []*commonpb.Payload{p}, Count: n})
	}
	return resp, nil
}

func (f *fakeTemporal) ListWorkflow(_ context.Context, req *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, req.Query)
	n := min(int(req.PageSize), len(f.execs))
	return &workflowservice.ListWorkflowExecutionsResponse{Executions: f.execs[:n]}, nil
}

// fakeOutcomes answers Wait with each order's outcome and counts the calls.
type fakeOutcomes struct {
	shop.Engine
	status map[string]shop.Status
	waits  atomic.Int64
}

func (f *fakeOutcomes) Wait(_ context.Context, id string) (shop.Outcome, error) {
	f.waits.Add(1)
	st, ok := f.status[id]
	if !ok {
		return shop.Outcome{}, fmt.Errorf("wait for order %s: %w", id, shop.ErrUnknownOrder)
	}
	return shop.Outcome{OrderID: id, Status: st}, nil
}

// orchFixture: 2 running, 3 completed, 2 compensated, 1 failed, 1
// terminated workflow.
func orchFixture(t *testing.T, withAttr bool) (*orchestrationView, *fakeTemporal, *fakeOutcomes) {
	t.Helper()
	rdb := testenv.StartRedis(t).Client()
	api := &fakeTemporal{attr: withAttr}
	outs := &fakeOutcomes{status: map[string]shop.Status{}}
	t0 := time.Now().Add(-time.Hour)
	add := func(i int, st enums.WorkflowExecutionStatus, out shop.Status) {
		id := fmt.Sprintf("o-%d", i)
		attr := shop.Status("")
		if withAttr {
			attr = out
		}
		api.add(id, t0.Add(time.Duration(i)*time.Second), st, attr)
		if out.Terminal() {
			outs.status[id] = out
		}
	}
	done := enums.WORKFLOW_EXECUTION_STATUS_COMPLETED
	add(1, done, shop.StatusCompleted)
	add(2, done, shop.StatusCompensated)
	add(3, done, shop.StatusCompleted)
	add(4, enums.WORKFLOW_EXECUTION_STATUS_FAILED, shop.StatusFailed)
	add(5, enums.WORKFLOW_EXECUTION_STATUS_TERMINATED, "")
	add(6, done, shop.StatusCompensated)
	add(7, done, shop.StatusCompleted)
	add(8, enums.WORKFLOW_EXECUTION_STATUS_RUNNING, shop.StatusPending)
	add(9, enums.WORKFLOW_EXECUTION_STATUS_RUNNING, shop.StatusCompensating)
	return newOrchestrationView(outs, api, rdb, shop.DefaultCatalog()), api, outs
}

var wantOrchCounts = Counts{Placed: 9, InFlight: 2, Completed: 3, Compensated: 2, Failed: 1, Other: 1}

// TestOrchestrationCountsWithoutAttribute: with no OrderStatus search
// attribute, COMPLETED and COMPENSATED come from the listed workflows'
// outcomes, each read once.
func TestOrchestrationCountsWithoutAttribute(t *testing.T) {
	v, _, outs := orchFixture(t, false)
	ctx := context.Background()
	ov, err := v.Overview(ctx, 4)
	if err != nil {
		t.Fatal(err)
	}
	if ov.Counts != wantOrchCounts {
		t.Fatalf("counts %+v, want %+v", ov.Counts, wantOrchCounts)
	}
	if len(ov.Recent) != 4 || ov.Recent[0].ID != "o-9" || ov.Recent[0].Status != shop.StatusPending || ov.Recent[3].ID != "o-6" || ov.Recent[3].Status != shop.StatusCompensated {
		t.Fatalf("recent %+v", ov.Recent)
	}
	first := outs.waits.Load()
	if first != 6 { // the closed workflows with an outcome: 5 completed, 1 failed
		t.Fatalf("%d outcomes read, want 6", first)
	}
	if _, err := v.Overview(ctx, 4); err != nil {
		t.Fatal(err)
	}
	if n := outs.waits.Load() - first; n != 0 {
		t.Fatalf("%d outcomes read again on the next refresh", n)
	}

	// A window smaller than the completed workflows: the split is an
	// estimate, and the page says so.
	v.window = 5
	ov, err = v.Overview(ctx, 4)
	if err != nil {
		t.Fatal(err)
	}
	c := ov.Counts
	if c.Placed != 9 || c.InFlight != 2 || c.Failed != 1 || c.Completed+c.Compensated >= 5 {
		t.Fatalf("counts %+v", c)
	}
	if !strings.Contains(c.Note, "of the latest 5 orders; 5 completed one way or the other in all") {
		t.Fatalf("note %q", c.Note)
	}
}

// TestOrchestrationCountsWithAttribute: where every workflow carries
// OrderStatus, counts are exact and no outcome is read.
func TestOrchestrationCountsWithAttribute(t *testing.T) {
	v, api, outs := orchFixture(t, true)
	ov, err := v.Overview(context.Background(), 20)
	if err != nil {
		t.Fatal(err)
	}
	if ov.Counts != wantOrchCounts || len(ov.Recent) != 9 {
		t.Fatalf("counts %+v, %d listed", ov.Counts, len(ov.Recent))
	}
	if n := outs.waits.Load(); n != 0 {
		t.Fatalf("%d outcomes read with the attribute there", n)
	}
	for _, o := range ov.Recent {
		if o.ID == "o-5" && o.Status != "ENDED_TERMINATED" {
			t.Errorf("terminated workflow shows %s", o.Status)
		}
		if o.ID == "o-9" && o.Status != shop.StatusCompensating {
			t.Errorf("running workflow whose OrderStatus is COMPENSATING shows %s", o.Status)
		}
	}
	// The page asked for the latest 20 only: no wider listing.
	for _, q := range api.queries {
		if strings.Contains(q, "StartTime") {
			t.Errorf("query %q filters by a reset that never happened", q)
		}
	}

	// A workflow without the attribute (started before it existed): the
	// counts fall back to the outcomes.
	api.add("o-10", time.Now(), enums.WORKFLOW_EXECUTION_STATUS_COMPLETED, "")
	outs.status["o-10"] = shop.StatusCompensated
	ov, err = v.Overview(context.Background(), 20)
	if err != nil {
		t.Fatal(err)
	}
	if ov.Counts.Compensated != 3 || ov.Counts.Completed != 3 || outs.waits.Load() != 1 {
		t.Fatalf("counts %+v after %d outcome reads", ov.Counts, outs.waits.Load())
	}
}

// TestOrchestrationCountsSinceReset: a reset (the engine's epoch) limits
// the counts to workflows started since.
func TestOrchestrationCountsSinceReset(t *testing.T) {
	v, api, _ := orchFixture(t, true)
	ctx := context.Background()
	if _, err := activities.Reset(ctx, v.rdb, activities.OrchestrationPrefix, v.catalog); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Overview(ctx, 5); err != nil {
		t.Fatal(err)
	}
	for _, q := range api.queries {
		if !strings.Contains(q, "WorkflowType = 'OrderSaga' AND StartTime >= '") {
			t.Errorf("query %q does not start at the reset", q)
		}
	}
}

// TestChoreographyOverview reads a real Redis: the orders index, the
// orders' statuses and the settled totals.
func TestChoreographyOverview(t *testing.T) {
	rdb := testenv.StartRedis(t).Client()
	ctx := context.Background()
	catalog := shop.DefaultCatalog()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	engines, bus, err := Connect(ctx, rdb, nil, catalog, quiet)
	if err != nil {
		t.Fatal(err)
	}
	chor := engines[1].(*choreographyView)
	place := func(id string) {
		t.Helper()
		if err := chor.Place(ctx, shop.Order{ID: id, Customer: "t", Items: []shop.Item{{SKU: "book", Quantity: 1}}}); err != nil {
			t.Fatal(err)
		}
	}
	// No service runs: the orders stay PENDING, and the inventory group
	// lags behind by their OrderPlaced events.
	for i := range 5 {
		place(fmt.Sprintf("o-%d", i))
		time.Sleep(2 * time.Millisecond) // distinct placement times
	}
	ov, err := chor.Overview(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Counts{Placed: 5, InFlight: 5}); ov.Counts != want {
		t.Fatalf("counts %+v, want %+v", ov.Counts, want)
	}
	if len(ov.Recent) != 3 || ov.Recent[0].ID != "o-4" || ov.Recent[2].ID != "o-2" || ov.Recent[0].Status != shop.StatusPending {
		t.Fatalf("recent %+v", ov.Recent)
	}
	chor.window = 2
	ov, err = chor.Overview(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if ov.Counts.Placed != 5 || ov.Counts.InFlight != 2 || !strings.Contains(ov.Counts.Note, "of the latest 2 of the 5 orders still recorded") {
		t.Fatalf("windowed counts %+v", ov.Counts)
	}
	h, err := bus.Health(ctx)
	if err != nil {
		t.Fatal(err)
	}
	inv := h.Services[1]
	if inv.Service != choreography.ServiceInventory || !inv.Grouped || inv.Lag != 5 || !inv.LagKnown || inv.Consuming() || inv.Consumers != 0 {
		t.Fatalf("inventory %+v", inv)
	}

	// Run the services: the orders complete, the lag goes, each group has
	// one live consumer.
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	node := choreography.NewNode(rdb, catalog, quiet)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stop()
	for _, svc := range choreography.Services {
		wg.Go(func() { _ = node.RunService(sctx, svc, choreography.ConsumerConfig{Name: svc + "-1"}) })
	}
	chor.window = 1000
	teststack.Eventually(t, 20*time.Second, 20*time.Millisecond, func() error {
		got, err := chor.Overview(ctx, 3)
		if err != nil {
			t.Fatal(err)
		}
		if got.Counts.Completed != 5 {
			return fmt.Errorf("orders did not complete: %+v", got.Counts)
		}
		// Events no service acts on are acked a moment after the order ends.
		health, err := bus.Health(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range health.Services {
			if !s.Consuming() || s.Live != 1 || s.Consumers != 1 || s.Lag != 0 || s.Pending != 0 {
				return fmt.Errorf("services: %+v", health.Services)
			}
		}
		return nil
	})
	b, err := chor.Books(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if b.Stock["book"] != catalog["book"].InitialStock-5 || b.Money.Charges != 5 || b.Money.ChargedCents != 5*catalog["book"].PriceCents {
		t.Fatalf("books %+v", b)
	}

	// Settled orders leave the index and still count.
	if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: node.Bus.DeadLetterStream(0), Values: map[string]any{"reason": "test"}}).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := node.Settle(ctx, -time.Hour, 3); err != nil || n != 3 {
		t.Fatalf("settled %d: %v", n, err)
	}
	ov, err = chor.Overview(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Counts{Placed: 5, Completed: 5}); ov.Counts != want || len(ov.Recent) != 2 {
		t.Fatalf("after settling: counts %+v, %d listed", ov.Counts, len(ov.Recent))
	}
	if h, err = bus.Health(ctx); err != nil || h.DeadLetters != 1 {
		t.Fatalf("dead letters %d: %v", h.DeadLetters, err)
	}
}

// TestHealthOf: a service's group sums over its streams, counts a consumer
// once, and is live if that consumer's process holds its presence record
// on any stream, whatever XINFO's idle time says.
func TestHealthOf(t *testing.T) {
	type read struct {
		s  string
		g  redis.XInfoGroup
		cs []redis.XInfoConsumer
	}
	reads := []read{
		{"p0", redis.XInfoGroup{Name: "payment", Lag: 3, Pending: 1}, []redis.XInfoConsumer{{Name: "payment-1", Idle: time.Hour}, {Name: "payment-2", Idle: time.Millisecond}}},
		{"p1", redis.XInfoGroup{Name: "payment", Lag: 4, Pending: 2}, []redis.XInfoConsumer{{Name: "payment-1", Idle: time.Hour}}},
		{"p0", redis.XInfoGroup{Name: "shipping", Lag: -1}, []redis.XInfoConsumer{{Name: "shipping-1", Idle: time.Millisecond}}},
		{"p0", redis.XInfoGroup{Name: "someone-else", Lag: 9}, nil},
	}
	live := map[stream.Ref]bool{{Stream: "p1", Group: "payment", Name: "payment-1"}: true, {Stream: "p0", Group: "shipping", Name: "payment-1"}: true}
	h, err := healthOf(reads, 4, func(r read) (string, redis.XInfoGroup, []redis.XInfoConsumer, error) { return r.s, r.g, r.cs, nil }, live)
	if err != nil {
		t.Fatal(err)
	}
	want := []ServiceHealth{
		{Service: "order", LagKnown: true},
		{Service: "inventory", LagKnown: true},
		{Service: "fraud", LagKnown: true},
		{Service: "payment", Lag: 7, LagKnown: true, Pending: 3, Consumers: 2, Live: 1, Grouped: true},
		{Service: "shipping", LagKnown: false, Consumers: 1, Grouped: true},
		{Service: "notify", LagKnown: true},
	}
	if h.DeadLetters != 4 || len(h.Services) != len(want) {
		t.Fatalf("%+v", h)
	}
	for i := range want {
		if h.Services[i] != want[i] {
			t.Errorf("got %+v, want %+v", h.Services[i], want[i])
		}
	}
}
