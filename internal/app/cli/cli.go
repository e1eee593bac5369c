// Package cli is the command-line plumbing the starter is built on, over
// cobra: one-line usage errors with exit status 2, help on stdout in the
// project's layout, long flags with one dash as well as two, and --mode.
package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ordersaga/ordersaga/shop"
)

// UsageError marks a mistake on the command line: exit status 2.
type UsageError struct{ Msg string }

func (e UsageError) Error() string { return e.Msg }

// Usagef returns a UsageError.
func Usagef(format string, args ...any) error { return UsageError{fmt.Sprintf(format, args...)} }

// The exit statuses of both binaries.
const (
	ExitOK          = 0 // success
	ExitError       = 1 // an error, said in one line on stderr
	ExitUsage       = 2 // a mistake on the command line
	ExitNeedsRepair = 3 // an order ended FAILED on an engine: it needs a repair
)

var (
	// ErrReported means the command already printed why it failed: exit 1.
	ErrReported = errors.New("reported")
	// ErrNeedsRepair means an order ended FAILED (a compensation was
	// refused) on an engine: exit 3, so scripts can tell it from an error.
	ErrNeedsRepair = errors.New("needs repair")
	// ErrNoCommand means no command was given; the usage is on stderr: exit 2.
	ErrNoCommand = errors.New("no command")
)

// Exit returns the exit status for what a command returned, after saying
// why on stderr in one line for an error not reported yet.
func Exit(err error, stderr io.Writer, prog string) int {
	var ue UsageError
	code := ExitError
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, ErrNoCommand):
		return ExitUsage
	case errors.Is(err, ErrReported):
		return ExitError
	case errors.As(err, &ue):
		code = ExitUsage
	case errors.Is(err, ErrNeedsRepair):
		code = ExitNeedsRepair
	}
	fmt.Fprintf(stderr, "%s: %s\n", prog, shop.OneLine(err))
	return code
}

// Setup makes root and its commands behave the project's way: errors are
// returned, not printed; a bad flag or an unknown command is a UsageError
// naming the commands; help is on stdout (Help); the completion and help
// commands say what they do; root without a command prints its usage on
// stderr and ends with ErrNoCommand. Call it after adding the commands.
func Setup(root *cobra.Command, stderr io.Writer) {
	root.SilenceErrors, root.SilenceUsage = true, true
	root.SetVersionTemplate(root.Name() + " {{.Version}}\n")
	root.SetHelpFunc(func(cmd *cobra.Command, _ []string) { Help(cmd, cmd.OutOrStdout()) })
	root.Args = func(_ *cobra.Command, args []string) error {
		if len(args) > 0 {
			return unknownCommand(root, args[0])
		}
		return nil
	}
	root.RunE = func(cmd *cobra.Command, _ []string) error {
		Help(cmd, stderr)
		return ErrNoCommand
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		if !cmd.HasParent() && len(cmd.Flags().Args()) > 0 {
			return unknownCommand(root, cmd.Flags().Arg(0))
		}
		return Usagef("%s (see '%s --help')", shop.OneLine(err), cmd.CommandPath())
	})
	root.InitDefaultCompletionCmd()
	root.InitDefaultHelpCmd()
	for _, c := range root.Commands() {
		switch c.Name() {
		case "completion":
			c.Use, c.Short = "completion bash|zsh|fish|powershell", "print a shell completion script, e.g. source <("+root.Name()+" completion bash)"
		case "help":
			c.Use, c.Short = "help [COMMAND]", "show the help of "+root.Name()+" or of a command"
		}
	}
}

func unknownCommand(root *cobra.Command, name string) error {
	var names []string
	for _, c := range root.Commands() {
		if c.IsAvailableCommand() && c.Name() != "completion" {
			names = append(names, c.Name())
		}
	}
	return Usagef("unknown command %q (want %s; see '%s --help')", name, strings.Join(names, ", "), root.Name())
}

// LongFlags lets every long flag of root's commands be given with one dash
// too (-mode both), as Go's flag package accepts.
func LongFlags(root *cobra.Command, args []string) []string {
	long := map[string]bool{"help": true, "version": true}
	var collect func(c *cobra.Command)
	collect = func(c *cobra.Command) {
		for _, fs := range []*pflag.FlagSet{c.Flags(), c.PersistentFlags()} {
			fs.VisitAll(func(f *pflag.Flag) { long[f.Name] = true })
		}
		for _, sub := range c.Commands() {
			collect(sub)
		}
	}
	collect(root)
	out := make([]string, 0, len(args))
	for i, arg := range args {
		if arg == "--" {
			return append(out, args[i:]...)
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(arg, "-"), "=")
		if strings.HasPrefix(arg, "-") && !strings.HasPrefix(arg, "--") && len(name) > 1 && long[name] {
			arg = "-" + arg
		}
		out = append(out, arg)
	}
	return out
}

// Help prints a command's usage on w: for the root, every command with its
// arguments and summary, and the global flags.
func Help(cmd *cobra.Command, w io.Writer) {
	if !cmd.HasParent() {
		usage, flagsHeader := cmd.Name()+" [global flags] COMMAND [flags]", "Global flags (also accepted after the command)"
		if args := argsOf(cmd); args != "" { // a root that runs by itself
			usage, flagsHeader = cmd.Name()+" "+args+"\n       "+cmd.Name()+" COMMAND [flags]", "Flags"
		}
		fmt.Fprintf(w, "Usage: %s\n\n%s\n\nCommands:\n", usage, cmd.Long)
		for _, c := range cmd.Commands() {
			if c.IsAvailableCommand() || c.Name() == "help" {
				fmt.Fprintf(w, "  %-10s %s\n             %s\n", c.Name(), argsOf(c), c.Short)
			}
		}
		fmt.Fprintf(w, "\n%s:\n%s", flagsHeader, cmd.Flags().FlagUsages())
		fmt.Fprintf(w, "\nExit status:\n%s", exitStatus(cmd))
		fmt.Fprintf(w, "\nRun '%s COMMAND --help' for a command's flags.\n", cmd.Name())
		return
	}
	fmt.Fprintf(w, "Usage: %s %s\n\n%s.\n", cmd.CommandPath(), argsOf(cmd), strings.TrimRight(cmd.Long, ".\n"))
	if subs := cmd.Commands(); len(subs) > 0 {
		fmt.Fprintf(w, "\nCommands:\n")
		for _, c := range subs {
			fmt.Fprintf(w, "  %-10s %s\n", c.Name(), c.Short)
		}
	}
	if fs := cmd.LocalFlags(); fs.HasAvailableFlags() {
		fmt.Fprintf(w, "\nFlags:\n%s", fs.FlagUsages())
	}
	if fs := cmd.InheritedFlags(); fs.HasAvailableFlags() {
		fmt.Fprintf(w, "\nGlobal flags:\n%s", fs.FlagUsages())
	}
	fmt.Fprintf(w, "\nExit status:\n%s", exitStatus(cmd))
}

// exitStatusKey is the annotation that holds a command's exit statuses.
const exitStatusKey = "exit-status"

// DefaultExitStatus is what a command exits with unless it says otherwise.
const DefaultExitStatus = "  0  success\n  1  an error, said in one line on stderr\n  2  a usage error (a bad flag or argument)\n"

// SetExitStatus records what cmd's help lists under "Exit status:", one
// "  N  meaning" line each.
func SetExitStatus(cmd *cobra.Command, text string) {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[exitStatusKey] = text
}

func exitStatus(cmd *cobra.Command) string {
	if text, ok := cmd.Annotations[exitStatusKey]; ok {
		return text
	}
	return DefaultExitStatus
}

// argsOf is what a command's usage line shows after its name.
func argsOf(c *cobra.Command) string {
	_, args, _ := strings.Cut(c.Use, " ")
	return args
}

// NoArgs refuses positional arguments.
func NoArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return Usagef("%s takes no arguments, got %q", cmd.Name(), args[0])
	}
	return nil
}

// The -o/--output formats, as the temporal CLI names them.
const (
	OutputText  = "text"  // tables and lines for people
	OutputJSON  = "json"  // one indented JSON document
	OutputJSONL = "jsonl" // one JSON document a line
)

// Output is -o/--output text|json|jsonl, with --json short for -o json.
type Output struct{ Format string }

// String is the format.
func (o *Output) String() string { return o.Format }

// Type names the value in the help.
func (o *Output) Type() string { return "text|json|jsonl" }

// Set parses a format.
func (o *Output) Set(s string) error {
	switch s {
	case OutputText, OutputJSON, OutputJSONL:
		o.Format = s
		return nil
	}
	return fmt.Errorf("unknown output %q (want text, json or jsonl)", s)
}

// JSON reports whether the output is JSON (json or jsonl).
func (o *Output) JSON() bool { return o.Format != OutputText }

// Print writes v as JSON: indented for json, on one line for jsonl.
func (o *Output) Print(w io.Writer, v any) error {
	if o.Format == OutputJSONL {
		PrintJSONLine(w, v)
		return nil
	}
	return PrintJSON(w, v)
}

// jsonAlias is --json: -o json when given.
type jsonAlias struct{ o *Output }

func (j jsonAlias) String() string { return strconv.FormatBool(j.o.Format == OutputJSON) }
func (j jsonAlias) Type() string   { return "bool" }

func (j jsonAlias) Set(s string) error {
	on, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	if on {
		j.o.Format = OutputJSON
	} else if j.o.Format == OutputJSON {
		j.o.Format = OutputText
	}
	return nil
}

// AddOutput adds -o/--output and --json to fs; jsonUsage says what JSON
// prints.
func AddOutput(fs *pflag.FlagSet, jsonUsage string) *Output {
	o := &Output{Format: OutputText}
	fs.VarP(o, "output", "o", "output format: text, json or jsonl (json: "+jsonUsage+"; jsonl: the same, one document a line)")
	fs.Var(jsonAlias{o}, "json", "short for --output json")
	fs.Lookup("json").NoOptDefVal = "true"
	return o
}

// JSON adds -o/--output and --json, whose JSON is one document on stdout.
func JSON(fs *pflag.FlagSet) *Output {
	return AddOutput(fs, "one JSON document on stdout")
}

// PrintJSON writes v as one indented JSON document, what --json prints.
func PrintJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}

// PrintJSONLine writes v as JSON on one line, what --json prints per change
// while a command follows an order.
func PrintJSONLine(w io.Writer, v any) {
	b, _ := json.Marshal(v)
	fmt.Fprintf(w, "%s\n", b)
}

// Modes is --mode: orchestration (orch), choreography (chor) or both.
type Modes struct{ List []shop.Mode }

func (m *Modes) String() string {
	if len(m.List) == 1 {
		return string(m.List[0])
	}
	return "both"
}

// Type names the value in the help.
func (m *Modes) Type() string { return "mode" }

// Set parses a mode.
func (m *Modes) Set(s string) error {
	switch s {
	case "both":
		m.List = shop.Modes
	case string(shop.ModeOrchestration), "orch":
		m.List = []shop.Mode{shop.ModeOrchestration}
	case string(shop.ModeChoreography), "chor":
		m.List = []shop.Mode{shop.ModeChoreography}
	default:
		return fmt.Errorf("unknown mode %q (want orchestration, choreography or both)", s)
	}
	return nil
}

// Mode adds --mode to cmd, both by default, with shell completion of its values.
func Mode(cmd *cobra.Command) *Modes {
	m := &Modes{List: shop.Modes}
	cmd.Flags().Var(m, "mode", "orchestration, choreography or both")
	_ = cmd.RegisterFlagCompletionFunc("mode", cobra.FixedCompletions([]string{"orchestration", "choreography", "both"}, cobra.ShellCompDirectiveNoFileComp))
	return m
}
