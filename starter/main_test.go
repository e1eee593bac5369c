package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/internal/testkit/teststack"
	"github.com/ordersaga/ordersaga/shop"
	"github.com/ordersaga/ordersaga/workflows"
)

// The tests of this package share one stack, started on first use and
// stopped after every test has run: a redis-server, a Temporal dev server,
// an orchestration worker and the four choreography services, in process.
// Tests run one after another (none calls t.Parallel): `stock --reset` and
// the stock deltas they assert need a quiet system.

func TestMain(m *testing.M) {
	// Links are asserted against the default Temporal UI address.
	os.Unsetenv("TEMPORAL_UI_URL")
	// What `source .state/env` exports names a real stack, which the tests'
	// resets must never reach.
	for _, k := range stackEnv {
		os.Unsetenv(k)
	}
	code := m.Run()
	if s := shared.st; s != nil {
		if err := s.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "shared stack: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}

// stackEnv are the variables that point the starter at a stack.
var stackEnv = []string{"REDIS_URL", "REDIS_CLUSTER_URL", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE",
	"TEMPORAL_PROFILE", "TEMPORAL_CONFIG_FILE", "TEMPORAL_API_KEY"}

var shared struct {
	once sync.Once
	st   *stack
	err  error
}

// servers returns the shared stack, starting it on first use. When a server
// binary is missing the test skips (or fails under CI=true).
func servers(t *testing.T) *stack {
	t.Helper()
	shared.once.Do(func() { shared.st, shared.err = startStack() })
	if shared.err != nil {
		testenv.MissingErr(t, shared.err)
	}
	return shared.st
}

type stack struct {
	redis    *testenv.RedisProcess
	temporal *testenv.TemporalServer
	rdb      *redis.Client
	tc       client.Client
	worker   worker.Worker
	node     *choreography.Node
	stops    map[string]func() // stop and wait, by running choreography service
	mu       sync.Mutex
	errs     []error
}

func startStack() (*stack, error) {
	s := &stack{}
	fail := func(err error) (*stack, error) {
		_ = s.stop()
		return nil, err
	}
	var err error
	if s.redis, err = testenv.StartRedisProcess(); err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if s.temporal, err = testenv.StartTemporalProcess(ctx); err != nil {
		return fail(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	catalog := shop.DefaultCatalog()
	s.rdb = redis.NewClient(&redis.Options{Addr: s.redis.Addr})

	if err := activities.Seed(ctx, s.rdb, activities.OrchestrationPrefix, catalog); err != nil {
		return fail(err)
	}
	s.tc, err = client.Dial(client.Options{HostPort: s.temporal.Address, Namespace: s.temporal.Namespace, Logger: tlog.NewStructuredLogger(quiet)})
	if err != nil {
		return fail(fmt.Errorf("dial temporal: %w", err))
	}
	if err := s.startWorker(); err != nil {
		return fail(err)
	}

	s.node = choreography.NewNode(s.rdb, catalog, quiet)
	if err := s.node.Bus.Setup(ctx); err != nil {
		return fail(err)
	}
	if err := activities.Seed(ctx, s.rdb, activities.ChoreographyPrefix, catalog); err != nil {
		return fail(err)
	}
	s.stops = map[string]func(){}
	for _, svc := range choreography.Services {
		s.startService(svc)
	}
	return s, nil
}

// startWorker starts the orchestration worker in process.
func (s *stack) startWorker() error {
	w := workflows.NewWorker(s.tc, s.rdb, shop.DefaultCatalog(), worker.Options{})
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	s.worker = w
	return nil
}

// stopWorker stops the orchestration worker.
func (s *stack) stopWorker() {
	if s.worker != nil {
		s.worker.Stop()
		s.worker = nil
	}
}

// startService runs a choreography service in process until stopService,
// unless it runs already.
func (s *stack) startService(svc string) {
	if s.stops[svc] != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	s.stops[svc] = func() { cancel(); <-done }
	go func() {
		defer close(done)
		cfg := choreography.ConsumerConfig{Name: svc + "-1", RetryBase: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond}
		if err := s.node.RunService(ctx, svc, cfg); err != nil {
			s.mu.Lock()
			s.errs = append(s.errs, fmt.Errorf("service %s: %w", svc, err))
			s.mu.Unlock()
		}
	}()
}

// stopService stops a choreography service and waits until it has stopped.
func (s *stack) stopService(svc string) {
	if stop := s.stops[svc]; stop != nil {
		stop()
		delete(s.stops, svc)
	}
}

func (s *stack) stop() error {
	for svc := range s.stops {
		s.stopService(svc)
	}
	s.stopWorker()
	if s.tc != nil {
		s.tc.Close()
	}
	if s.rdb != nil {
		_ = s.rdb.Close()
	}
	if s.temporal != nil {
		_ = s.temporal.Stop()
	}
	if s.redis != nil {
		s.redis.Stop()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return errors.Join(s.errs...)
}

// globals are the global flags that point the starter at the stack.
func (s *stack) globals() []string { return stackFlags(s.redis.URL(), s.temporal.Address) }

// stackFlags point the starter at a test's own servers whatever the
// environment says: an empty --redis-cluster-url, since REDIS_CLUSTER_URL
// (which `source .state/env` exports after `make up REDIS_CLUSTER=3`) wins
// over --redis-url, and the tests reset what they point at.
func stackFlags(redisURL, temporalAddr string) []string {
	return []string{"--redis-url", redisURL, "--redis-cluster-url=", "--address", temporalAddr, "-n", "default"}
}

// result is one run of the starter.
type result struct {
	args           []string
	code           int
	stdout, stderr string
	took           time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("starter %s\nexit %d after %s\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, r.took.Round(time.Millisecond), r.stdout, r.stderr)
}

// starter runs the CLI in process with exactly args.
func starter(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	start := time.Now()
	code := run(ctx, args, &stdout, &stderr)
	return result{args: args, code: code, stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start)}
}

// run runs the CLI against the stack: the global flags come first.
func (s *stack) run(t *testing.T, args ...string) result {
	t.Helper()
	return starter(t, append(s.globals(), args...)...)
}

// must runs the CLI against the stack and fails the test unless it exits 0
// with nothing on stderr.
func (s *stack) must(t *testing.T, args ...string) result {
	t.Helper()
	return wantOK(t, s.run(t, args...))
}

// wantOK fails the test unless r exited 0 with nothing on stderr.
func wantOK(t *testing.T, r result) result {
	t.Helper()
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("want exit 0 and an empty stderr:\n%s", r)
	}
	return r
}

func wantCode(t *testing.T, r result, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("want exit %d:\n%s", code, r)
	}
}

// wantOneLine checks that stderr is exactly one line from the starter that
// contains every one of subs.
func wantOneLine(t *testing.T, r result, subs ...string) {
	t.Helper()
	line, ok := strings.CutSuffix(r.stderr, "\n")
	if !ok || line == "" || strings.Contains(line, "\n") || !strings.HasPrefix(line, "starter: ") {
		t.Fatalf("want exactly one line on stderr starting with %q:\n%s", "starter: ", r)
	}
	for _, s := range subs {
		if !strings.Contains(line, s) {
			t.Fatalf("want stderr to mention %q:\n%s", s, r)
		}
	}
}

// newID returns an order ID unique to this run, with a readable label.
func newID(label string) string {
	return "t-" + label + "-" + strings.ReplaceAll(uuid.NewString(), "-", "")[:10]
}

// decodeOne decodes stdout as exactly one JSON document.
func decodeOne(t *testing.T, r result, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		t.Fatalf("stdout holds more than one JSON document:\n%s", r)
	}
}

// orderJSON is the contract of `order --json`.
type orderJSON struct {
	Results []orderJSONResult `json:"results"`
}

type orderJSONResult struct {
	Mode        string   `json:"mode"`
	OrderID     string   `json:"order_id"`
	Status      string   `json:"status"`
	Steps       []string `json:"steps"`
	Compensated []string `json:"compensated"`
	ElapsedMS   float64  `json:"elapsed_ms"`
	UIURL       string   `json:"ui_url"`
	FailedStep  string   `json:"failed_step"`
	Reason      string   `json:"reason"`
	Error       string   `json:"error"`
}

// decodeOrder parses `order --json` output and checks its shape: one result
// per mode in order, each with every contract key, the same order ID, and
// the Temporal UI link on orchestration only.
func decodeOrder(t *testing.T, r result, id string, modes []string, waited bool) orderJSON {
	t.Helper()
	var raw struct {
		Results []map[string]json.RawMessage `json:"results"`
	}
	decodeOne(t, r, &raw)
	for _, res := range raw.Results {
		for _, k := range []string{"mode", "order_id", "status", "steps", "compensated", "elapsed_ms"} {
			v, ok := res[k]
			if !ok {
				t.Fatalf("result lacks %q:\n%s", k, r)
			}
			if (k == "steps" || k == "compensated") && !bytes.HasPrefix(v, []byte("[")) {
				t.Fatalf("%q is %s, want a list:\n%s", k, v, r)
			}
		}
	}
	var out orderJSON
	decodeOne(t, r, &out)
	var got []string
	for _, res := range out.Results {
		got = append(got, res.Mode)
	}
	if !slices.Equal(got, modes) {
		t.Fatalf("results for modes %v, want %v:\n%s", got, modes, r)
	}
	for _, res := range out.Results {
		if res.OrderID != id {
			t.Fatalf("%s order_id %q, want %q:\n%s", res.Mode, res.OrderID, id, r)
		}
		if waited && res.ElapsedMS <= 0 {
			t.Fatalf("%s elapsed_ms %v, want > 0:\n%s", res.Mode, res.ElapsedMS, r)
		}
		if res.Error != "" {
			t.Fatalf("%s error: %s", res.Mode, res.Error)
		}
		switch res.Mode {
		case "orchestration":
			if want := "http://localhost:8233/namespaces/default/workflows/order-" + id; res.UIURL != want {
				t.Fatalf("orchestration ui_url %q, want %q", res.UIURL, want)
			}
		default:
			if res.UIURL != "" {
				t.Fatalf("%s has a ui_url %q", res.Mode, res.UIURL)
			}
		}
	}
	return out
}

// stockJSON is `stock --json`.
type stockJSON struct {
	Stock []struct {
		SKU       string           `json:"sku"`
		Name      string           `json:"name"`
		Price     int64            `json:"price_cents"`
		Initial   int64            `json:"initial"`
		Available map[string]int64 `json:"available"`
	} `json:"stock"`
}

// levels returns the available stock per mode and SKU.
func (s *stack) levels(t *testing.T) map[string]map[string]int64 {
	t.Helper()
	var st stockJSON
	decodeOne(t, s.must(t, "stock", "--json"), &st)
	out := map[string]map[string]int64{}
	for _, row := range st.Stock {
		for m, n := range row.Available {
			if out[m] == nil {
				out[m] = map[string]int64{}
			}
			out[m][row.SKU] = n
		}
	}
	return out
}

// choreographyOrders counts the orders the choreography engine holds.
func (s *stack) choreographyOrders(t *testing.T) int {
	t.Helper()
	orders, err := choreography.NewEngine(s.node, shop.DefaultCatalog()).Orders(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return len(orders)
}

// wantUnknown checks that no engine knows the order.
func (s *stack) wantUnknown(t *testing.T, id string) {
	t.Helper()
	for _, m := range []string{"orchestration", "choreography"} {
		r := s.run(t, "status", id, "--mode", m)
		if r.code != 1 || !strings.Contains(r.stderr, "unknown order") {
			t.Fatalf("order %s should not exist on %s:\n%s", id, m, r)
		}
	}
}

// eventually calls f until it reports done, or fails the test after timeout
// with f's last word.
func eventually(t *testing.T, timeout time.Duration, f func() (bool, string)) {
	t.Helper()
	teststack.Eventually(t, timeout, 50*time.Millisecond, func() error {
		if done, why := f(); !done {
			return fmt.Errorf("gave up after %s: %s", timeout, why)
		}
		return nil
	})
}
