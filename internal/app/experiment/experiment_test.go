package experiment_test

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"github.com/ordersaga/ordersaga/internal/platform/keyspace"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ordersaga/ordersaga/internal/app/admin"
	"github.com/ordersaga/ordersaga/internal/app/bench"
	"github.com/ordersaga/ordersaga/internal/app/experiment"
	"github.com/ordersaga/ordersaga/internal/platform/config"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/shop"
)

// stack is a Redis and a Temporal dev server of a test, both keeping their
// data across a restart, which Stop and Start do (experiment.Servers).
type stack struct {
	t        *testing.T
	redis    *testenv.RedisServer
	tcmd     *testenv.TemporalCmd
	mu       sync.Mutex
	temporal *testenv.RunningTemporal
}

func newStack(t *testing.T) *stack {
	t.Helper()
	s := &stack{t: t, redis: testenv.StartRedis(t, "--appendonly", "yes", "--appendfsync", "everysec")}
	s.tcmd = testenv.NewTemporalCmd(t, testenv.BackendDev)
	if err := s.Start(context.Background(), "temporal"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background(), "temporal") })
	return s
}

func (s *stack) Stop(_ context.Context, server string) error {
	if server == "redis" {
		s.redis.Kill()
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.temporal != nil {
		_ = s.temporal.Stop()
		s.temporal = nil
	}
	return nil
}

func (s *stack) Start(ctx context.Context, server string) error {
	if server == "redis" {
		return s.redis.RestartErr()
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	r, err := s.tcmd.Launch(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.temporal = r
	s.mu.Unlock()
	return nil
}

func (s *stack) engines(t *testing.T) (*admin.EngineSet, *config.Config) {
	t.Helper()
	cfg := &config.Config{RedisURL: s.redis.URL(), TemporalAddress: s.tcmd.Address, Namespace: s.tcmd.Namespace,
		Partitions: keyspace.DefaultPartitions, ConnectTimeout: 5 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	eng, err := admin.Open(ctx, cfg, shop.Modes, admin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	return eng, cfg
}

// short is the short form of an outage: a few seconds of load, a few down.
func short(s *stack, service string, namespace string) experiment.Config {
	return experiment.Config{
		Seed: 3, Rate: 10, Service: service, Before: 2 * time.Second, Outage: 3 * time.Second, After: 2 * time.Second,
		Drain: 2 * time.Minute, Interval: 500 * time.Millisecond, PlaceTimeout: 30 * time.Second, Instances: 1, Servers: s, Namespace: namespace,
		Bench: bench.Config{Reset: true, Force: true, Command: "starter experiment outage --service " + service, Stack: "test stack"},
	}
}

func TestOutagePayment(t *testing.T) {
	s := newStack(t)
	eng, cfg := s.engines(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rep, err := experiment.Run(ctx, eng, "outage", short(s, "payment", cfg.Namespace))
	if err != nil {
		t.Fatal(err)
	}
	results := checkReport(t, rep, 70)
	for _, r := range results {
		// Redis answers whatever the participants do; a Temporal server on
		// a loaded machine may not answer a placement in time, which then
		// counts as refused (and is checked to be not half-placed).
		if r.Refused != 0 && r.Mode == shop.ModeChoreography {
			t.Errorf("%s: %d placements refused with only a participant down, the first: %s", r.Mode, r.Refused, r.FirstRefusal)
		}
		if r.Drain < 0 {
			t.Errorf("%s: the orders placed during the outage never drained", r.Mode)
		}
		// Orders placed while payment was down wait for it: at least the
		// outage's rest, so the p99 of those placed is well over a second.
		if r.P99 < 1000 {
			t.Errorf("%s: p99 of the orders placed during the outage %.0fms, want them held up by it", r.Mode, r.P99)
		}
		var most int64
		for _, v := range r.MaxBacklog {
			most = max(most, v)
		}
		if most == 0 {
			t.Errorf("%s: no backlog seen while payment was down: %v", r.Mode, r.MaxBacklog)
		}
	}
	writeAndValidate(t, rep, "outage")
}

func TestOutageCoordinator(t *testing.T) {
	s := newStack(t)
	eng, cfg := s.engines(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rep, err := experiment.Run(ctx, eng, "outage", short(s, "coordinator", cfg.Namespace))
	if err != nil {
		t.Fatal(err)
	}
	results := checkReport(t, rep, 70)
	for _, r := range results {
		if len(r.Actions) != 2 || r.Actions[0].Err != "" || r.Actions[1].Err != "" {
			t.Errorf("%s: actions %+v, want a stop and a start without error", r.Mode, r.Actions)
		}
		if r.Drain < 0 {
			t.Errorf("%s: the orders placed during the outage never drained", r.Mode)
		}
	}
	writeAndValidate(t, rep, "outage")
}

// checkReport checks the invariants held on both engines, each with its
// orders placed or refused, none in between, and returns the outage's results.
func checkReport(t *testing.T, rep *bench.Report, orders int) []experiment.OutageResult {
	t.Helper()
	checkReportOK(t, rep)
	results := rep.Data.([]experiment.OutageResult)
	for _, r := range results {
		if r.Accepted+r.Refused != orders || r.Accepted == 0 {
			t.Errorf("%s: %d orders placed and %d refused, want %d in all", r.Mode, r.Accepted, r.Refused, orders)
		}
		if r.MaxInFlight == 0 || len(r.Samples) < 10 {
			t.Errorf("%s: max in flight %d over %d samples", r.Mode, r.MaxInFlight, len(r.Samples))
		}
	}
	return results
}

// checkReportOK checks the invariants held on both engines.
func checkReportOK(t *testing.T, rep *bench.Report) {
	t.Helper()
	for _, r := range rep.Results {
		if !r.InvariantsOK || r.Errors != 0 {
			t.Errorf("%s: invariants %v, %d errors: %v %s", r.Mode, r.InvariantsOK, r.Errors, r.Violations, r.FirstError)
		}
	}
	if !rep.OK || len(rep.Results) != 2 {
		t.Fatalf("report not OK or not both engines: OK %v, %d results", rep.OK, len(rep.Results))
	}
}

// writeAndValidate writes the report in its three forms and checks each
// chart is well-formed SVG with both engines' lines and the outage shaded.
func writeAndValidate(t *testing.T, rep *bench.Report, stem string) {
	t.Helper()
	dir := t.TempDir()
	var files []string
	for _, name := range []string{stem + ".md", stem + ".html", stem + ".json"} {
		written, err := rep.WriteReport(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, written...)
	}
	svgs := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		switch filepath.Ext(f) {
		case ".svg":
			svgs++
			validateSVG(t, f, string(b))
		case ".json":
			var v map[string]any
			if err := json.Unmarshal(b, &v); err != nil || v["data"] == nil {
				t.Errorf("%s: %v, data %v", f, err, v["data"])
			}
		case ".md":
			for _, want := range []string{"## ", stem + "-", ".svg", "test stack"} {
				if !strings.Contains(string(b), want) {
					t.Errorf("%s lacks %q", f, want)
				}
			}
		}
	}
	openInChromium(t, rep, filepath.Join(dir, stem+".html"))
	if svgs < 2 {
		t.Errorf("%d charts written, want the in-flight and completions charts at least", svgs)
	}
}

func validateSVG(t *testing.T, name, svg string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(svg))
	for {
		if _, err := d.Token(); err != nil {
			if err.Error() != "EOF" {
				t.Errorf("%s: not well-formed XML: %v", name, err)
			}
			break
		}
	}
	if strings.Contains(name, "outage-in-flight") || strings.Contains(name, "outage-completions") {
		for _, want := range []string{`class="shade"`, `data-name="orchestration"`, `data-name="choreography"`} {
			if !strings.Contains(svg, want) {
				t.Errorf("%s lacks %s", name, want)
			}
		}
	}
}

func TestScale(t *testing.T) {
	s := newStack(t)
	eng, cfg := s.engines(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := short(s, "", cfg.Namespace)
	c.Orders, c.Instances, c.Bench.Concurrency = 30, 2, 8
	rep, err := experiment.Run(ctx, eng, "scale", c)
	if err != nil {
		t.Fatal(err)
	}
	steps := rep.Data.([]experiment.ScaleStep)
	if len(steps) != 4 || !rep.OK {
		t.Errorf("%d steps (want 1 and 2 instances on both engines), OK %v", len(steps), rep.OK)
	}
	for _, st := range steps {
		if st.Throughput <= 0 || !st.InvariantsOK {
			t.Errorf("%s with %d: %.1f sagas/s, invariants %v %v", st.Mode, st.Instances, st.Throughput, st.InvariantsOK, st.Violations)
		}
		if st.CPUPerSaga["redis"] <= 0 {
			t.Errorf("%s with %d: Redis CPU per saga %v", st.Mode, st.Instances, st.CPUPerSaga)
		}
	}
	if len(rep.Sections) != 2 || len(rep.Sections[1].Rows) != 2 {
		t.Errorf("want the steps and the capacity model of both engines: %+v", rep.Sections)
	}
	writeAndValidate(t, rep, "scale")
}

func TestSoak(t *testing.T) {
	s := newStack(t)
	eng, cfg := s.engines(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	c := short(s, "", cfg.Namespace)
	c.Outage, c.Retention, c.Interval = 6*time.Second, time.Second, 500*time.Millisecond
	rep, err := experiment.Run(ctx, eng, "soak", c)
	if err != nil {
		t.Fatal(err)
	}
	checkReportOK(t, rep)
	for _, r := range rep.Data.([]experiment.SoakResult) {
		if len(r.Samples) < 5 || r.Samples[0].RedisBytes <= 0 {
			t.Fatalf("%s: %d samples, the first %+v", r.Mode, len(r.Samples), r.Samples)
		}
		if last := r.Samples[len(r.Samples)-1]; last.Ended == 0 {
			t.Errorf("%s: no order counted ended at the last sample %+v", r.Mode, last)
		}
		if r.Mode == shop.ModeChoreography && slicesMax(r.Samples) == 0 {
			t.Errorf("choreography: no stream entries seen over the soak")
		}
		checkPerOrder(t, r)
	}
	if rows := rep.Sections[0].Rows; len(rows) != 2 || len(rows[0]) != len(rep.Sections[0].Header) {
		t.Errorf("soak table: %d rows of %d cells under %d headers", len(rows), len(rows[0]), len(rep.Sections[0].Header))
	}
	writeAndValidate(t, rep, "soak")
}

func slicesMax(ss []experiment.SoakSample) int64 {
	var m int64
	for _, s := range ss {
		m = max(m, s.StreamEntries)
	}
	return m
}

// checkPerOrder checks the soak measured what an order in flight and a
// retained order hold in Redis: above zero, below a MiB.
func checkPerOrder(t *testing.T, r experiment.SoakResult) {
	t.Helper()
	const mib = 1 << 20
	if r.Probe.Orders == 0 || r.Probe.Reached == 0 {
		t.Errorf("%s: in-flight probe placed %d orders, %d seen waiting for payment: %+v", r.Mode, r.Probe.Orders, r.Probe.Reached, r.Probe)
	}
	if r.PerInFlight <= 0 || r.PerInFlight >= mib {
		t.Errorf("%s: %.0f bytes per in-flight order, want above 0 and below a MiB (probe %+v)", r.Mode, r.PerInFlight, r.Probe)
	}
	if r.PerRetained <= 0 || r.PerRetained >= mib {
		t.Errorf("%s: %.0f bytes per retained order, want above 0 and below a MiB (samples %+v)", r.Mode, r.PerRetained, r.Samples)
	}
	t.Logf("%s: %.0f bytes per in-flight order (%d orders, %d waiting for payment), %.0f per retained order",
		r.Mode, r.PerInFlight, r.Probe.Orders, r.Probe.Reached, r.PerRetained)
}

// TestScalePartitions: scale against 1 and 3 partitions on a three-master
// Redis Cluster measures both engines at each, with their invariants, Redis's
// CPU master by master, and records the stack's own P again at the end, so
// that a worker of that P starts; a bad list is refused before anything
// changes.
func TestScalePartitions(t *testing.T) {
	cluster := testenv.StartRedisCluster(t, testenv.ClusterOptions{Masters: 3})
	tsrv := testenv.StartTemporal(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg := &config.Config{RedisClusterURL: cluster.URL(), TemporalAddress: tsrv.Address, Namespace: tsrv.Namespace,
		Partitions: keyspace.DefaultPartitions, ConnectTimeout: 5 * time.Second}
	eng, err := admin.Open(ctx, cfg, shop.Modes, admin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	c := experiment.Config{Seed: 3, Rate: 10, Outage: time.Second, Drain: time.Minute, Instances: 1, Orders: 30, Namespace: cfg.Namespace,
		Bench: bench.Config{Concurrency: 8, Reset: true, Force: true, Command: "starter experiment scale --partition-steps 1,3", Stack: "test stack"}}
	for _, bad := range []struct {
		name       string
		partitions []int
		want       string
	}{
		{"scale", []int{1, 3, 1}, "lists 1 twice"},
		{"scale", []int{0}, "from 1 to"},
		{"scale", []int{keyspace.MaxPartitions + 1}, "from 1 to"},
		{"outage", []int{3}, "scale only"},
	} {
		bc := c
		bc.Partitions = bad.partitions
		if _, err := experiment.Run(ctx, eng, bad.name, bc); err == nil || !strings.Contains(err.Error(), bad.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s %v: %v, want one line with %q", bad.name, bad.partitions, err, bad.want)
		}
	}
	c.Partitions = []int{1, 3}
	rep, err := experiment.Run(ctx, eng, "scale", c)
	if err != nil {
		t.Fatal(err)
	}
	steps := rep.Data.([]experiment.ScaleStep)
	if len(steps) != 4 || !rep.OK || len(rep.Results) != 2 {
		t.Errorf("%d steps (want P 1 and 3 on both engines), OK %v, %d results", len(steps), rep.OK, len(rep.Results))
	}
	for i, st := range steps {
		if want := c.Partitions[i%2]; st.Partitions != want || st.Instances != 1 {
			t.Errorf("step %d: %s at P %d with %d instances, want P %d with 1", i, st.Mode, st.Partitions, st.Instances, want)
		}
		if st.Throughput <= 0 || !st.InvariantsOK || len(st.MasterCPU) != 3 {
			t.Errorf("%s at P %d: %.1f sagas/s, invariants %v %v, Redis CPU by master %v", st.Mode, st.Partitions, st.Throughput, st.InvariantsOK, st.Violations, st.MasterCPU)
		}
		t.Logf("%s at P %d: %.1f sagas/s, p99 %.0f ms, Redis CPU ms/saga by master %v", st.Mode, st.Partitions, st.Throughput, st.P99, st.MasterCPU)
	}
	// The choreography's streams and orders are in one slot at P 1, spread
	// over the three masters at 3: its busiest master does less of the work.
	if len(steps) == 4 {
		if one, three := busiest(steps[2]), busiest(steps[3]); one <= three {
			t.Errorf("choreography: busiest master's share of Redis's CPU %.2f at P 1, %.2f at P 3; want it smaller at 3", one, three)
		}
	}
	if sec := rep.Sections[0]; len(rep.Sections) != 1 || !strings.Contains(sec.Title, "partitions") || len(sec.Rows) != 4 || len(sec.Rows[0]) != len(sec.Header) {
		t.Errorf("want one table of the 4 steps: %+v", rep.Sections)
	}
	own, err := eng.Partitions(ctx)
	if err != nil || own[shop.ModeOrchestration] != keyspace.DefaultPartitions || own[shop.ModeChoreography] != keyspace.DefaultPartitions {
		t.Fatalf("partitions after the experiment: %v, %v; want the stack's own %d", own, err, keyspace.DefaultPartitions)
	}
	for _, m := range shop.Modes {
		if _, err := (admin.Setup{Catalog: eng.Catalog, Partitions: keyspace.DefaultPartitions}).Prepare(ctx, eng.Redis, m); err != nil {
			t.Errorf("a %s worker of the stack's P after the experiment: %v", m, err)
		}
	}
	writeAndValidate(t, rep, "scale-partitions")
}

// busiest is the busiest master's share of Redis's CPU time in a step.
func busiest(st experiment.ScaleStep) float64 {
	var sum, most float64
	for _, v := range st.MasterCPU {
		sum, most = sum+v, max(most, v)
	}
	if sum == 0 {
		return 0
	}
	return most / sum
}
