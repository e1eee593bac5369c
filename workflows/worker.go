package workflows

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/shop"
)

// Prefix is the Redis key prefix of the orchestration engine's participants.
const Prefix = activities.OrchestrationPrefix

// Seed sets the initial stock of the orchestration engine's catalog where it
// is not set yet. Call it once before the first order.
func Seed(ctx context.Context, rdb redis.UniversalClient, catalog shop.Catalog) error {
	return activities.Seed(ctx, rdb, Prefix, catalog)
}

// NewWorker returns a worker on TaskQueue that runs OrderSaga and the three
// participants over rdb, and nothing else. The caller starts and stops it.
func NewWorker(c client.Client, rdb redis.UniversalClient, catalog shop.Catalog, opts worker.Options) worker.Worker {
	w := worker.New(c, TaskQueue, WorkerOptions(opts))
	Register(w, activities.New(rdb, Prefix, catalog))
	return w
}

// Register registers OrderSaga and the participants' operations as
// activities (named after their methods: Reserve, Release, Charge, ...).
func Register(r worker.Registry, p activities.Participants) {
	r.RegisterWorkflow(OrderSaga)
	r.RegisterActivity(p.Inventory)
	r.RegisterActivity(p.Payment)
	r.RegisterActivity(p.Shipping)
}

// WorkerOptions returns opts with what every worker of OrderSaga needs: the
// interceptor that turns the participants' domain errors into Temporal's.
func WorkerOptions(opts worker.Options) worker.Options {
	opts.Interceptors = append([]interceptor.WorkerInterceptor{&domainErrors{}}, opts.Interceptors...)
	return opts
}

// domainErrors is the boundary between the participants and Temporal: a
// refusal becomes a non-retryable ApplicationError whose type is the
// refusal's (PaymentDeclined, ...), a transient failure a retryable one of
// type TransientFault. Anything else is left to Temporal's retry policy.
type domainErrors struct {
	interceptor.WorkerInterceptorBase
}

func (*domainErrors) InterceptActivity(_ context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	i := &domainErrorsInbound{}
	i.Next = next
	return i
}

type domainErrorsInbound struct {
	interceptor.ActivityInboundInterceptorBase
}

func (i *domainErrorsInbound) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	res, err := i.Next.ExecuteActivity(ctx, in)
	return res, TemporalError(err)
}

// TemporalError converts a participant's error for Temporal (see domainErrors).
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
