//go:build docs

package docstest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ordersaga/ordersaga/internal/platform/poll"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
)

// TestDocs runs the commands of README.md and docs/*.md in order against a
// `make up` stack on free ports, as a reader would: each command must
// succeed and print the lines its sample output shows. A command marked
// with a docs-test skip is reported skipped with its reason. `make
// docs-test` runs it; it stops the stack at the end. With DOCS_UPDATE=1 the
// sample outputs are not compared but replaced by the real ones (the
// test's ports written as the default ones): `make docs-test
// DOCS_UPDATE=1` regenerates them.
func TestDocs(t *testing.T) {
	root := testenv.RepoRoot()
	steps, err := Steps(root)
	if err != nil {
		t.Fatal(err)
	}
	env := stackEnv(t)
	make := func(target string) {
		cmd := exec.Command("make", target)
		cmd.Dir, cmd.Env = root, env
		out, err := cmd.CombinedOutput()
		t.Logf("make %s:\n%s", target, out)
		if err != nil {
			t.Fatalf("make %s: %v", target, err)
		}
	}
	t.Cleanup(func() { make("down") })
	make("up")
	prometheusTargetsUp(t, env)
	sh := &Shell{Dir: root, Env: env, Timeout: 4 * time.Minute, State: filepath.Join(t.TempDir(), "env")}
	update := os.Getenv("DOCS_UPDATE") == "1"
	runs := map[int]Run{}
	for i, s := range steps {
		t.Run(fmt.Sprintf("%s:%d", s.File, s.Line), func(t *testing.T) {
			if s.Skip != "" {
				t.Skipf("%s: skipped (%s)", s.Command, s.Skip)
			}
			if update {
				s.Want = nil
			}
			start := time.Now()
			out, err := sh.Run(context.Background(), s)
			runs[i] = Run{Command: sh.Ran, Output: out}
			t.Logf("$ %s  (%s)\n%s", s.Command, time.Since(start).Round(time.Millisecond), out)
			if err != nil {
				t.Errorf("%s: %v", s.Name(), err)
			}
		})
	}
	if update {
		if err := Update(root, steps, runs, defaultPorts(env)); err != nil {
			t.Fatal(err)
		}
	}
}

// prometheusTargetsUp: the Prometheus make up started scrapes every target
// it has (each worker process, the Temporal server, Redis through
// redis_exporter) and finds each up, and redis_up at 1 (the exporter
// logged in to Redis), within a minute (its first scrapes).
// Without Prometheus installed make up runs none: checked under CI only.
func prometheusTargetsUp(t *testing.T, env []string) {
	t.Helper()
	if _, err := exec.LookPath("prometheus"); err != nil && !testenv.IsCI() {
		t.Log("prometheus is not installed: make up ran no Prometheus (scripts/deps.sh up)")
		return
	}
	var port string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PROMETHEUS_PORT="); ok {
			port = v
		}
	}
	var down string
	var askErr error
	err := poll.For(context.Background(), time.Minute, poll.Every(time.Second), func(ctx context.Context) (bool, error) {
		down, askErr = TargetsDown(ctx, "http://127.0.0.1:"+port, []string{"ordersaga", "temporal", "redis"})
		if askErr == nil && down == "" {
			// Up, and logged in to Redis as its own user.
			down, askErr = NotOne(ctx, "http://127.0.0.1:"+port, "redis_up")
		}
		return askErr == nil && down == "", nil
	})
	if err != nil {
		t.Fatalf("Prometheus of make up on :%s, targets not up after a minute (%v):\n%s", port, askErr, down)
	}
}

// defaultPorts writes the test's ports in an output as make up's defaults.
func defaultPorts(env []string) func(string) string {
	defaults := map[string]int{"TEMPORAL_PORT": 7233, "TEMPORAL_UI_PORT": 8233, "TEMPORAL_METRICS_PORT": 9480, "REDIS_PORT": 6379, "WEB_PORT": 8080, "METRICS_PORT": 9464, "PROMETHEUS_PORT": 9090, "REDIS_EXPORTER_PORT": 9121}
	var pairs []string
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		def, ok := defaults[k]
		port, err := strconv.Atoi(v)
		if !ok || err != nil {
			continue
		}
		for i := range 5 { // METRICS_PORT and the four after it
			pairs = append(pairs, fmt.Sprintf(":%d", port+i), fmt.Sprintf(":%d", def+i))
		}
	}
	return strings.NewReplacer(pairs...).Replace
}

// stackEnv is this process's environment with make up's ports moved to
// free ones (a port taken by the caller's own stack is kept as it is set).
func stackEnv(t *testing.T) []string {
	env := os.Environ()
	for _, p := range []struct {
		name string
		n    int // consecutive ports
	}{
		{"TEMPORAL_PORT", 1}, {"TEMPORAL_UI_PORT", 1}, {"TEMPORAL_METRICS_PORT", 1}, {"REDIS_PORT", 3},
		{"POSTGRES_PORT", 1}, {"WEB_PORT", 1}, {"METRICS_PORT", 5}, {"PROMETHEUS_PORT", 1}, {"REDIS_EXPORTER_PORT", 1},
	} {
		if os.Getenv(p.name) == "" {
			env = append(env, fmt.Sprintf("%s=%d", p.name, freePorts(t, p.n)))
		}
	}
	return env
}
