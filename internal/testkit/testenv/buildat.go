package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// BuildAt builds the main packages pkgs (e.g. "./worker") as they were at
// the repository's revision rev (e.g. "HEAD~1") into a temporary directory
// and returns it: the binaries of an earlier release, for tests that roll
// a deployment from it to the code under test. The build is stamped with
// its commit (-buildvcs=true), so its build ID names that commit.
func BuildAt(tb testing.TB, rev string, pkgs ...string) (dir string) {
	tb.Helper()
	root := RepoRoot()
	git := func(args ...string) string {
		tb.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			tb.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	commit := git("rev-parse", "--verify", rev+"^{commit}")
	dir = tb.TempDir()
	src := filepath.Join(dir, "src")
	git("worktree", "add", "--detach", src, commit)
	tb.Cleanup(func() { git("worktree", "remove", "--force", src) })
	bin := filepath.Join(dir, "bin")
	args := append([]string{"build", "-buildvcs=true", "-o", bin + string(filepath.Separator)}, pkgs...)
	build := exec.Command("go", args...)
	build.Dir = src
	build.Env = append(os.Environ(), "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		tb.Fatalf("build %s at %s (%s): %v\n%s", strings.Join(pkgs, " "), rev, commit[:12], err, out)
	}
	return bin
}
