// Command worker runs the saga's workers: the Temporal worker (orchestration)
// and any of the choreography services, each selectable so that every
// service can run as its own process and be stopped alone.
//
//	worker                                     # everything
//	worker --services orchestration            # only the Temporal worker
//	worker --services payment --consumer-name payment-2
//	worker --metrics-addr 127.0.0.1:9464               # /metrics, /healthz, /readyz
//	worker healthcheck --addr 127.0.0.1:9464           # exit 0 when that worker is ready
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/internal/platform/config"
	"github.com/ordersaga/ordersaga/shop"
	"github.com/ordersaga/ordersaga/workflows"
)

// ServiceOrchestration is the --services name of the Temporal worker.
const ServiceOrchestration = "orchestration"

// EnvMetricsAddr is the environment variable --metrics-addr defaults to.
const EnvMetricsAddr = "ORDERSAGA_METRICS_ADDR"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	os.Exit(exitStatus(err, os.Stderr))
}

func run(ctx context.Context, args []string) error { return runWith(ctx, args, nil) }

// runWith is run with spans going to tp; with a nil tp, to where the
// environment says (see telemetry.TracingFromEnv), or nowhere.
func runWith(ctx context.Context, args []string, tp trace.TracerProvider) error {
	return execute(ctx, args, os.Stdout, func(ctx context.Context, o *options) error { return work(ctx, o, tp) })
}

// work runs the services of o until ctx ends.
func work(ctx context.Context, o *options, tp trace.TracerProvider) error {
	log, err := config.Logger(o.logLevel, o.logFormat)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	o.cfg.Log = log
	obs, err := startObservability(ctx, o, tp, log)
	if err != nil {
		return err
	}
	defer obs.close(log)
	rdb, err := o.cfg.RedisThroughFailover(ctx)
	if err != nil {
		return err
	}
	defer rdb.Close()
	obs.health.Add("redis", func(ctx context.Context) error { return rdb.Ping(ctx).Err() })
	catalog := shop.DefaultCatalog()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(o.services))
	fail := func(err error) error { // stop what already runs
		cancel()
		wg.Wait()
		return err
	}
	var chor []string
	for _, svc := range o.services {
		if svc != ServiceOrchestration {
			chor = append(chor, svc)
			continue
		}
		wait, err := startOrchestration(ctx, o, rdb, catalog, obs, log)
		if err != nil {
			return fail(err)
		}
		wg.Go(func() {
			if err := wait(); err != nil {
				errs <- err
				cancel()
			}
		})
	}
	if err := startChoreography(ctx, &wg, errs, cancel, o, chor, rdb, catalog, obs, log); err != nil {
		return fail(err)
	}
	obs.health.Started()
	log.Info("worker running", "services", strings.Join(o.services, ","), "metrics", obs.addr())
	<-ctx.Done()
	log.Info("shutting down: finishing work in flight", "stop_timeout", o.stopTimeout)
	wg.Wait()
	close(errs)
	return errors.Join(collect(errs)...)
}

// startChoreography starts the choreography services among services, all
// on one node; a service that stops with an error sends it on errs and
// cancels the rest.
func startChoreography(ctx context.Context, wg *sync.WaitGroup, errs chan<- error, cancel func(), o *options, services []string,
	rdb redis.UniversalClient, catalog shop.Catalog, obs *observability, log *slog.Logger) error {
	if len(services) == 0 {
		return nil
	}
	node, err := startNode(ctx, o, rdb, catalog, log)
	if err != nil {
		return err
	}
	consumers := obs.choreography(node, services)
	for _, svc := range services {
		cfg := choreography.ConsumerConfig{
			Name:        o.consumerName + "-" + svc,
			Concurrency: o.concurrency,
			ClaimIdle:   o.claimIdle,
			Observer:    consumers,
		}
		wg.Go(func() {
			log.Info("choreography service started", "service", svc, "consumer", cfg.Name)
			if err := node.RunService(ctx, svc, cfg); err != nil {
				errs <- fmt.Errorf("service %s: %w", svc, err)
				cancel()
			}
		})
		if svc == choreography.ServiceOrder {
			wg.Go(func() { node.RunTrimmer(ctx, o.trimEvery, o.retention, o.orderRetention) })
		}
	}
	return nil
}

// startNode sets up the choreography's streams, refusing another number of
// partitions than the one recorded, and seeds its catalog.
func startNode(ctx context.Context, o *options, rdb redis.UniversalClient, catalog shop.Catalog, log *slog.Logger) (*choreography.Node, error) {
	node := choreography.NewNode(rdb, catalog, log, choreography.WithPartitions(o.partitions))
	if err := node.Bus.Setup(ctx); err != nil {
		return nil, err
	}
	return node, activities.Seed(ctx, rdb, activities.ChoreographyPrefix, catalog)
}

// startOrchestration starts the Temporal worker, once the namespace is known
// to have OrderSaga's search attributes. The returned wait blocks until ctx
// ends, then stops the worker, letting running activities finish for up to
// --stop-timeout; or until the worker fails for good (the namespace is
// gone, the server refuses it), which it returns so the process exits
// non-zero instead of running on without a worker.
func startOrchestration(ctx context.Context, o *options, rdb redis.UniversalClient, catalog shop.Catalog, obs *observability, log *slog.Logger) (wait func() error, err error) {
	if _, err := activities.EnsurePartitions(ctx, rdb, activities.OrchestrationPrefix, o.partitions); err != nil {
		return nil, err
	}
	if err := activities.Seed(ctx, rdb, activities.OrchestrationPrefix, catalog); err != nil {
		return nil, err
	}
	if err := obs.temporalOptions(o.cfg); err != nil {
		return nil, err
	}
	tc, err := o.cfg.Temporal(ctx, log.With("component", "temporal"))
	if err != nil {
		return nil, err
	}
	if err := workflows.CheckSearchAttributes(ctx, tc, o.cfg.Namespace); errors.Is(err, workflows.ErrMissingSearchAttributes) {
		tc.Close()
		return nil, err
	} else if err != nil {
		log.Warn("could not check the namespace's search attributes; OrderSaga needs OrderStatus and OrderFailedStep", "error", err)
	}
	fatal := make(chan error, 1)
	w := workflows.NewConfiguredWorker(tc, rdb, workflows.Config{Catalog: catalog, CompensationMaxInterval: o.compensationMaxBackoff,
		CompensationAlertAfter: o.compensationAlertAfter, Activities: o.activities}, worker.Options{
		MaxConcurrentActivityTaskPollers: o.activityPollers,
		MaxConcurrentWorkflowTaskPollers: o.workflowPollers,
		WorkerStopTimeout:                o.stopTimeout,
		OnFatalError: func(err error) {
			select {
			case fatal <- err:
			default:
			}
		},
	})
	if err := w.Start(); err != nil {
		tc.Close()
		return nil, fmt.Errorf("start temporal worker: %w", err)
	}
	log.Info("temporal worker started", "address", o.cfg.TemporalAddress, "namespace", o.cfg.Namespace)
	stopped := addTemporalHealth(obs, tc)
	return func() error {
		defer close(stopped)
		defer tc.Close()
		defer startSettler(ctx, o, tc, rdb, catalog, log)() // stopped before the client closes
		select {
		case <-ctx.Done():
			w.Stop() // drains running activities for up to the stop timeout
			return nil
		case err := <-fatal:
			w.Stop()
			return fmt.Errorf("temporal worker stopped: %w", err)
		}
	}, nil
}

// addTemporalHealth makes the worker's readiness depend on the Temporal
// server's health, until the returned channel is closed (the Temporal
// worker has stopped).
func addTemporalHealth(obs *observability, tc client.Client) (stopped chan struct{}) {
	stopped = make(chan struct{})
	obs.health.Add("temporal", func(ctx context.Context) error {
		select {
		case <-stopped:
			return errors.New("the Temporal worker has stopped")
		default:
		}
		_, err := tc.CheckHealth(ctx, &client.CheckHealthRequest{})
		return err
	})
	return stopped
}

// startSettler settles, every --trim-interval, the participant records of
// the orders whose workflows closed more than --order-retention ago (none
// with --order-retention 0), and warns when the namespace keeps closed
// workflows for less than that: their orders would never be settled. The
// returned stop ends it and waits for it.
func startSettler(ctx context.Context, o *options, tc client.Client, rdb redis.UniversalClient, catalog shop.Catalog, log *slog.Logger) (stop func()) {
	if o.orderRetention <= 0 {
		return func() {}
	}
	if ns, err := tc.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: o.cfg.Namespace}); err == nil {
		kept := ns.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration()
		if kept <= o.orderRetention || kept > workflows.DefaultMarkerRetention {
			log.Warn("the namespace's retention should lie between --order-retention and the settled-order markers' lifetime, "+
				"or orders are never settled (shorter) or counted twice by verify (longer); see docs/operations.md",
				"namespace", o.cfg.Namespace, "retention", kept, "order_retention", o.orderRetention, "marker_retention", workflows.DefaultMarkerRetention)
		}
	}
	s := &workflows.Settler{Engine: workflows.NewEngine(tc, catalog), Redis: rdb, Retention: o.orderRetention,
		MarkerRetention: workflows.DefaultMarkerRetention, Now: time.Now, Log: log.With("component", "settler")}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx, o.trimEvery)
	}()
	return func() { cancel(); <-done }
}

func collect(errs <-chan error) []error {
	var out []error
	for err := range errs {
		out = append(out, err)
	}
	return out
}
