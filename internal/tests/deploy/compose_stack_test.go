//go:build compose

package deploy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ordersaga/ordersaga/internal/platform/poll"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
)

// stack is one Compose project of the repository's files, under a name of
// its own and on free ports, taken down with its volumes when the test ends.
type stack struct {
	t        *testing.T
	project  string
	files    []string
	profiles []string
	env      map[string]string
}

// newStack is the project NAME (prefixed by ORDERSAGA_COMPOSE_PREFIX, which
// make compose-test sets so that its trap finds whatever a crash leaves) of
// the given Compose files, with every published port moved to a free one.
func newStack(t *testing.T, name string, files ...string) *stack {
	t.Helper()
	prefix := os.Getenv("ORDERSAGA_COMPOSE_PREFIX")
	if prefix == "" {
		prefix = "ordersaga-test-" + strconv.Itoa(os.Getpid())
	}
	s := &stack{t: t, project: prefix + "-" + name, files: files, env: map[string]string{
		// make compose-test vendors the modules: the build reaches no network.
		"GO_MODULES": "vendor",
	}}
	for _, key := range []string{"TEMPORAL_PORT", "TEMPORAL_UI_PORT", "REDIS_PORT", "WEB_PORT", "PROMETHEUS_PORT",
		"GRAFANA_PORT", "JAEGER_UI_PORT", "OTLP_GRPC_PORT", "OTLP_HTTP_PORT"} {
		s.env[key] = strconv.Itoa(freePort(t))
	}
	t.Cleanup(func() {
		if out, err := s.down("-v"); err != nil {
			t.Errorf("docker compose down -v: %v\n%s", err, out)
		}
	})
	return s
}

// in is the stack as seen from subtest t: its failures end t, not the parent.
func (s *stack) in(t *testing.T) *stack {
	c := *s
	c.t = t
	return &c
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// compose runs docker compose on the stack and returns its output.
func (s *stack) compose(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	full := []string{"compose", "-p", s.project}
	for _, f := range s.files {
		full = append(full, "-f", f)
	}
	for _, p := range s.profiles {
		full = append(full, "--profile", p)
	}
	cmd := exec.CommandContext(ctx, "docker", append(full, args...)...)
	cmd.Dir = testenv.RepoRoot()
	cmd.Env = os.Environ()
	for k, v := range s.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// down takes the stack down with every profile's services, those a test
// started with a profile included (plain `down` leaves them running).
func (s *stack) down(args ...string) (string, error) {
	c := *s
	c.profiles = []string{"*"}
	return c.compose(10*time.Minute, append([]string{"down", "--remove-orphans", "--timeout", "5"}, args...)...)
}

// must is compose that fails the test on an error.
func (s *stack) must(timeout time.Duration, args ...string) string {
	s.t.Helper()
	out, err := s.compose(timeout, args...)
	if err != nil {
		s.t.Fatalf("docker compose %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// up brings the stack up and waits for every service to be healthy (or,
// for a job, done).
func (s *stack) up(services ...string) {
	s.t.Helper()
	start := time.Now()
	s.must(20*time.Minute, append([]string{"up", "-d", "--build", "--wait", "--wait-timeout", "600"}, services...)...)
	s.t.Logf("%s: up in %s", s.project, time.Since(start).Round(time.Second))
}

// starter runs the CLI the way a user does: docker compose run --rm starter ARGS.
func (s *stack) starter(args ...string) (string, error) {
	return s.compose(5*time.Minute, append([]string{"run", "--rm", "--no-deps", "-T", "starter"}, args...)...)
}

// result is what `starter order --json` and `status --json` say of an engine.
type result struct {
	Mode   string `json:"mode"`
	Status string `json:"status"`
	Reason string `json:"reason"`
}

// results runs a starter command with --json and returns its results by mode.
func (s *stack) results(args ...string) map[string]result {
	s.t.Helper()
	out, err := s.starter(append(args, "--json")...)
	if err != nil {
		s.t.Fatalf("starter %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	var doc struct{ Results []result }
	if i := strings.Index(out, "{"); i < 0 || json.Unmarshal([]byte(out[i:]), &doc) != nil {
		s.t.Fatalf("starter %s: no JSON document in\n%s", strings.Join(args, " "), out)
	}
	byMode := map[string]result{}
	for _, r := range doc.Results {
		byMode[r.Mode] = r
	}
	return byMode
}

// wantStatus fails the test unless every engine of results has status want.
func wantStatus(t *testing.T, what string, results map[string]result, modes []string, want string) {
	t.Helper()
	for _, m := range modes {
		if got := results[m].Status; got != want {
			t.Errorf("%s: %s ended %q (%s), want %s", what, m, got, results[m].Reason, want)
		}
	}
}

var bothModes = []string{"orchestration", "choreography"}

// orders places a completed and a compensated order on both engines and
// checks their outcomes and verify; it returns the completed order's ID.
func (s *stack) orders() string {
	s.t.Helper()
	id := fmt.Sprintf("c-%d", time.Now().UnixNano())
	wantStatus(s.t, "order", s.results("order", "--id", id), bothModes, "COMPLETED")
	failed := id + "-fail"
	wantStatus(s.t, "order --fail payment", s.results("order", "--id", failed, "--fail", "payment"), bothModes, "COMPENSATED")
	s.verify()
	return id
}

func (s *stack) verify() {
	s.t.Helper()
	if out, err := s.starter("verify"); err != nil {
		s.t.Fatalf("starter verify: %v\n%s", err, out)
	}
}

// waitTerminal polls `status` until the order is terminal on mode.
func (s *stack) waitTerminal(id, mode string, within time.Duration) result {
	s.t.Helper()
	var last result
	err := poll.For(context.Background(), within, poll.Every(2*time.Second), func(context.Context) (bool, error) {
		last = s.results("status", id, "--mode", mode)[mode]
		return last.Status != "" && last.Status != "PENDING", nil
	})
	if err != nil {
		s.t.Fatalf("order %s on %s: still %q after %s", id, mode, last.Status, within)
	}
	return last
}

// httpOK waits until url answers 200.
func httpOK(t *testing.T, url string, within time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	err := poll.For(context.Background(), within, poll.Every(time.Second), func(context.Context) (bool, error) {
		resp, err := client.Get(url)
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		t.Fatalf("%s did not answer 200 within %s", url, within)
	}
}
