// Package testenv starts the real servers tests run against: a redis-server
// (or a Redis Cluster of redis-servers) on free ports, and the Temporal dev
// server from the binary .ci/run builds.
// When a server binary is missing, tests skip locally, but under CI=true they
// fail: CI must never pass by skipping.
package testenv

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Missing skips the test, or fails it under CI=true.
func Missing(tb testing.TB, what string) {
	tb.Helper()
	if IsCI() {
		tb.Fatalf("%s is missing, and CI=true forbids skipping: run .ci/run or install it", what)
	}
	tb.Skipf("%s is missing; run .ci/run once to install it", what)
}

// RepoRoot returns the repository's root directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", ".."))
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("find free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TemporalBinary finds the Temporal CLI: $TEMPORAL_CLI, then .bin/temporal
// in the repository, then PATH.
func TemporalBinary() (string, error) {
	if p := os.Getenv("TEMPORAL_CLI"); p != "" {
		return p, nil
	}
	if p := filepath.Join(RepoRoot(), ".bin", "temporal"); fileExists(p) {
		return p, nil
	}
	return exec.LookPath("temporal")
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// DevServerFlags are the dynamic config values the project runs the dev
// server with everywhere (tests, make up, compose): eager workflow start and
// eager activity execution cut a round trip each, and a faster transfer
// queue stops each workflow task from waiting ~45 ms on the dev server's
// single shard (its default polls 20 times a second). DevServerArgs adds
// the search attributes OrderSaga sets for the UI.
var DevServerFlags = []string{
	"--dynamic-config-value", "system.enableActivityEagerExecution=true",
	"--dynamic-config-value", "system.enableEagerWorkflowStart=true",
	"--dynamic-config-value", "history.transferProcessorMaxPollRPS=1000",
}

// TemporalServer is a Temporal dev server (in memory) owned by a test or a
// test binary: Address, Namespace and Stop.
type TemporalServer struct {
	*RunningTemporal
}

// StartTemporal starts a Temporal dev server (headless, in-memory) on free
// ports and stops it when the test ends.
func StartTemporal(tb testing.TB) *TemporalServer {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	srv, err := StartTemporalProcess(ctx)
	if err != nil {
		MissingErr(tb, err)
	}
	tb.Cleanup(func() { _ = srv.Stop() })
	return srv
}

// IsCI reports whether tests run under CI.
func IsCI() bool { return strings.EqualFold(os.Getenv("CI"), "true") }
