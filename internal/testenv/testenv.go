// Package testenv starts the real servers tests run against: a redis-server on
// a free port, and the Temporal dev server from the binary .ci/run builds.
// When a server binary is missing, tests skip locally, but under CI=true they
// fail: CI must never pass by skipping.
package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.temporal.io/sdk/testsuite"
)

// Missing skips the test, or fails it under CI=true.
func Missing(tb testing.TB, what string) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%s is missing, and CI=true forbids skipping: run .ci/run or install it", what)
	}
	tb.Skipf("%s is missing; run .ci/run once to install it", what)
}

// RepoRoot returns the repository's root directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
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

// RedisServer is a redis-server process owned by a test.
type RedisServer struct {
	Addr   string
	Dir    string
	Args   []string
	cmd    *exec.Cmd
	exited chan struct{}
	tb     testing.TB
}

// URL is the server's redis:// URL.
func (s *RedisServer) URL() string { return "redis://" + s.Addr + "/0" }

// Client returns a new client to the server, closed when the test ends.
func (s *RedisServer) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	s.tb.Cleanup(func() { _ = c.Close() })
	return c
}

// StartRedis starts a redis-server on a free port, with no persistence
// unless extra arguments ask for it, and stops it when the test ends.
func StartRedis(tb testing.TB, extra ...string) *RedisServer {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		Missing(tb, "redis-server (apt-get install -y redis-server)")
	}
	s := &RedisServer{Dir: tb.TempDir(), tb: tb}
	s.Args = append([]string{"--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", s.Dir}, extra...)
	tb.Cleanup(s.Stop)
	// A free port can be taken by someone else between the check and the
	// start; then try another one.
	for range 5 {
		if err = s.start(bin, FreePort(tb)); err == nil {
			return s
		}
	}
	tb.Fatalf("start redis-server: %v", err)
	return nil
}

func (s *RedisServer) start(bin string, port int) error {
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	args := append([]string{"--port", strconv.Itoa(port)}, s.Args...)
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = nil, nil
	if err := s.cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	cmd := s.cmd
	go func() { _ = cmd.Wait(); close(exited) }()
	s.exited = exited
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-exited:
			s.cmd = nil
			return fmt.Errorf("redis-server on %s exited at start (port taken?)", s.Addr)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		dir, err := c.ConfigGet(ctx, "dir").Result()
		cancel()
		if err == nil {
			// Answering is not enough: it must be our server, not another
			// test's that happens to hold the port.
			if want, _ := filepath.EvalSymlinks(s.Dir); dir["dir"] != s.Dir && dir["dir"] != want {
				s.Stop()
				return fmt.Errorf("port %d answered with another server (dir %s)", port, dir["dir"])
			}
			return nil
		}
		if time.Now().After(deadline) {
			s.Stop()
			return fmt.Errorf("redis-server on %s did not answer: %v", s.Addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the server (SIGKILL) and waits for it to exit.
func (s *RedisServer) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Restart stops the server and starts it again on the same port and data dir.
func (s *RedisServer) Restart() {
	s.tb.Helper()
	s.Stop()
	_, port, _ := net.SplitHostPort(s.Addr)
	p, _ := strconv.Atoi(port)
	bin, _ := exec.LookPath("redis-server")
	if err := s.start(bin, p); err != nil {
		s.tb.Fatalf("restart redis-server: %v", err)
	}
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
// single shard (its default polls 20 times a second). The search
// attributes are those OrderSaga sets for the UI.
var DevServerFlags = []string{
	"--dynamic-config-value", "system.enableActivityEagerExecution=true",
	"--dynamic-config-value", "system.enableEagerWorkflowStart=true",
	"--dynamic-config-value", "history.transferProcessorMaxPollRPS=1000",
	"--search-attribute", "OrderStatus=Keyword",
	"--search-attribute", "OrderFailedStep=Keyword",
}

// TemporalServer is a Temporal dev server owned by a test.
type TemporalServer struct {
	*testsuite.DevServer
	Address   string
	Namespace string
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
