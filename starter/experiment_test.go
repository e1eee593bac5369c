package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExperimentUsageErrors(t *testing.T) {
	notExecutable := filepath.Join(t.TempDir(), "worker")
	if err := os.WriteFile(notExecutable, []byte("not a program"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"nosuch"},
		{},
		{"outage", "--service", "billing"},
		{"outage", "--service", "coordinator"},
		{"outage", "--servers", "/no/such/script"},
		{"outage", "--rate", "0"},
		{"outage", "--for", "0s"},
		{"outage", "--instances", "0"},
		{"scale", "--partition-steps", "0"},
		{"scale", "--partition-steps", "1,3,1"},
		{"scale", "--partition-steps", "1025"},
		{"scale", "--partition-steps", "three"},
		{"outage", "--partition-steps", "3"},
		{"outage", "--force"},
		{"outage", "--report", "/no/such/dir/x.md"},
		{"change"},
		{"change", "--change", "refund", "--old-worker", "/bin/true"},
		{"change", "--change", "fraud", "--old-worker", "/no/such/worker"},
		{"change", "--change", "fraud", "--old-worker", notExecutable, "--new-worker", "/bin/true"},
		{"change", "--change", "notify", "--old-worker", "/bin/true", "--new-worker", "/bin/true", "--orders", "20"},
		{"change", "--change", "notify", "--old-worker", "/bin/true", "--new-worker", "/bin/true", "--instances", "9"},
	} {
		code, stdout, stderr := benchRun(t, append([]string{"--redis-url", "redis://127.0.0.1:1/0", "experiment"}, args...)...)
		if code != 2 || strings.Count(strings.TrimSpace(stderr), "\n") > 0 || stdout != "" {
			t.Errorf("experiment %v: want exit 2 and one line on stderr, got exit %d\nstdout: %q\nstderr: %q", args, code, stdout, stderr)
		}
	}
}

// TestExperimentChanges: 'experiment changes' lists each change with the
// revision its old worker is built from, which make experiments reads.
func TestExperimentChanges(t *testing.T) {
	code, stdout, stderr := benchRun(t, "experiment", "changes")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "notify fa12805~1 ") || !strings.HasPrefix(lines[1], "fraud 2f640e1~1 ") {
		t.Errorf("experiment changes:\n%s", stdout)
	}
}
