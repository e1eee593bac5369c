package docstest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
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
}

// Run runs one step and checks its output against the step's sample
// output; it returns the combined output. The order IDs of the command are
// replaced by the ones earlier commands printed (see IDs).
func (sh *Shell) Run(ctx context.Context, s Step) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, sh.Timeout)
	defer cancel()
	script := fmt.Sprintf("set -o pipefail\n[ ! -f %[1]q ] || . %[1]q\n%[2]s\nstatus=$?\nexport -p >%[1]q\nexit $status\n",
		sh.State, sh.IDs.Command(s.Command))
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
