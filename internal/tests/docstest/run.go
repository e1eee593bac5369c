package docstest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// Files are the Markdown files whose commands run, in the order they run:
// README.md, then docs/*.md by name.
func Files(root string) ([]string, error) {
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		return nil, fmt.Errorf("list docs: %w", err)
	}
	sort.Strings(docs)
	return append([]string{filepath.Join(root, "README.md")}, docs...), nil
}

// Steps parses every file of Files(root), names relative to root.
func Steps(root string) ([]Step, error) {
	files, err := Files(root)
	if err != nil {
		return nil, err
	}
	var steps []Step
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read doc: %w", err)
		}
		rel, _ := filepath.Rel(root, f)
		s, err := Parse(rel, string(src))
		if err != nil {
			return nil, err
		}
		steps = append(steps, s...)
	}
	return steps, nil
}

// Run is what one step ran and printed.
type Run struct{ Command, Output string }

// Update writes real outputs into the docs in place of the sample outputs
// they show, and in a ```console block the command as it ran (its order
// IDs the real ones): runs maps a step's index in steps to its run, fix
// turns that into what a reader of the docs would see (the default ports
// rather than the test's). Steps that show no sample output are left so.
func Update(root string, steps []Step, runs map[int]Run, fix func(string) string) error {
	files := map[string][]string{}
	for i := len(steps) - 1; i >= 0; i-- { // from the end: line numbers stay valid
		s, got := steps[i], runs[i].Output
		if len(s.Want) == 0 || got == "" {
			continue
		}
		lines, ok := files[s.File]
		if !ok {
			src, err := os.ReadFile(filepath.Join(root, s.File))
			if err != nil {
				return fmt.Errorf("update docs: %w", err)
			}
			lines = strings.Split(string(src), "\n")
		}
		real := strings.Split(strings.TrimRight(fix(got), "\n"), "\n")
		for j := range real {
			real[j] = strings.TrimRight(real[j], " \t") // table padding
		}
		at := s.WantLine - 1
		lines = slices.Concat(lines[:at], real, lines[at+len(s.Want):])
		if s.Line == s.WantLine-1 && runs[i].Command != "" {
			lines[s.Line-1] = "$ " + runs[i].Command
		}
		files[s.File] = lines
	}
	for f, lines := range files {
		if err := os.WriteFile(filepath.Join(root, f), []byte(strings.Join(lines, "\n")), 0o644); err != nil {
			return fmt.Errorf("update docs: %w", err)
		}
	}
	return nil
}

// Shell runs documented commands one after another the way a reader's
// shell would: in Dir, each command sees the variables the earlier ones
// exported (`source .state/env`, `export X=…`).
type Shell struct {
	Dir     string
	Env     []string
	Timeout time.Duration
	// State is a file that carries the exported variables from one
	// command to the next.
	State string
	IDs   IDs
	// Ran is the last command run, its order IDs replaced.
	Ran string
}

// Run runs one step and checks its output against the step's sample
// output; it returns the combined output. The order IDs of the command are
// replaced by the ones earlier commands printed (see IDs).
func (sh *Shell) Run(ctx context.Context, s Step) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, sh.Timeout)
	defer cancel()
	sh.Ran = sh.IDs.Command(s.Command)
	script := fmt.Sprintf("set -o pipefail\n[ ! -f %[1]q ] || . %[1]q\n%[2]s\nstatus=$?\nexport -p >%[1]q\nexit $status\n",
		sh.State, sh.Ran)
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Dir, cmd.Env, cmd.WaitDelay = sh.Dir, sh.Env, 5*time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s failed: %w", s.Command, err)
	}
	if err := Match(s.Want, string(out)); err != nil {
		return string(out), err
	}
	sh.IDs.Learn(s.Want, string(out))
	return string(out), nil
}
