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
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/internal/app/admin"
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
	modes := modesOf(o.services)
	if slices.Contains(modes, shop.ModeOrchestration) {
		if err := obs.temporalOptions(o.cfg); err != nil {
			return err
		}
	}
	eng, err := admin.Open(ctx, o.cfg, modes, admin.Options{Log: log, LogTemporal: true})
	if err != nil {
		return err
	}
	defer eng.Close()
	obs.health.Add("redis", func(ctx context.Context) error { return eng.Redis.Ping(ctx).Err() })

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g := &group{errs: make(chan error, len(o.services)), cancel: cancel}
	if eng.Orchestration != nil {
		wait, err := startOrchestration(ctx, o, eng, obs)
		if err != nil {
			return g.stop(err)
		}
		g.run(wait)
	}
	if eng.Node != nil {
		if err := startChoreography(ctx, g, o, eng.Node, obs); err != nil {
			return g.stop(err)
		}
	}
	obs.health.Started()
	log.Info("worker running", "services", strings.Join(o.services, ","), "metrics", obs.addr())
	<-ctx.Done()
	log.Info("shutting down: finishing work in flight", "stop_timeout", o.stopTimeout)
	return g.stop(nil)
}

// modesOf returns the engines the services belong to.
func modesOf(services []string) []shop.Mode {
	var modes []shop.Mode
	for _, svc := range services {
		m := shop.ModeChoreography
		if svc == ServiceOrchestration {
			m = shop.ModeOrchestration
		}
		if !slices.Contains(modes, m) {
			modes = append(modes, m)
		}
	}
	return modes
}

// group runs the worker's services: one that stops with an error sends it
// on errs and cancels the rest.
type group struct {
	wg     sync.WaitGroup
	errs   chan error
	cancel func()
}

func (g *group) run(fn func() error) {
	g.wg.Go(func() {
		if err := fn(); err != nil {
			g.errs <- err
			g.cancel()
		}
	})
}

// stop cancels the services, waits for them and returns err with what they
// failed with.
func (g *group) stop(err error) error {
	g.cancel()
	g.wg.Wait()
	close(g.errs)
	return errors.Join(append([]error{err}, collect(g.errs)...)...)
}

// startChoreography starts the choreography services of o on node. With
// the order service it first records --compensation-alert-after in Redis:
// the threshold of its gauge, which status and the live page read there.
func startChoreography(ctx context.Context, g *group, o *options, node *choreography.Node, obs *observability) error {
	var services []string
	for _, svc := range o.services {
		if svc != ServiceOrchestration {
			services = append(services, svc)
		}
	}
	if slices.Contains(services, choreography.ServiceOrder) {
		if err := node.Bus.RecordAlertAfter(ctx, o.compensationAlertAfter); err != nil {
			return err
		}
	}
	node.NotificationRetention = o.orderRetention
	consumers := obs.choreography(node, services, o.compensationAlertAfter)
	for _, svc := range services {
		cfg := choreography.ConsumerConfig{
			Name:        o.consumerName + "-" + svc,
			Concurrency: o.concurrency,
			ClaimIdle:   o.claimIdle,
			Observer:    consumers,
		}
		g.run(func() error {
			o.cfg.Log.Info("choreography service started", "service", svc, "consumer", cfg.Name)
			if err := node.RunService(ctx, svc, cfg); err != nil {
				return fmt.Errorf("service %s: %w", svc, err)
			}
			return nil
		})
		if svc == choreography.ServiceOrder {
			g.wg.Go(func() { node.RunTrimmer(ctx, o.trimEvery, o.retention, o.orderRetention) })
		}
	}
	return nil
}

// startOrchestration starts the Temporal worker, once the namespace is known
// to have OrderSaga's search attributes. The returned wait blocks until ctx
// ends, then stops the worker, letting running activities finish for up to
// --stop-timeout; or until the worker fails for good (the namespace is
// gone, the server refuses it), which it returns so the process exits
// non-zero instead of running on without a worker.
func startOrchestration(ctx context.Context, o *options, eng *admin.EngineSet, obs *observability) (wait func() error, err error) {
	log, tc := o.cfg.Log, eng.Temporal
	if err := workflows.CheckSearchAttributes(ctx, tc, o.cfg.Namespace); errors.Is(err, workflows.ErrMissingSearchAttributes) {
		return nil, err
	} else if err != nil {
		log.Warn("could not check the namespace's search attributes; OrderSaga needs OrderStatus and OrderFailedStep", "error", err)
	}
	fatal := make(chan error, 1)
	w := workflows.NewConfiguredWorker(tc, eng.Redis, workflows.Config{Catalog: eng.Catalog, CompensationMaxInterval: o.compensationMaxBackoff,
		CompensationAlertAfter: o.compensationAlertAfter, Activities: o.activities, NotificationRetention: o.orderRetention}, o.deployment.WorkerOptions(worker.Options{
		MaxConcurrentActivityTaskPollers: o.activityPollers,
		MaxConcurrentWorkflowTaskPollers: o.workflowPollers,
		WorkerStopTimeout:                o.stopTimeout,
		OnFatalError: func(err error) {
			select {
			case fatal <- err:
			default:
			}
		},
	}))
	if err := w.Start(); err != nil {
		return nil, fmt.Errorf("start temporal worker: %w", err)
	}
	log.Info("temporal worker started", "address", o.cfg.TemporalAddress, "namespace", o.cfg.Namespace,
		"deployment", o.deployment.Name, "build_id", o.deployment.BuildID)
	promote(ctx, log, o.deployment, tc, obs)
	stopped := addTemporalHealth(obs, tc)
	return func() error {
		defer close(stopped)
		defer startSettler(ctx, o, eng)() // stopped before the client closes
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

// promote makes the worker's build its deployment's current version as
// --set-current says, in the background, and logs what became of it. The
// worker is ready (/readyz) only once its build is current: until then a
// versioned worker is handed no task.
func promote(ctx context.Context, log *slog.Logger, d workflows.Deployment, tc client.Client, obs *observability) {
	if d.Name == "" {
		return
	}
	var ready atomic.Bool
	obs.health.Add("deployment", func(context.Context) error {
		if !ready.Load() {
			return fmt.Errorf("build %s is not the current version of deployment %s (yet)", d.BuildID, d.Name)
		}
		return nil
	})
	go func() {
		current, err := d.Promote(ctx, tc, 2*time.Minute)
		ready.Store(current)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("this build is not the deployment's current version and gets no task until it is", "error", err)
		case current:
			log.Info("this build is the deployment's current version", "deployment", d.Name, "build_id", d.BuildID)
		case ctx.Err() == nil:
			log.Warn("this build is not the deployment's current version (--set-current); it gets no task until it is",
				"deployment", d.Name, "build_id", d.BuildID)
		}
	}()
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
func startSettler(ctx context.Context, o *options, eng *admin.EngineSet) (stop func()) {
	log := o.cfg.Log
	if o.orderRetention <= 0 {
		return func() {}
	}
	if ns, err := eng.Temporal.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: o.cfg.Namespace}); err == nil {
		kept := ns.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration()
		if kept <= o.orderRetention || kept > workflows.DefaultMarkerRetention {
			log.Warn("the namespace's retention should lie between --order-retention and the settled-order markers' lifetime, "+
				"or orders are never settled (shorter) or counted twice by verify (longer); see docs/operations.md",
				"namespace", o.cfg.Namespace, "retention", kept, "order_retention", o.orderRetention, "marker_retention", workflows.DefaultMarkerRetention)
		}
	}
	s := &workflows.Settler{Engine: eng.Orchestration, Redis: eng.Redis, Retention: o.orderRetention,
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
