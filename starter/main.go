// Command starter is the front door to both engines: it places orders with
// injected faults, shows their status and history side by side, checks the
// invariants and manages the catalog's stock.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/ordersaga/ordersaga/internal/config"
	"github.com/ordersaga/ordersaga/shop"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError marks a mistake on the command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

type command struct {
	name, args, summary string
	run                 func(a *app, ctx context.Context, args []string) error
}

var commands = []command{
	{"order", "[--mode M] [--item SKU:QTY]… [--fail STEP[:KIND]]… [--no-wait] [--json]", "place an order and wait for its outcome", (*app).order},
	{"status", "ORDER_ID [--mode M] [--json]", "show an order's current status and step", (*app).status},
	{"history", "ORDER_ID [--mode M] [--json]", "show an order's timeline, one format for both engines", (*app).history},
	{"verify", "[--mode M] [--json]", "check the invariants against the live state; exit 1 on any violation", (*app).verify},
	{"stock", "[--reset] [--mode M]", "show the catalog's stock per engine; --reset starts an engine afresh", (*app).stock},
	{"bench", benchArgs, "measure both engines on one seeded workload; --baseline compares with the bare engines", (*app).bench},
	{"dlq", "list | redrive [ID…]", "inspect the choreography's dead-letter stream, or redrive entries after a fix", (*app).dlq},
	{"repair", "ORDER_ID [--mode M] [--json]", "run again the refused compensations of a FAILED order and wait for the outcome", (*app).repair},
}

// app is one invocation of the starter.
type app struct {
	cfg            *config.Config
	stdout, stderr io.Writer
}

// run executes the command line and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr}
	top := flag.NewFlagSet("starter", flag.ContinueOnError)
	// A bad flag is reported once, as one line, below; the usage only on --help.
	top.SetOutput(io.Discard)
	a.cfg = config.Register(top)
	top.Usage = func() {}
	if err := top.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			a.usage(top)
			return 0
		}
		fmt.Fprintf(stderr, "starter: %v (see 'starter --help')\n", oneLine(err))
		return 2
	}
	if top.NArg() == 0 {
		a.usage(top)
		return 2
	}
	name, rest := top.Arg(0), top.Args()[1:]
	if name == "help" {
		a.usage(top)
		return 0
	}
	for _, c := range commands {
		if c.name == name {
			return a.exit(c.run(a, ctx, rest))
		}
	}
	fmt.Fprintf(stderr, "starter: unknown command %q (want %s)\n", name, commandNames())
	return 2
}

func commandNames() string {
	names := make([]string, len(commands))
	for i, c := range commands {
		names[i] = c.name
	}
	return strings.Join(names, ", ")
}

func (a *app) exit(err error) int {
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errReported):
		return 1
	case errors.As(err, &ue):
		fmt.Fprintf(a.stderr, "starter: %v\n", err)
		return 2
	default:
		fmt.Fprintf(a.stderr, "starter: %v\n", oneLine(err))
		return 1
	}
}

// errReported means the command already printed why it failed.
var errReported = errors.New("reported")

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

func (a *app) usage(fs *flag.FlagSet) {
	w := a.stderr
	fmt.Fprintf(w, "Usage: starter [global flags] COMMAND [flags]\n\n")
	fmt.Fprintf(w, "Drives the order saga on both engines: orchestration (Temporal) and choreography (Redis Streams).\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n           %s\n", c.name, c.args, c.summary)
	}
	fmt.Fprintf(w, "\nGlobal flags (also accepted after the command):\n")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprintf(w, "\nRun 'starter COMMAND --help' for a command's flags.\n")
}

// flags starts a command's flag set with the global flags on it.
func (a *app) flags(name, args, summary string) *flag.FlagSet {
	fs := flag.NewFlagSet("starter "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	a.cfg.Flags(fs)
	fs.Usage = func() {
		fmt.Fprintf(a.stderr, "Usage: starter %s %s\n\n%s.\n\nFlags:\n", name, args, summary)
		fs.SetOutput(a.stderr)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// parse parses flags and positional arguments in any order. It prints the
// usage on --help; a bad flag is left to the caller to report as one line.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	help := fs.Usage
	fs.Usage = func() {}
	defer func() { fs.Usage = help }()
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				help()
				return nil, err
			}
			return nil, usagef("%s (see '%s --help')", oneLine(err), fs.Name())
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// modeFlag is --mode: orchestration, choreography or both.
type modeFlag struct{ modes []shop.Mode }

func (m *modeFlag) String() string {
	if len(m.modes) == len(shop.Modes) {
		return "both"
	}
	if len(m.modes) == 1 {
		return string(m.modes[0])
	}
	return ""
}

func (m *modeFlag) Set(s string) error {
	switch s {
	case "both":
		m.modes = shop.Modes
	case string(shop.ModeOrchestration), "orch":
		m.modes = []shop.Mode{shop.ModeOrchestration}
	case string(shop.ModeChoreography), "chor":
		m.modes = []shop.Mode{shop.ModeChoreography}
	default:
		return fmt.Errorf("unknown mode %q (want orchestration, choreography or both)", s)
	}
	return nil
}

func addMode(fs *flag.FlagSet) *modeFlag {
	m := &modeFlag{modes: shop.Modes}
	fs.Var(m, "mode", "orchestration, choreography or both")
	return m
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}
