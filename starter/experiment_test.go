package main

import (
	"strings"
	"testing"
)

func TestExperimentUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"nosuch"},
		{},
		{"outage", "--service", "billing"},
		{"outage", "--service", "coordinator"},
		{"outage", "--servers", "/no/such/script"},
		{"outage", "--rate", "0"},
		{"outage", "--for", "0s"},
		{"outage", "--instances", "0"},
		{"outage", "--force"},
		{"outage", "--report", "/no/such/dir/x.md"},
	} {
		code, stdout, stderr := benchRun(t, append([]string{"--redis-url", "redis://127.0.0.1:1/0", "experiment"}, args...)...)
		if code != 2 || strings.Count(strings.TrimSpace(stderr), "\n") > 0 || stdout != "" {
			t.Errorf("experiment %v: want exit 2 and one line on stderr, got exit %d\nstdout: %q\nstderr: %q", args, code, stdout, stderr)
		}
	}
}
