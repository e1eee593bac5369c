// Command starter is the front door to both engines: it places orders with
// injected faults, shows their status and history side by side, checks the
// invariants and manages the catalog's stock.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ordersaga/ordersaga/internal/app/admin"
	"github.com/ordersaga/ordersaga/internal/app/cli"
	"github.com/ordersaga/ordersaga/internal/platform/buildinfo"
	"github.com/ordersaga/ordersaga/internal/platform/config"
	"github.com/ordersaga/ordersaga/internal/platform/telemetry"
	"github.com/ordersaga/ordersaga/shop"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// command is one command of the starter, built for one invocation.
type command struct {
	name  string
	build func(a *app) *cobra.Command
}

var commands = []command{
	{"order", (*app).orderCmd},
	{"status", (*app).statusCmd},
	{"history", (*app).historyCmd},
	{"verify", (*app).verifyCmd},
	{"stock", (*app).stockCmd},
	{"bench", (*app).benchCmd},
	{"experiment", (*app).experimentCmd},
	{"dlq", (*app).dlqCmd},
	{"notifications", (*app).notificationsCmd},
	{"fraud-check", (*app).fraudCheckCmd},
	{"repair", (*app).repairCmd},
	{"serve", (*app).serveCmd},
}

// app is one invocation of the starter.
type app struct {
	cfg            *config.Config
	args           []string
	stdout, stderr io.Writer
	logFormat      string
	// tracing exports spans when the environment asks for it (nil: no spans).
	tracing *telemetry.Tracing
}

// Commands are listed in the order they are added. Set once, not by each
// run: runs in one process (the tests) may be concurrent.
func init() { cobra.EnableCommandSorting = false }

// run executes the command line and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{args: args, stdout: stdout, stderr: stderr}
	globals := flag.NewFlagSet("starter", flag.ContinueOnError)
	a.cfg = config.Register(globals)
	globals.StringVar(&a.logFormat, "log-format", config.LogText, config.LogFormatUsage)
	root := &cobra.Command{
		Use:               "starter",
		Long:              "Drives the order saga on both engines: orchestration (Temporal) and choreography (Redis Streams).",
		Version:           buildinfo.Version(),
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error { return a.setup(cmd.Context()) },
	}
	root.PersistentFlags().AddGoFlagSet(globals)
	a.cfg.TemporalFlags(root.PersistentFlags())
	root.SetOut(stdout)
	root.SetErr(stderr)
	for _, c := range commands {
		root.AddCommand(c.build(a))
	}
	cli.SetExitStatus(root, exitStatusRoot)
	cli.Setup(root, stderr)
	root.SetArgs(cli.LongFlags(root, args))
	err := root.ExecuteContext(ctx)
	if serr := a.tracing.Shutdown(context.WithoutCancel(ctx)); serr != nil && err == nil {
		err = fmt.Errorf("export traces: %w", serr)
	}
	return cli.Exit(err, stderr, "starter")
}

// setup checks the global flags and starts tracing when the environment
// asks for it (OTEL_EXPORTER_OTLP_ENDPOINT): then each placement starts a
// trace that the engines carry on to the order's end.
func (a *app) setup(ctx context.Context) error {
	log, err := a.logger()
	if err != nil {
		return cli.UsageError{Msg: err.Error()}
	}
	a.cfg.Log = log
	if a.cfg.ConnectTimeout <= 0 {
		return usagef("--client-connect-timeout must be positive")
	}
	a.cfg.Resolve()
	t, err := telemetry.TracingFromEnvLog(ctx, "ordersaga-starter", log)
	a.tracing = t
	return err
}

// logger is the logger of commands that log (serve), on stderr in --log-format.
func (a *app) logger() (*slog.Logger, error) {
	return config.NewLogger(a.stderr, "info", a.logFormat)
}

func usagef(format string, args ...any) error { return cli.Usagef(format, args...) }

// exitStatusOutcome is the exit status of the commands that report an
// order's outcome (order, status, repair).
const exitStatusOutcome = "  0  success: every engine's order COMPLETED, COMPENSATED or still running\n" +
	"  1  an error, said in one line on stderr (an engine unreachable, a timeout)\n" +
	"  2  a usage error (a bad flag or argument)\n" +
	"  3  the order ended FAILED on an engine: a compensation was refused, it needs 'starter repair'\n"

// exitStatusRoot lists every exit status of the starter.
const exitStatusRoot = "  0  success\n  1  an error, said in one line on stderr (verify: a violation)\n" +
	"  2  a usage error (a bad flag or argument, no command)\n" +
	"  3  order, status, repair: the order ended FAILED on an engine and needs a repair\n"

// needsRepair is cli.ErrNeedsRepair naming the engines on which order id
// ended FAILED, or nil when it ended FAILED on none.
func needsRepair(id string, status map[shop.Mode]shop.Status) error {
	var failed []string
	for _, m := range shop.Modes {
		if s, ok := status[m]; ok && s == shop.StatusFailed {
			failed = append(failed, string(m))
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return fmt.Errorf("order %s ended FAILED on %s: %w (see 'starter repair --help')", id, strings.Join(failed, " and "), cli.ErrNeedsRepair)
}

// placedStatus is the status each placement ended in.
func placedStatus(ps []admin.Placement) map[shop.Mode]shop.Status {
	out := map[shop.Mode]shop.Status{}
	for _, p := range ps {
		out[p.Mode] = p.Outcome.Status
	}
	return out
}

// newCmd is a command of the starter that runs run.
func newCmd(use, short, long string, args cobra.PositionalArgs, run func(*cobra.Command, []string) error) *cobra.Command {
	return &cobra.Command{Use: use, Short: short, Long: long, Args: args, RunE: run}
}

// runFlags are the flags of a command that runs a while: --mode,
// -o/--output (--json) and --timeout.
type runFlags struct {
	mode    *cli.Modes
	out     *cli.Output
	timeout time.Duration
}

func (f *runFlags) add(cmd *cobra.Command, jsonUsage string, timeout time.Duration, timeoutUsage string) {
	f.mode = cli.Mode(cmd)
	f.out = cli.AddOutput(cmd.Flags(), jsonUsage)
	cmd.Flags().DurationVar(&f.timeout, "timeout", timeout, timeoutUsage)
}

// withEngines runs f with the engines of modes open, within timeout when
// it is positive.
func (a *app) withEngines(ctx context.Context, timeout time.Duration, modes []shop.Mode, opts admin.Options,
	f func(context.Context, *admin.EngineSet) error,
) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	eng, err := admin.Open(ctx, a.cfg, modes, opts)
	if err != nil {
		return err
	}
	defer eng.Close()
	return f(ctx, eng)
}

// traced are the options of engines that trace their placements when
// tracing is on.
func (a *app) traced() admin.Options {
	return admin.Options{TracerProvider: a.tracing.TracerProvider()}
}

// uiURL is the Temporal UI page of an order's workflow.
func (a *app) uiURL(orderID string) string { return a.cfg.WorkflowURL(shop.WorkflowID(orderID)) }

// printJSON prints v on stdout in the JSON format of out.
func (a *app) printJSON(out *cli.Output, v any) error { return out.Print(a.stdout, v) }
