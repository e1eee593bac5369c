package main

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/internal/app/bench"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/internal/testkit/teststack"
	"github.com/ordersaga/ordersaga/shop"
)

// benchRun runs the starter in process and returns its exit code and output.
func benchRun(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestBenchUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--faults", "payment=decline:2"},
		{"--faults", "payment=decline"},
		{"--faults", "billing=decline:0.1"},
		{"--faults", "payment=decline:0.1,payment=transient:0.1"},
		{"--orders", "0"},
		{"--concurrency", "0"},
		{"--keep-state", "--force"},
		{"--reset", "--keep-state"},
		{"--force"},
		{"--orders", "ten"},
		{"--report", "/no/such/dir/bench.md"},
		{"--report", ""},
		{"--report", "ok.md", "--report", "/no/such/dir/bench.html"},
		{"--stack", "two\nlines"},
		{"--stack", strings.Repeat("x", 201)},
		{"extra"},
	} {
		code, stdout, stderr := benchRun(t, append([]string{"--redis-url", "redis://127.0.0.1:1/0", "bench"}, args...)...)
		line, ok := strings.CutSuffix(stderr, "\n")
		if code != 2 || !ok || strings.Contains(line, "\n") || !strings.HasPrefix(line, "starter: ") || stdout != "" {
			t.Errorf("bench %v: want exit 2 and one line on stderr, got exit %d\nstdout: %q\nstderr: %q", args, code, stdout, stderr)
		}
	}
}

// benchStack is a redis-server, a Temporal dev server, an orchestration
// worker and the four choreography services, all owned by one test.
type benchStack struct {
	redisURL, temporalAddr string
	rdb                    *redis.Client
}

func (s *benchStack) globals() []string { return stackFlags(s.redisURL, s.temporalAddr) }

func startBenchStack(t *testing.T) *benchStack {
	t.Helper()
	var rsrv *testenv.RedisServer
	var rdb *redis.Client
	// A free port can be taken by another test's server before ours binds
	// it: make sure the client talks to this test's own server.
	for range 5 {
		rsrv = testenv.StartRedis(t)
		rdb = rsrv.Client()
		dir, err := rdb.ConfigGet(t.Context(), "dir").Result()
		if err != nil {
			t.Fatalf("config get dir: %v", err)
		}
		a, _ := filepath.EvalSymlinks(dir["dir"])
		b, _ := filepath.EvalSymlinks(rsrv.Dir)
		if a != "" && a == b {
			break
		}
		rsrv.Stop()
		rsrv = nil
	}
	if rsrv == nil {
		t.Fatal("could not start a redis-server of this test's own")
	}
	tsrv := testenv.StartTemporal(t)
	teststack.StartEngines(t, tsrv.Address, tsrv.Namespace, rdb)
	return &benchStack{redisURL: rsrv.URL(), temporalAddr: tsrv.Address, rdb: rdb}
}

// benchJSON is what the test reads of `bench --json`.
type benchJSON struct {
	Command string `json:"command"`
	Results []struct {
		Mode         shop.Mode           `json:"mode"`
		Orders       int                 `json:"orders"`
		Throughput   float64             `json:"throughput"`
		P50          float64             `json:"p50_ms"`
		P90          float64             `json:"p90_ms"`
		P99          float64             `json:"p99_ms"`
		Max          float64             `json:"max_ms"`
		Statuses     map[shop.Status]int `json:"statuses"`
		Retries      int64               `json:"retries"`
		Errors       int                 `json:"errors"`
		InvariantsOK bool                `json:"invariants_ok"`
		Violations   []string            `json:"violations"`
	} `json:"results"`
	Baseline map[shop.Mode]*struct {
		Name            string  `json:"name"`
		Orders          int     `json:"orders"`
		Throughput      float64 `json:"throughput"`
		P50             float64 `json:"p50_ms"`
		Errors          int     `json:"errors"`
		ThroughputRatio float64 `json:"throughput_ratio"`
		P50Ratio        float64 `json:"p50_ratio"`
	} `json:"baseline"`
	OutcomesMatch *bool `json:"outcomes_match"`
	OK            bool  `json:"ok"`
}

func decodeBench(t *testing.T, stdout string) benchJSON {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(stdout))
	var doc benchJSON
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
	}
	if dec.More() {
		t.Fatalf("stdout holds more than one JSON document:\n%s", stdout)
	}
	return doc
}

func TestBenchEndToEnd(t *testing.T) {
	s := startBenchStack(t)
	const faults = "payment=decline:0.2,shipping=transient:0.1"
	dir := t.TempDir()
	reportFile := filepath.Join(dir, "bench.md")
	args := append(s.globals(), "bench", "--mode", "both", "--orders", "40", "--concurrency", "8", "--seed", "7",
		"--faults", faults, "--json", "--baseline", "--report", reportFile, "--report", filepath.Join(dir, "bench.html"),
		"--report", filepath.Join(dir, "bench.json"), "--stack", "test stack")
	code, stdout, stderr := benchRun(t, args...)
	if code != 0 || stderr != "" {
		t.Fatalf("bench: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	doc := decodeBench(t, stdout)

	rules, err := bench.ParseFaults(faults)
	if err != nil {
		t.Fatal(err)
	}
	work, err := bench.Generate(7, "any", 40, rules, shop.DefaultCatalog())
	if err != nil {
		t.Fatal(err)
	}
	want := work.ExpectedStatuses()
	if want[shop.StatusCompensated] == 0 || want[shop.StatusCompleted] == 0 {
		t.Fatalf("seed 7 plans %v: the test needs both outcomes", want)
	}
	var wantRetries int64 // shipping=transient:1 retries once when shipping runs
	for _, o := range work.Orders {
		if _, ok := o.Faults[shop.OpSchedule]; ok && bench.Expected(o) == shop.StatusCompleted {
			wantRetries++
		}
	}
	if wantRetries == 0 {
		t.Fatal("seed 7 plans no transient fault that runs: the test needs one")
	}

	if len(doc.Results) != 2 || doc.Results[0].Mode != shop.ModeOrchestration || doc.Results[1].Mode != shop.ModeChoreography {
		t.Fatalf("want results for orchestration then choreography:\n%s", stdout)
	}
	for _, r := range doc.Results {
		if !r.InvariantsOK || len(r.Violations) != 0 || r.Errors != 0 {
			t.Errorf("%s: invariants_ok %v, violations %v, errors %d", r.Mode, r.InvariantsOK, r.Violations, r.Errors)
		}
		if r.Orders != 40 || r.Throughput <= 0 || r.P50 <= 0 || r.P50 > r.P90 || r.P90 > r.P99 || r.P99 > r.Max {
			t.Errorf("%s: orders %d, throughput %v, p50 %v p90 %v p99 %v max %v", r.Mode, r.Orders, r.Throughput, r.P50, r.P90, r.P99, r.Max)
		}
		if !maps.Equal(r.Statuses, want) {
			t.Errorf("%s: statuses %v, the workload plans %v", r.Mode, r.Statuses, want)
		}
		if r.Retries != wantRetries {
			t.Errorf("%s: %d retries, want %d", r.Mode, r.Retries, wantRetries)
		}
	}
	if !maps.Equal(doc.Results[0].Statuses, doc.Results[1].Statuses) || doc.OutcomesMatch == nil || !*doc.OutcomesMatch || !doc.OK {
		t.Errorf("engines disagree: %v vs %v (outcomes_match %v, ok %v)", doc.Results[0].Statuses, doc.Results[1].Statuses, doc.OutcomesMatch, doc.OK)
	}
	for _, m := range shop.Modes {
		b := doc.Baseline[m]
		if b == nil {
			t.Errorf("no %s baseline:\n%s", m, stdout)
			continue
		}
		if b.Orders != 40 || b.Errors != 0 || b.Throughput <= 0 || b.P50 <= 0 || b.ThroughputRatio <= 0 || b.P50Ratio <= 0 {
			t.Errorf("%s baseline: %+v", m, *b)
		}
	}

	md, err := os.ReadFile(reportFile)
	if err != nil {
		t.Fatalf("report: %v", err)
	}
	for _, want := range []string{
		"| ENGINE | SAGAS/S | P50 | P90 | P99 | MAX | COMPLETED | COMPENSATED | FAILED | OTHER | RETRIES | INVARIANTS |",
		"| orchestration | ", "| choreography | ", "| " + bench.BareTemporalName + " | ", "| " + bench.BareStreamsName + " | ",
		doc.Command, "--seed 7", "Redis: ", "Temporal server: ", "CPUs: ",
		"Measured on: test stack; ", "Redis persistence: no persistence", "Temporal persistence: sqlite",
		"![orchestration against its bare engine: latency percentiles](bench-latency-orchestration.svg)",
		"(bench-throughput-choreography.svg)",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	checkReportFiles(t, dir, stdout)

	// Text output: --reset deletes the first run's orders and says so, then the table.
	code, stdout, stderr = benchRun(t, append(s.globals(), "bench", "--mode", "choreography", "--orders", "5", "--concurrency", "2", "--seed", "3", "--reset")...)
	if code != 0 || stderr != "" || !strings.Contains(stdout, "choreography: reset: 40 orders deleted (") || !strings.Contains(stdout, "ENGINE") ||
		!strings.Contains(stdout, "choreography: invariants hold") || strings.Contains(stdout, "orchestration") {
		t.Errorf("text bench: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}

	// A broken invariant fails the run: with --keep-state, stock that moved
	// outside any order is reported.
	if err := s.rdb.DecrBy(t.Context(), activities.Layout{Prefix: activities.ChoreographyPrefix}.StockKey("mug"), 1).Err(); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = benchRun(t, append(s.globals(), "bench", "--mode", "choreography", "--orders", "3", "--concurrency", "2", "--seed", "3", "--keep-state", "--json")...)
	doc = decodeBench(t, stdout)
	if code != 1 || len(doc.Results) != 1 || doc.Results[0].InvariantsOK || doc.OK || !strings.Contains(strings.Join(doc.Results[0].Violations, "\n"), "stock of mug") {
		t.Errorf("bench after breaking stock: exit %d, want 1 and a stock violation\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

// checkReportFiles checks the other reports of TestBenchEndToEnd: the
// charts next to the Markdown, the HTML page with them inline, and the JSON
// file, the same document as stdout with every engine's and baseline's
// latency distribution and throughput series.
func checkReportFiles(t *testing.T, dir, stdout string) {
	t.Helper()
	for _, m := range shop.Modes {
		for _, kind := range []string{"latency", "throughput"} {
			svg, err := os.ReadFile(filepath.Join(dir, "bench-"+kind+"-"+string(m)+".svg"))
			if err != nil || !strings.HasPrefix(string(svg), "<svg ") || !strings.Contains(string(svg), "Measured on: test stack; ") {
				t.Errorf("%s chart of %s: %v\n%.300s", kind, m, err, svg)
			}
		}
	}
	page, err := os.ReadFile(filepath.Join(dir, "bench.html"))
	if err != nil || strings.Count(string(page), "<svg ") != 4 || !strings.Contains(string(page), "<table id=\"results\">") {
		t.Errorf("HTML report: %v, %d charts", err, strings.Count(string(page), "<svg "))
	}
	file, err := os.ReadFile(filepath.Join(dir, "bench.json"))
	if err != nil {
		t.Fatal(err)
	}
	var a, b map[string]any
	if err := json.Unmarshal(file, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(stdout), &b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("the JSON report differs from stdout:\n%s\n%s", file, stdout)
	}
	var doc struct {
		Results  []bench.Stats              `json:"results"`
		Baseline map[shop.Mode]*bench.Stats `json:"baseline"`
		Machine  bench.Machine              `json:"machine"`
	}
	if err := json.Unmarshal(file, &doc); err != nil {
		t.Fatal(err)
	}
	all := append(doc.Results, *doc.Baseline[shop.ModeOrchestration], *doc.Baseline[shop.ModeChoreography])
	for i, s := range all {
		n := len(s.Percentiles)
		if n != len(bench.Quantiles) || s.Percentiles[0].Ms <= 0 || s.Percentiles[n-1].Ms != s.Max || s.Series == nil {
			t.Errorf("stats %d: percentiles %v, max %v, series %+v", i, s.Percentiles, s.Max, s.Series)
			continue
		}
		total := 0.0
		for _, v := range s.Series.PerSecond {
			total += v * s.Series.BucketSeconds
		}
		if math.Abs(total-40) > 0.01 {
			t.Errorf("stats %d: the series counts %.2f sagas, want 40", i, total)
		}
	}
	if m := doc.Machine; m.Stack != "test stack" || m.RedisPersistence != "no persistence" || m.TemporalPersistence != "sqlite" || m.TemporalShards < 1 {
		t.Errorf("machine %+v", m)
	}
}

// TestBenchLeavesOrdersPlacedByHand: on engines that hold orders placed by
// hand, bench without --reset places none and exits 2 with one line saying
// how many orders a reset would delete, and deletes nothing; --keep-state
// benches on top of them. Every hand-placed order keeps its state, and
// verify still passes.
func TestBenchLeavesOrdersPlacedByHand(t *testing.T) {
	s := startBenchStack(t)
	hand := []string{newID("hand-ok"), newID("hand-comp")}
	s.must(t, "order", "--id", hand[0])
	s.must(t, "order", "--id", hand[1], "--fail", "payment")
	before := s.handState(t, hand)

	r := s.run(t, "bench", "--mode", "both", "--orders", "3", "--concurrency", "2", "--seed", "3")
	wantCode(t, r, 2)
	wantOneLine(t, r, "the engines hold 4 orders (orchestration 2, choreography 2)", "nothing was deleted", "--reset", "--keep-state")
	if r.stdout != "" {
		t.Errorf("a refused bench printed on stdout:\n%s", r)
	}
	if after := s.handState(t, hand); !reflect.DeepEqual(after, before) {
		t.Fatalf("a refused bench changed the state:\nbefore %+v\nafter  %+v", before, after)
	}

	r = s.must(t, "bench", "--mode", "both", "--orders", "3", "--concurrency", "2", "--seed", "3", "--keep-state", "--json")
	if doc := decodeBench(t, r.stdout); !doc.OK {
		t.Fatalf("bench --keep-state:\n%s", r)
	}
	after := s.handState(t, hand)
	if !reflect.DeepEqual(after.orders, before.orders) {
		t.Errorf("bench --keep-state changed the hand-placed orders:\nbefore %+v\nafter  %+v", before.orders, after.orders)
	}
	for m, n := range after.counts {
		if n != 5 {
			t.Errorf("verify after bench --keep-state: %s has %d orders, want the 2 by hand and the 3 of the bench", m, n)
		}
	}
}

// run runs the CLI against the stack; must also wants exit 0 and an empty stderr.
func (s *benchStack) run(t *testing.T, args ...string) result {
	t.Helper()
	return starter(t, append(s.globals(), args...)...)
}

func (s *benchStack) must(t *testing.T, args ...string) result {
	t.Helper()
	return wantOK(t, s.run(t, args...))
}

// handSnapshot is what a test sees of a stack with orders placed by hand:
// each one's participants' state per engine, the stock, and how many
// orders verify counts per engine (verify passing).
type handSnapshot struct {
	orders map[string]activities.OrderState
	stock  string
	counts map[string]int
}

func (s *benchStack) handState(t *testing.T, ids []string) handSnapshot {
	t.Helper()
	snap := handSnapshot{orders: map[string]activities.OrderState{}, counts: map[string]int{}}
	for _, prefix := range []string{activities.OrchestrationPrefix, activities.ChoreographyPrefix} {
		for _, id := range ids {
			st, err := activities.ReadOrderState(t.Context(), s.rdb, prefix, id)
			if err != nil || len(st.Ops) == 0 {
				t.Fatalf("%s%s: state %+v, %v: want the order's steps", prefix, id, st, err)
			}
			snap.orders[prefix+id] = st
		}
	}
	snap.stock = s.must(t, "stock", "--json").stdout
	var v verifyJSON
	decodeOne(t, s.must(t, "verify", "--json"), &v)
	for _, r := range v.Results {
		snap.counts[r.Mode] = r.Orders
	}
	return snap
}
