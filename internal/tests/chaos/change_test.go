//go:build rollout

package chaos_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ordersaga/ordersaga/internal/app/admin"
	"github.com/ordersaga/ordersaga/internal/app/bench"
	"github.com/ordersaga/ordersaga/internal/app/experiment"
	"github.com/ordersaga/ordersaga/internal/platform/config"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/shop"
)

// TestChangeRollout rolls each change of the saga out on each engine
// with orders in flight, as `starter experiment change` does: two worker
// processes built from the last commit before the change replaced one by
// one by this tree's (see docs/changing.md). The experiment checks that
// every order ended with every invariant holding, that orders started
// before the change finished on the old path and those placed after the
// rollout took the new one, and that no workflow task failed.
// ROLLOUT_REPORT=DIR also writes each run's report there as
// change-NAME.md.
func TestChangeRollout(t *testing.T) {
	for _, c := range experiment.Changes {
		t.Run(c.Name, func(t *testing.T) {
			began := time.Now()
			old := filepath.Join(testenv.BuildAt(t, c.Before, "./worker"), "worker")
			t.Logf("the worker of %s (before %s) built in %s", c.Before, c.Name, time.Since(began).Round(time.Second))
			rollOut(t, c.Name, old)
		})
	}
}

// rollOut runs the change experiment for change on a stack of its own.
func rollOut(t *testing.T, change, oldWorker string) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	st := startOrchestrationStack(ctx, t, testenv.BackendDev)
	cfg := &config.Config{RedisURL: st.srv.URL(), TemporalAddress: st.tcmd.Address, Namespace: st.tcmd.Namespace, ConnectTimeout: 5 * time.Second}
	eng, err := admin.Open(ctx, cfg, shop.Modes, admin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	rep, err := experiment.Run(ctx, eng, "change", experiment.Config{
		Seed: 29, Rate: 10, Orders: 90, Instances: 2, Change: change, OldWorker: oldWorker, NewWorker: workerBin,
		WorkerEnv: cfg.ServiceEnv, Namespace: cfg.Namespace, Drain: 2 * time.Minute, Log: testLog{t},
		Bench: bench.Config{Command: "TestChangeRollout/" + change, Stack: "the test's own: a Temporal dev server, one redis-server"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv("ROLLOUT_REPORT"); dir != "" {
		if _, err := rep.WriteReport(filepath.Join(dir, "change-"+change+".md")); err != nil {
			t.Error(err)
		}
	}
	for _, r := range rep.Results {
		t.Logf("%s: %v, invariants %v", r.Mode, r.Statuses, r.InvariantsOK)
		for _, v := range r.Violations {
			t.Errorf("%s: %s", r.Mode, v)
		}
	}
	for _, sec := range rep.Sections {
		for _, row := range sec.Rows {
			t.Log(strings.Join(row, " | "))
		}
	}
	if !rep.OK {
		t.Errorf("the rollout of %s did not hold (above)", change)
	}
}

// testLog writes the experiment's lines to the test's log.
type testLog struct{ t *testing.T }

func (l testLog) Write(b []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}
