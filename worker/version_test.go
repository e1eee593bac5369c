package main

import (
	"errors"
	"flag"
	"testing"
)

// --version, like --help, ends the worker with exit 0 before anything starts.
func TestVersionFlag(t *testing.T) {
	if _, err := parse([]string{"--version"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--version: %v, want it to stop like --help", err)
	}
}
