package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/internal/app/cli"
	"github.com/ordersaga/ordersaga/internal/platform/buildinfo"
	"github.com/ordersaga/ordersaga/internal/platform/config"
	"github.com/ordersaga/ordersaga/internal/platform/telemetry"
	"github.com/ordersaga/ordersaga/workflows"
)

// errUsage marks a command-line mistake (exit status 2).
var errUsage = errors.New("usage")

// options are the worker's flags, checked by validate.
type options struct {
	cfg                    *config.Config
	servicesFlag           string
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
	compensationAlertAfter time.Duration
	activitiesFlag         string
	activities             workflows.ActivityMode
	deployment             workflows.Deployment
	setCurrentFlag         string
}

// allServices are the --services names: the Temporal worker, then the
// choreography services.
func allServices() []string { return append([]string{ServiceOrchestration}, choreography.Services...) }

const exitStatusWorker = "  0  stopped cleanly (SIGTERM or SIGINT), or --help, --version\n" +
	"  1  an error, said in one line on stderr (a server unreachable, a worker that stopped)\n" +
	"  2  a usage error (a bad flag or argument)\n"

// newRoot is the worker's command line; start runs the worker with the
// options once they are valid.
func newRoot(stdout io.Writer, start func(context.Context, *options) error) *cobra.Command {
	o := &options{}
	gofs := flag.NewFlagSet("worker", flag.ContinueOnError)
	o.cfg = config.Register(gofs)
	root := &cobra.Command{
		Use:     "worker [flags]",
		Long:    "Runs the Temporal worker (orchestration) and the choreography services, each selectable so that every service can run as its own process.",
		Version: buildinfo.Version(),
	}
	fs := root.Flags()
	fs.AddGoFlagSet(gofs)
	o.cfg.TemporalFlags(fs)
	o.flags(root)
	root.SetOut(stdout)
	cli.SetExitStatus(root, exitStatusWorker)
	root.AddCommand(healthcheckCmd())
	cli.Setup(root, os.Stderr)
	root.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := o.validate(); err != nil {
			return err
		}
		return start(cmd.Context(), o)
	}
	return root
}

func (o *options) flags(root *cobra.Command) {
	fs := root.Flags()
	fs.StringVar(&o.servicesFlag, "services", "all", "comma-separated services to run: all, or any of "+strings.Join(allServices(), ","))
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
	fs.DurationVar(&o.stopTimeout, "stop-timeout", 30*time.Second, "on SIGTERM, let running Temporal activities finish for up to this long before cancelling them")
	fs.DurationVar(&o.compensationMaxBackoff, "compensation-max-backoff", workflows.DefaultCompensationMaxInterval,
		"cap on the backoff between attempts of a compensation, which retries transient failures until it succeeds")
	fs.DurationVar(&o.compensationAlertAfter, "compensation-alert-after", workflows.DefaultCompensationAlertAfter,
		"a compensation still running (retrying) after this long makes the order COMPENSATING (status, OrderStatus, metrics "+
			telemetry.MetricCompensationsRetrying+" and "+telemetry.MetricOrdersCompensating+"); it keeps retrying. The worker running the order service records its own in Redis, where the choreography's status and live page read it")
	fs.StringVar(&o.activitiesFlag, "activities", string(workflows.ActivitiesRegular),
		"how orders that start on this worker run their participants: regular (activities, the most visible in the Temporal UI) or local (local activities: fewer round trips and history events)")
	fs.StringVar(&o.deployment.Name, "deployment-name", workflows.DefaultDeploymentName,
		"the Temporal Worker Deployment this worker joins (Worker Versioning, AutoUpgrade); empty runs an unversioned worker")
	fs.StringVar(&o.deployment.BuildID, "build-id", buildinfo.BuildID(), "this worker's build in the deployment (default: the binary's commit time and revision)")
	fs.StringVar(&o.setCurrentFlag, "set-current", string(workflows.SetCurrentAuto),
		"make this build the deployment's current version: auto (unless the current one comes from a newer commit), always, or never (an operator does)")
}

// validate checks the options once parsed and resolves the connection
// settings; a mistake is an errUsage.
func (o *options) validate() error {
	all := allServices()
	o.services = nil
	if o.servicesFlag == "all" {
		o.services = all
	} else {
		for _, s := range strings.Split(o.servicesFlag, ",") {
			s = strings.TrimSpace(s)
			if !slices.Contains(all, s) {
				return fmt.Errorf("%w: unknown service %q (want all or any of %s)", errUsage, s, strings.Join(all, ","))
			}
			if !slices.Contains(o.services, s) {
				o.services = append(o.services, s)
			}
		}
	}
	mode, err := workflows.ParseActivityMode(o.activitiesFlag)
	if err != nil {
		return fmt.Errorf("%w: --activities: %w", errUsage, err)
	}
	o.activities = mode
	if o.deployment.SetCurrent, err = workflows.ParseSetCurrent(o.setCurrentFlag); err != nil {
		return fmt.Errorf("%w: --set-current: %w", errUsage, err)
	}
	if o.deployment.Name != "" && o.deployment.BuildID == "" {
		return fmt.Errorf("%w: --build-id must not be empty when --deployment-name is set", errUsage)
	}
	switch {
	case o.concurrency < 1 || o.activityPollers < 1 || o.workflowPollers < 1:
		return fmt.Errorf("%w: --concurrency and the poller counts must be at least 1", errUsage)
	case o.stopTimeout < 0 || o.compensationMaxBackoff < 100*time.Millisecond || o.compensationAlertAfter <= 0:
		return fmt.Errorf("%w: --stop-timeout must not be negative, --compensation-max-backoff at least 100ms (the first backoff), --compensation-alert-after positive", errUsage)
	case o.logFormat != config.LogText && o.logFormat != config.LogJSON:
		return fmt.Errorf("%w: bad --log-format %q (want %s or %s)", errUsage, o.logFormat, config.LogText, config.LogJSON)
	case o.cfg.ConnectTimeout <= 0:
		return fmt.Errorf("%w: --client-connect-timeout must be positive", errUsage)
	}
	if o.metricsAddr != "" {
		if _, port, err := net.SplitHostPort(o.metricsAddr); err != nil || port == "" {
			return fmt.Errorf("%w: bad --metrics-addr %q (want HOST:PORT, e.g. 127.0.0.1:9464)", errUsage, o.metricsAddr)
		}
	}
	if o.pprof && o.metricsAddr == "" {
		return fmt.Errorf("%w: --pprof needs --metrics-addr, where the profiles are served", errUsage)
	}
	if _, err := o.cfg.PartitionCount(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	o.cfg.Resolve()
	return nil
}

// exitStatus is the exit status for what run returned, after saying why
// on stderr in one line.
func exitStatus(err error, stderr io.Writer) int {
	if errors.Is(err, errUsage) {
		err = cli.UsageError{Msg: strings.TrimPrefix(err.Error(), errUsage.Error()+": ")}
	}
	return cli.Exit(err, stderr, "worker")
}

// execute runs the command line args: start with the options, or the
// health check, help, version or completion.
func execute(ctx context.Context, args []string, stdout io.Writer, start func(context.Context, *options) error) error {
	root := newRoot(stdout, start)
	root.SetArgs(cli.LongFlags(root, args))
	err := root.ExecuteContext(ctx)
	var ue cli.UsageError
	if errors.As(err, &ue) {
		return fmt.Errorf("%w: %s", errUsage, ue.Msg)
	}
	return err
}

// parse returns the valid options of args, or flag.ErrHelp when args asked
// for the help or the version instead.
func parse(args []string) (*options, error) {
	var got *options
	err := execute(context.Background(), args, os.Stdout, func(_ context.Context, o *options) error { got = o; return nil })
	if err == nil && got == nil {
		return nil, flag.ErrHelp
	}
	return got, err
}

// healthcheckCmd is `worker healthcheck [--addr HOST:PORT] [--live] [--path P]`:
// it asks a worker's /readyz (or /healthz with --live, or any path of
// another server, such as the live page's /) and exits 0 when it answers
// 200; for container health checks, where the image has no HTTP client.
func healthcheckCmd() *cobra.Command {
	var (
		addr, path string
		live       bool
		timeout    time.Duration
	)
	cmd := &cobra.Command{
		Use:   "healthcheck [--addr HOST:PORT] [--live] [--path P]",
		Short: "exit 0 when the worker at --addr is ready (or alive, with --live)",
		Long:  "Ask a worker's /readyz (or /healthz with --live, or --path of another server, such as / of the live page) and exit 0 when it answers 200",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if addr == "" {
				return cli.Usagef("healthcheck: no address: give --addr or set %s", EnvMetricsAddr)
			}
			if path == "" {
				path = "/readyz"
				if live {
					path = "/healthz"
				}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			return telemetry.Probe(ctx, addr, path)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&addr, "addr", os.Getenv(EnvMetricsAddr), "the worker's --metrics-addr (env "+EnvMetricsAddr+")")
	fs.BoolVar(&live, "live", false, "ask /healthz (the process is alive) instead of /readyz (it does its work)")
	fs.DurationVar(&timeout, "timeout", 5*time.Second, "give up after this long")
	fs.StringVar(&path, "path", "", "ask this path instead (e.g. / of the live page)")
	cli.SetExitStatus(cmd, "  0  the server answered 200\n  1  it did not (unreachable, not ready, another status)\n  2  a usage error (a bad flag, no address)\n")
	return cmd
}

// healthcheck runs `worker healthcheck args…`.
func healthcheck(ctx context.Context, args []string) error {
	return execute(ctx, append([]string{"healthcheck"}, args...), os.Stdout, nil)
}
