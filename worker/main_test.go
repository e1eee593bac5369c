package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
	_ "unsafe" // go:linkname, see setRetryLongPollGracePeriod

	"go.temporal.io/api/enums/v1"
	namespacepb "go.temporal.io/api/namespace/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"google.golang.org/grpc"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/internal/platform/config"
	"github.com/ordersaga/ordersaga/internal/platform/poll"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/internal/testkit/teststack"
	"github.com/ordersaga/ordersaga/shop"
	"github.com/ordersaga/ordersaga/workflows"
)

func TestParse(t *testing.T) {
	o, err := parse(nil)
	if err != nil || len(o.services) != 7 {
		t.Fatalf("defaults: %v %v", o, err)
	}
	o, err = parse([]string{"--services", "payment, shipping,payment"})
	if err != nil || !slices.Equal(o.services, []string{"payment", "shipping"}) {
		t.Fatalf("services: %v %v", o.services, err)
	}
	for _, bad := range [][]string{
		{"--services", "billing"},
		{"--services", ""},
		{"--concurrency", "0"},
		{"--nope"},
		{"stray"},
	} {
		if _, err := parse(bad); !errors.Is(err, errUsage) {
			t.Errorf("%v: %v, want a usage error", bad, err)
		}
	}
	if _, err := parse([]string{"--help"}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("--help: %v", err)
	}
}

func TestUnreachableRedisFailsFast(t *testing.T) {
	start := time.Now()
	err := run(context.Background(), []string{"--services", "payment", "--redis-url", "redis://127.0.0.1:1/0"})
	if err == nil || time.Since(start) > 10*time.Second {
		t.Fatalf("err %v after %s", err, time.Since(start))
	}
}

// TestEvictingRedisRefused: a worker pointed at a Redis that would evict
// keys when full refuses to start, saying which setting and how to fix it.
func TestEvictingRedisRefused(t *testing.T) {
	srv := testenv.StartRedis(t, "--maxmemory-policy", "allkeys-lru")
	err := run(context.Background(), []string{"--redis-url", srv.URL(), "--log-level", "error"})
	var evict *config.EvictionError
	if !errors.As(err, &evict) || !strings.Contains(err.Error(), "maxmemory-policy allkeys-lru") ||
		!strings.Contains(err.Error(), "set maxmemory-policy noeviction") || !strings.Contains(err.Error(), config.EnvAllowEviction+"=1") {
		t.Fatalf("worker on an allkeys-lru Redis: %v; want a refusal naming the policy, the fix and the override", err)
	}
}

// The choreography services of one worker process run a saga, and stop
// cleanly when their context ends.
func TestRunsServicesAndStops(t *testing.T) {
	srv := testenv.StartRedis(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--services", "order,inventory,fraud,payment,shipping", "--redis-url", srv.URL(), "--log-level", "error"})
	}()
	rdb := srv.Client()
	cat := shop.DefaultCatalog()
	node := choreography.NewNode(rdb, cat, nil)
	if err := node.Bus.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	if err := activities.Seed(ctx, rdb, activities.ChoreographyPrefix, cat); err != nil {
		t.Fatal(err)
	}
	eng := choreography.NewEngine(node, cat)
	o := shop.Order{ID: "w1", Items: []shop.Item{{SKU: "pen", Quantity: 2}}}
	if err := eng.Place(ctx, o); err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	out, err := eng.Wait(wctx, o.ID)
	if err != nil || out.Status != shop.StatusCompleted {
		t.Fatalf("order: %v %v", out.Status, err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("worker stopped with %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("worker did not stop")
	}
}

func TestParseOrchestrationFlags(t *testing.T) {
	o, err := parse([]string{"--stop-timeout", "5s", "--compensation-max-backoff", "250ms"})
	if err != nil || o.stopTimeout != 5*time.Second || o.compensationMaxBackoff != 250*time.Millisecond {
		t.Fatalf("parse: %+v %v", o, err)
	}
	if o, _ := parse(nil); o.stopTimeout <= 0 || o.compensationMaxBackoff != workflows.DefaultCompensationMaxInterval {
		t.Errorf("defaults: stop timeout %s, compensation backoff cap %s; want a drain by default and the workflow's cap", o.stopTimeout, o.compensationMaxBackoff)
	}
	if o, err := parse([]string{"--activities", "local"}); err != nil || o.activities != workflows.ActivitiesLocal {
		t.Errorf("--activities local: %+v %v", o, err)
	}
	if o, _ := parse(nil); o.activities != workflows.ActivitiesRegular {
		t.Errorf("default activity mode %q, want regular", o.activities)
	}
	for _, bad := range [][]string{{"--stop-timeout", "-1s"}, {"--compensation-max-backoff", "10ms"}, {"--activities", "remote"}, {"--compensation-alert-after", "0s"}} {
		if _, err := parse(bad); !errors.Is(err, errUsage) {
			t.Errorf("%v: %v, want a usage error", bad, err)
		}
	}
}

// TestShutdownDrains stops the worker (what SIGTERM does) while an activity
// with a 3 s delay runs: the activity finishes before the worker goes, so
// its history has no "context canceled" failure and no second attempt. A
// worker started again finishes the order.
func TestShutdownDrains(t *testing.T) {
	rsrv := testenv.StartRedis(t)
	tsrv := testenv.StartTemporal(t)
	args := []string{"--services", "orchestration", "--redis-url", rsrv.URL(), "--temporal-address", tsrv.Address, "--log-level", "error"}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, args) }()

	tc, err := client.Dial(client.Options{HostPort: tsrv.Address, Logger: tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	eng := workflows.NewEngine(tc, shop.DefaultCatalog())
	o := shop.Order{ID: "drain-1", Items: []shop.Item{{SKU: "pen", Quantity: 1}},
		Faults: shop.FaultPlan{shop.OpSchedule: {Kind: shop.FaultDelay, Delay: 3 * time.Second}}}
	if err := eng.Place(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	teststack.WaitRunning(t, eng, o.ID, shop.OpSchedule)
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("worker stopped with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("worker did not stop")
	}

	ctx, stop = context.WithCancel(context.Background())
	defer stop()
	go func() { done <- run(ctx, args) }()
	wctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := eng.Wait(wctx, o.ID)
	if err != nil || out.Status != shop.StatusCompleted {
		t.Fatalf("order after the restart: %+v, %v; want COMPLETED", out, err)
	}
	h, err := eng.History(context.Background(), o.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range h {
		if strings.Contains(e.Detail, "context canceled") || (e.Op == shop.OpSchedule && e.Result == workflows.ResultRetry) {
			t.Errorf("history entry %s of %s: %q; want the running attempt to finish, not be cancelled", e.Name, e.Op, e.Detail)
		}
	}
}

// TestOrchestrationRecordsSettled: the worker's --order-retention settles
// the orchestration's participant records too, as it settles the
// choreography's orders.
func TestOrchestrationRecordsSettled(t *testing.T) {
	rsrv := testenv.StartRedis(t)
	tsrv := testenv.StartTemporal(t)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--services", "orchestration", "--redis-url", rsrv.URL(), "--temporal-address", tsrv.Address,
			"--log-level", "error", "--order-retention", "1ms", "--trim-interval", "100ms"})
	}()
	tc, err := client.Dial(client.Options{HostPort: tsrv.Address, Logger: tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	eng := workflows.NewEngine(tc, shop.DefaultCatalog())
	o := shop.Order{ID: "settled-1", Items: []shop.Item{{SKU: "pen", Quantity: 1}}}
	if err := eng.Place(ctx, o); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if out, err := eng.Wait(wctx, o.ID); err != nil || out.Status != shop.StatusCompleted {
		t.Fatalf("order: %+v, %v", out, err)
	}
	lay, err := activities.LayoutOf(ctx, rsrv.Client(), activities.OrchestrationPrefix)
	if err != nil {
		t.Fatal(err)
	}
	inv, pay, ship := lay.OrderKeys(o.ID)
	err = poll.For(wctx, 30*time.Second, poll.Every(100*time.Millisecond), func(ctx context.Context) (bool, error) {
		n, err := rsrv.Client().Exists(ctx, inv, pay, ship).Result()
		return n == 0, err
	})
	if err != nil {
		t.Fatalf("the participant records of order %s are still there: %v", o.ID, err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("worker stopped with %v", err)
	}
}

// goneNamespace is a Temporal frontend whose namespace vanishes once a
// worker has started: every poll answers NamespaceNotFound, which the SDK
// treats as fatal.
type goneNamespace struct {
	workflowservice.UnimplementedWorkflowServiceServer
	operatorservice.UnimplementedOperatorServiceServer
	// noSearchAttributes: the namespace lacks OrderSaga's search attributes.
	noSearchAttributes bool
}

func (goneNamespace) GetSystemInfo(context.Context, *workflowservice.GetSystemInfoRequest) (*workflowservice.GetSystemInfoResponse, error) {
	return &workflowservice.GetSystemInfoResponse{ServerVersion: "1.29.1", Capabilities: &workflowservice.GetSystemInfoResponse_Capabilities{}}, nil
}

func (goneNamespace) DescribeNamespace(_ context.Context, r *workflowservice.DescribeNamespaceRequest) (*workflowservice.DescribeNamespaceResponse, error) {
	return &workflowservice.DescribeNamespaceResponse{NamespaceInfo: &namespacepb.NamespaceInfo{Name: r.GetNamespace(), State: enums.NAMESPACE_STATE_REGISTERED}}, nil
}

func (g goneNamespace) ListSearchAttributes(context.Context, *operatorservice.ListSearchAttributesRequest) (*operatorservice.ListSearchAttributesResponse, error) {
	if g.noSearchAttributes {
		return &operatorservice.ListSearchAttributesResponse{}, nil
	}
	return &operatorservice.ListSearchAttributesResponse{CustomAttributes: map[string]enums.IndexedValueType{
		workflows.SearchAttrOrderStatus: enums.INDEXED_VALUE_TYPE_KEYWORD, workflows.SearchAttrOrderFailedStep: enums.INDEXED_VALUE_TYPE_KEYWORD,
	}}, nil
}

func (goneNamespace) gone() error {
	return serviceerror.ToStatus(serviceerror.NewNamespaceNotFound("default")).Err()
}

func (g goneNamespace) PollWorkflowTaskQueue(context.Context, *workflowservice.PollWorkflowTaskQueueRequest) (*workflowservice.PollWorkflowTaskQueueResponse, error) {
	return nil, g.gone()
}

func (g goneNamespace) PollActivityTaskQueue(context.Context, *workflowservice.PollActivityTaskQueueRequest) (*workflowservice.PollActivityTaskQueueResponse, error) {
	return nil, g.gone()
}

// fakeFrontend serves g on a free port until the test ends.
func fakeFrontend(t *testing.T, g goneNamespace) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	workflowservice.RegisterWorkflowServiceServer(srv, g)
	operatorservice.RegisterOperatorServiceServer(srv, g)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return l.Addr().String()
}

// TestMissingSearchAttributesRefused: a namespace without OrderSaga's
// search attributes would leave every order stuck; the worker refuses to
// start, saying how to register them.
func TestMissingSearchAttributesRefused(t *testing.T) {
	rsrv := testenv.StartRedis(t)
	addr := fakeFrontend(t, goneNamespace{noSearchAttributes: true})
	err := run(context.Background(), []string{"--services", "orchestration", "--redis-url", rsrv.URL(), "--temporal-address", addr, "--log-level", "error"})
	if !errors.Is(err, workflows.ErrMissingSearchAttributes) || !strings.Contains(err.Error(), "OrderStatus, OrderFailedStep") ||
		!strings.Contains(err.Error(), "temporal operator search-attribute create") {
		t.Fatalf("run: %v, want the missing search attributes named, with how to register them", err)
	}
}

// retryLongPollGracePeriod is how long the SDK retries even a fatal poll
// error (NamespaceNotFound) before it gives up: two minutes, because proxies
// sometimes answer oddly. The SDK keeps it in an internal variable with a
// setter for tests; TestMain shortens it for this test binary, before any
// worker runs (its workers all read it), so that a fatal error is fatal in
// seconds. No other test here meets a fatal poll error.
//
//go:linkname setRetryLongPollGracePeriod go.temporal.io/sdk/internal.SetRetryLongPollGracePeriod
func setRetryLongPollGracePeriod(time.Duration)

func TestMain(m *testing.M) {
	setRetryLongPollGracePeriod(time.Second)
	os.Exit(m.Run())
}

// TestFatalWorkerErrorExits: when the Temporal worker fails for good, the
// process ends with the error instead of running on without it (after the
// SDK's grace period, shortened by TestMain).
func TestFatalWorkerErrorExits(t *testing.T) {
	rsrv := testenv.StartRedis(t)
	addr := fakeFrontend(t, goneNamespace{})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--services", "orchestration,payment", "--redis-url", rsrv.URL(), "--temporal-address", addr, "--log-level", "error"})
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "temporal worker stopped") || !strings.Contains(err.Error(), "default") {
			t.Fatalf("worker ended with %v, want the fatal error naming the namespace", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("worker still running a minute after its Temporal worker failed for good")
	}
}
