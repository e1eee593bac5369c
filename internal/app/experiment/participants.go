package experiment

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/internal/platform/buildinfo"
	"github.com/ordersaga/ordersaga/shop"
	"github.com/ordersaga/ordersaga/workflows"
)

// PaymentTaskQueue is the task queue of the payment activities while an
// experiment runs the orchestration: a worker of their own, which an
// outage stops alone.
const PaymentTaskQueue = workflows.TaskQueue + "-payment"

// Participants are one engine's participants run in the experiment's
// process, which it can stop and start one by one.
type Participants interface {
	// Stop stops the participant of step (or the choreography's service
	// of that name) until Start.
	Stop(ctx context.Context, service string) error
	Start(ctx context.Context, service string) error
	// Close stops them all.
	Close()
}

// Chor runs every choreography service, Instances consumers each.
type Chor struct {
	Node      *choreography.Node
	Instances int
	// Group names the consumers apart from any other process's.
	Group string
	mu    sync.Mutex
	stops map[string]func()
}

// StartChoreography starts every choreography service with n consumers each.
func StartChoreography(ctx context.Context, rdb redis.UniversalClient, catalog shop.Catalog, n int, group string) (*Chor, error) {
	node := choreography.NewNode(rdb, catalog, slog.New(slog.DiscardHandler))
	if err := node.Bus.Setup(ctx); err != nil {
		return nil, err
	}
	c := &Chor{Node: node, Instances: n, Group: group, stops: map[string]func(){}}
	for _, svc := range choreography.Services {
		if err := c.Start(ctx, svc); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// Start starts a service's consumers (none when they run).
func (c *Chor) Start(ctx context.Context, service string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.stops[service]; ok {
		return nil
	}
	if _, err := c.Node.Handlers(service); err != nil {
		return err
	}
	run, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	for i := range c.Instances {
		cfg := choreography.ConsumerConfig{Name: fmt.Sprintf("%s-%s-%d", c.Group, service, i+1)}
		wg.Go(func() { _ = c.Node.RunService(run, service, cfg) })
	}
	c.stops[service] = func() { cancel(); wg.Wait() }
	return nil
}

// Stop stops a service's consumers: their handlers in flight finish.
func (c *Chor) Stop(_ context.Context, service string) error {
	c.mu.Lock()
	stop, ok := c.stops[service]
	delete(c.stops, service)
	c.mu.Unlock()
	if !ok {
		return fmt.Errorf("choreography service %q is not running", service)
	}
	stop()
	return nil
}

// Close stops every service.
func (c *Chor) Close() {
	for _, svc := range choreography.Services {
		_ = c.Stop(context.Background(), svc)
	}
}

// pollers are the experiment workers' pollers, as many as the bench's bare
// Temporal worker has: the SDK's two leave a busy server's tasks waiting.
var pollers = worker.Options{MaxConcurrentWorkflowTaskPollers: 16, MaxConcurrentActivityTaskPollers: 16}

// Orch runs the orchestration: Instances workers of OrderSaga with the
// inventory, fraud, shipping and notify activities on workflows.TaskQueue, and as many
// with only the payment activities on PaymentTaskQueue.
type Orch struct {
	Client    client.Client
	Redis     redis.UniversalClient
	Catalog   shop.Catalog
	Instances int
	options   worker.Options // the workers' options, versioned where the deployment is
	mu        sync.Mutex
	main      []worker.Worker
	payment   []worker.Worker
}

// StartOrchestration starts the workers.
func StartOrchestration(ctx context.Context, tc client.Client, rdb redis.UniversalClient, catalog shop.Catalog, n int) (*Orch, error) {
	if err := workflows.Seed(ctx, rdb, catalog); err != nil {
		return nil, err
	}
	dep, err := workflows.Deployment{Name: workflows.DefaultDeploymentName, BuildID: "experiment-" + buildinfo.BuildID(),
		SetCurrent: workflows.SetCurrentAlways}.IfCurrent(ctx, tc)
	if err != nil {
		return nil, err
	}
	o := &Orch{Client: tc, Redis: rdb, Catalog: catalog, Instances: n, options: dep.WorkerOptions(workflows.WorkerOptions(pollers))}
	p := activities.New(rdb, activities.OrchestrationPrefix, catalog)
	cfg := workflows.Config{Catalog: catalog, PaymentTaskQueue: PaymentTaskQueue}
	for range n {
		w := worker.New(tc, workflows.TaskQueue, o.options)
		w.RegisterWorkflowWithOptions(cfg.OrderSaga, workflow.RegisterOptions{Name: workflows.WorkflowType})
		w.RegisterActivity(p.Inventory)
		w.RegisterActivity(p.Fraud)
		w.RegisterActivity(p.Shipping)
		w.RegisterActivity(p.Notifier(cfg.NotificationRetention))
		if err := w.Start(); err != nil {
			o.Close()
			return nil, fmt.Errorf("start worker: %w", err)
		}
		o.main = append(o.main, w)
	}
	if err := o.Start(ctx, choreography.ServicePayment); err != nil {
		o.Close()
		return nil, err
	}
	// Where a versioned worker ran, these workers are a build of their own
	// in its deployment, made current so that they get the orders.
	if _, err := dep.Promote(ctx, tc, time.Minute); err != nil {
		o.Close()
		return nil, err
	}
	return o, nil
}

// Start starts the payment workers (the only participant run apart).
func (o *Orch) Start(_ context.Context, service string) error {
	if service != choreography.ServicePayment {
		return fmt.Errorf("the orchestration runs only the payment activities apart, not %q", service)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.payment) > 0 {
		return nil
	}
	p := activities.New(o.Redis, activities.OrchestrationPrefix, o.Catalog)
	for range o.Instances {
		w := worker.New(o.Client, PaymentTaskQueue, o.options)
		w.RegisterActivity(p.Payment)
		if err := w.Start(); err != nil {
			return fmt.Errorf("start payment worker: %w", err)
		}
		o.payment = append(o.payment, w)
	}
	return nil
}

// Stop stops the payment workers: their activities in flight finish.
func (o *Orch) Stop(_ context.Context, service string) error {
	if service != choreography.ServicePayment {
		return fmt.Errorf("the orchestration runs only the payment activities apart, not %q", service)
	}
	o.mu.Lock()
	ws := o.payment
	o.payment = nil
	o.mu.Unlock()
	for _, w := range ws {
		w.Stop()
	}
	return nil
}

// Close stops every worker.
func (o *Orch) Close() {
	_ = o.Stop(context.Background(), choreography.ServicePayment)
	for _, w := range o.main {
		w.Stop()
	}
	o.main = nil
}
