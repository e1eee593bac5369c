package workflows

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/shop"
)

// Seed sets the initial stock of the orchestration engine's catalog where it
// is not set yet. Call it once before the first order.
func Seed(ctx context.Context, rdb redis.UniversalClient, catalog shop.Catalog) error {
	return activities.Seed(ctx, rdb, activities.OrchestrationPrefix, catalog)
}

// NewWorker returns a worker on TaskQueue that runs OrderSaga, with the
// default Config, and the four participants over rdb, and nothing else.
// The caller starts and stops it.
func NewWorker(c client.Client, rdb redis.UniversalClient, catalog shop.Catalog, opts worker.Options) worker.Worker {
	return NewConfiguredWorker(c, rdb, Config{Catalog: catalog}, opts)
}

// NewConfiguredWorker is NewWorker with OrderSaga tuned by cfg; cfg.Catalog
// is the participants' catalog too.
func NewConfiguredWorker(c client.Client, rdb redis.UniversalClient, cfg Config, opts worker.Options) worker.Worker {
	cfg = cfg.withDefaults()
	w := worker.New(c, TaskQueue, WorkerOptions(opts))
	Register(w, activities.New(rdb, activities.OrchestrationPrefix, cfg.Catalog), cfg)
	return w
}

// Register registers OrderSaga, tuned by cfg, under WorkflowType and the
// participants' operations as activities (named after their methods:
// Reserve, Release, Check, Charge, ...).
func Register(r worker.Registry, p activities.Participants, cfg Config) {
	r.RegisterWorkflowWithOptions(cfg.withDefaults().OrderSaga, workflow.RegisterOptions{Name: WorkflowType})
	r.RegisterActivity(p.Inventory)
	r.RegisterActivity(p.Fraud)
	r.RegisterActivity(p.Payment)
	r.RegisterActivity(p.Shipping)
	r.RegisterActivity(p.Notifier(cfg.NotificationRetention))
}

// WorkerOptions returns opts with what every worker of OrderSaga needs: the
// interceptor that heartbeats while an activity runs and turns the
// participants' domain errors into Temporal's, and records each saga's end
// in the worker's metrics (see sagaInterceptor).
func WorkerOptions(opts worker.Options) worker.Options {
	opts.Interceptors = append([]interceptor.WorkerInterceptor{&sagaInterceptor{}}, opts.Interceptors...)
	return opts
}

// ErrMissingSearchAttributes is wrapped by CheckSearchAttributes when the
// namespace lacks a search attribute OrderSaga sets.
var ErrMissingSearchAttributes = errors.New("search attributes are not registered")

// CheckSearchAttributes reports an error wrapping ErrMissingSearchAttributes
// unless the namespace knows the search attributes OrderSaga sets, as
// keywords: without them every workflow task of a saga would fail and the
// order would never move. An error listing them (a server that does not let
// this client ask) is returned as is.
func CheckSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("list the search attributes of namespace %s: %w", namespace, err)
	}
	var missing []string
	for _, name := range []string{SearchAttrOrderStatus, SearchAttrOrderFailedStep} {
		if resp.GetCustomAttributes()[name] != enums.INDEXED_VALUE_TYPE_KEYWORD {
			missing = append(missing, name)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("namespace %s: keyword %s %w; register them, e.g. `temporal operator search-attribute create --namespace %s --name %s --type Keyword` "+
		"(a dev server: start-dev --search-attribute %s=Keyword)",
		namespace, strings.Join(missing, ", "), ErrMissingSearchAttributes, namespace, missing[0], missing[0])
}

// sagaInterceptor is what every worker of OrderSaga adds around it.
//
// Around activities, it is the boundary between the participants and
// Temporal: a refusal becomes a non-retryable ApplicationError whose type is
// the refusal's (PaymentDeclined, ...), a transient failure a retryable one
// of type TransientFault. Anything else is left to Temporal's retry policy.
//
// Around workflows, it records, through the workflow's metrics handler
// (which records nothing on replay), each order that reaches a terminal
// state: COMPLETED or COMPENSATED when OrderSaga returns its Outcome, FAILED
// when it sets the OrderStatus search attribute to FAILED and waits for a
// repair. The duration runs from the workflow's start, the placement.
type sagaInterceptor struct {
	interceptor.WorkerInterceptorBase
}

func (*sagaInterceptor) InterceptActivity(_ context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &domainErrorsInbound{interceptor.ActivityInboundInterceptorBase{Next: next}}
}

func (*sagaInterceptor) InterceptWorkflow(_ workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &sagaMetricsInbound{interceptor.WorkflowInboundInterceptorBase{Next: next}}
}

// domainErrorsInbound heartbeats and converts the participants' errors.
type domainErrorsInbound struct {
	interceptor.ActivityInboundInterceptorBase
}

func (i *domainErrorsInbound) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	stop := heartbeat(ctx)
	res, err := i.Next.ExecuteActivity(ctx, in)
	stop()
	return res, TemporalError(err)
}

// heartbeat records a heartbeat every quarter of the activity's heartbeat
// timeout until stop is called. The participants stay engine-neutral: they
// only watch their context, which the worker cancels when the server answers
// a heartbeat with a cancel request (or the heartbeat timeout passes).
func heartbeat(ctx context.Context) (stop func()) {
	timeout := activity.GetInfo(ctx).HeartbeatTimeout
	if timeout <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(timeout / 4)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx)
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}

// sagaMetricsInbound records the ends of sagas in the worker's metrics.
type sagaMetricsInbound struct {
	interceptor.WorkflowInboundInterceptorBase
}

func (i *sagaMetricsInbound) Init(outbound interceptor.WorkflowOutboundInterceptor) error {
	return i.Next.Init(&sagaMetricsOutbound{interceptor.WorkflowOutboundInterceptorBase{Next: outbound}})
}

func (i *sagaMetricsInbound) ExecuteWorkflow(ctx workflow.Context, in *interceptor.ExecuteWorkflowInput) (any, error) {
	res, err := i.Next.ExecuteWorkflow(ctx, in)
	if out, ok := res.(shop.Outcome); ok && out.Status.Terminal() {
		recordSaga(ctx, out)
	}
	return res, err
}

type sagaMetricsOutbound struct {
	interceptor.WorkflowOutboundInterceptorBase
}

func (o *sagaMetricsOutbound) UpsertTypedSearchAttributes(ctx workflow.Context, updates ...temporal.SearchAttributeUpdate) error {
	before, _ := workflow.GetTypedSearchAttributes(ctx).GetKeyword(OrderStatusKey)
	err := o.Next.UpsertTypedSearchAttributes(ctx, updates...)
	after, _ := workflow.GetTypedSearchAttributes(ctx).GetKeyword(OrderStatusKey)
	if err == nil && after == string(shop.StatusFailed) && before != after {
		recordSaga(ctx, shop.Outcome{Status: shop.StatusFailed})
	}
	return err
}

func recordSaga(ctx workflow.Context, out shop.Outcome) {
	took := workflow.Now(ctx).Sub(workflow.GetInfo(ctx).WorkflowStartTime)
	recordSagaOn(workflow.GetMetricsHandler(ctx), out, took)
}

// TemporalError converts a participant's error for Temporal (see sagaInterceptor).
func TemporalError(err error) error {
	if r, ok := activities.IsRefusal(err); ok {
		return temporal.NewNonRetryableApplicationError(r.Reason, r.Type(), nil)
	}
	var te *activities.TransientError
	if errors.As(err, &te) {
		return temporal.NewApplicationError(te.Detail, activities.ErrTypeTransient)
	}
	return err
}
