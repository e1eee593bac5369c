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
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"slices"
	"strconv"
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
	"github.com/ordersaga/ordersaga/internal/buildinfo"
	"github.com/ordersaga/ordersaga/internal/config"
	"github.com/ordersaga/ordersaga/shop"
	"github.com/ordersaga/ordersaga/workflows"
)

// ServiceOrchestration is the --services name of the Temporal worker.
const ServiceOrchestration = "orchestration"

// EnvMetricsAddr is the environment variable --metrics-addr defaults to.
const EnvMetricsAddr = "ORDERSAGA_METRICS_ADDR"

// errUsage marks a command-line mistake (exit status 2).
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

type options struct {
	cfg                    *config.Config
	services               []string
	consumerName           string
	logLevel               string
	logFormat              string
	metricsAddr            string
	pprof                  bool
	retention              time.Duration
	trimEvery              time.Duration
	orderRetention         time.Duration
	claimIdle              time.Duration
	concurrency            int
	activityPollers        int
	workflowPollers        int
	stopTimeout            time.Duration
	compensationMaxBackoff time.Duration
	partitions             int
}

func parse(args []string) (*options, error) {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	o := &options{cfg: config.Register(fs)}
	all := append([]string{ServiceOrchestration}, choreography.Services...)
	services := fs.String("services", "all", "comma-separated services to run: all, or any of "+strings.Join(all, ","))
	host, _ := os.Hostname()
	fs.StringVar(&o.consumerName, "consumer-name", host+"-"+strconv.Itoa(os.Getpid()), "consumer name prefix within each group, distinct per instance (default host-pid); a name kept across restarts gets its pending entries back at once")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&o.logFormat, "log-format", config.LogText, config.LogFormatUsage)
	fs.StringVar(&o.metricsAddr, "metrics-addr", os.Getenv(EnvMetricsAddr),
		"serve /metrics, /healthz and /readyz on HOST:PORT, e.g. 127.0.0.1:9464 (env "+EnvMetricsAddr+"; default: not served)")
	fs.BoolVar(&o.pprof, "pprof", false, "also serve Go's runtime profiles on --metrics-addr under /debug/pprof/ (off by default)")
	fs.DurationVar(&o.retention, "stream-retention", 10*time.Minute, "keep acked stream entries this long before trimming (order histories are kept apart, see --order-retention)")
	fs.DurationVar(&o.trimEvery, "trim-interval", 10*time.Second, "how often the order service trims acked stream entries and settles old orders")
	fs.DurationVar(&o.orderRetention, "order-retention", 24*time.Hour, "keep a finished order's own records (status, history, participant state; both engines) this long, then fold it into the settled totals; 0 keeps them forever")
	fs.DurationVar(&o.claimIdle, "claim-idle", 30*time.Second, "take over entries another consumer left idle this long")
	fs.IntVar(&o.concurrency, "concurrency", 32, "handlers in flight per choreography service")
	fs.IntVar(&o.activityPollers, "activity-pollers", 16, "Temporal activity task pollers")
	fs.IntVar(&o.workflowPollers, "workflow-pollers", 16, "Temporal workflow task pollers")
	version := fs.Bool("version", false, "print the version and exit")
	fs.DurationVar(&o.stopTimeout, "stop-timeout", 30*time.Second, "on SIGTERM, let running Temporal activities finish for up to this long before cancelling them")
	fs.DurationVar(&o.compensationMaxBackoff, "compensation-max-backoff", workflows.DefaultCompensationMaxInterval,
		"cap on the backoff between attempts of a compensation, which retries transient failures until it succeeds")
	fs.SetOutput(io.Discard) // a bad flag is one line from main; the usage goes to stdout on --help
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(os.Stdout, "Usage: worker [flags]\n       worker healthcheck [--addr HOST:PORT] [--live]\n\n"+
				"Runs the Temporal worker and the choreography services; healthcheck asks a worker's /readyz.\n\nFlags:\n")
			fs.SetOutput(os.Stdout)
			fs.PrintDefaults()
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	if *version {
		fmt.Println("worker", buildinfo.Version())
		return nil, flag.ErrHelp
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if *services == "all" {
		o.services = all
	} else {
		for _, s := range strings.Split(*services, ",") {
			s = strings.TrimSpace(s)
			if !slices.Contains(all, s) {
				return nil, fmt.Errorf("%w: unknown service %q (want all or any of %s)", errUsage, s, strings.Join(all, ","))
			}
			if !slices.Contains(o.services, s) {
				o.services = append(o.services, s)
			}
		}
	}
	if o.concurrency < 1 || o.activityPollers < 1 || o.workflowPollers < 1 {
		return nil, fmt.Errorf("%w: --concurrency and the poller counts must be at least 1", errUsage)
	}
	if o.stopTimeout < 0 || o.compensationMaxBackoff < 100*time.Millisecond {
		return nil, fmt.Errorf("%w: --stop-timeout must not be negative, --compensation-max-backoff at least 100ms (the first backoff)", errUsage)
	}
	if o.logFormat != config.LogText && o.logFormat != config.LogJSON {
		return nil, fmt.Errorf("%w: bad --log-format %q (want %s or %s)", errUsage, o.logFormat, config.LogText, config.LogJSON)
	}
	if o.metricsAddr != "" {
		if _, port, err := net.SplitHostPort(o.metricsAddr); err != nil || port == "" {
			return nil, fmt.Errorf("%w: bad --metrics-addr %q (want HOST:PORT, e.g. 127.0.0.1:9464)", errUsage, o.metricsAddr)
		}
	}
	if o.pprof && o.metricsAddr == "" {
		return nil, fmt.Errorf("%w: --pprof needs --metrics-addr, where the profiles are served", errUsage)
	}
	var err error
	if o.partitions, err = o.cfg.PartitionCount(); err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	return o, nil
}

func run(ctx context.Context, args []string) error { return runWith(ctx, args, nil) }

// runWith is run with spans going to tp; with a nil tp, to where the
// environment says (see telemetry.TracingFromEnv), or nowhere.
func runWith(ctx context.Context, args []string, tp trace.TracerProvider) error {
	if len(args) > 0 && args[0] == "healthcheck" {
		return healthcheck(ctx, args[1:])
	}
	o, err := parse(args)
	if err != nil {
		return err
	}
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
	rdb, err := o.cfg.Redis(ctx)
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
	w := workflows.NewConfiguredWorker(tc, rdb, workflows.Config{Catalog: catalog, CompensationMaxInterval: o.compensationMaxBackoff}, worker.Options{
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
