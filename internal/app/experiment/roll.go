package experiment

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/internal/app/admin"
	"github.com/ordersaga/ordersaga/internal/platform/child"
	"github.com/ordersaga/ordersaga/internal/platform/poll"
	"github.com/ordersaga/ordersaga/shop"
	"github.com/ordersaga/ordersaga/workflows"
)

// buildOf is the build ID of a rollout's orchestration workers in the
// deployment, before the change or after it: one per change and build, so
// that a version is never reused for other code within a run.
func buildOf(c Change, after bool) string {
	if after {
		return "change-" + c.Name + "-after"
	}
	return "change-" + c.Name + "-before"
}

// workerWait bounds a worker process's start (ready) and its stop (drained).
const workerWait = time.Minute

// RollEvent is a moment of a rollout, in seconds since the first placement.
type RollEvent struct {
	At   float64 `json:"t_s"`
	Took float64 `json:"took_s"`
	What string  `json:"what"`
}

// roll is one engine's rollout of a change, as the load's participants:
// Instances worker processes of the old build run the engine, and while
// the load places its orders in Instances+1 waves, the i-th old one is
// replaced once wave i is placed: a worker of the new build starts (for the
// orchestration: becomes the deployment's current version), then the old
// one gets SIGTERM and drains. The last wave is held until every old one is
// gone and the change switched on where it needs a switch.
type roll struct {
	cfg     Config
	c       Change
	eng     *admin.EngineSet
	m       shop.Mode
	n       int // the load's orders
	waves   chan int
	done    chan struct{}
	mu      sync.Mutex
	began   time.Time
	procs   []*child.Proc
	old     [][]*child.Proc // per instance, one per service
	events  []RollEvent
	err     error
	switchT float64 // when the switch began (s), -1 without one
	rolled  float64 // when the rollout ended (s)
	restore func()
}

// services are the processes of one instance of the engine's worker, by
// service, for the old build or the new.
func (r *roll) services(newBuild bool) []string {
	switch {
	case r.m == shop.ModeOrchestration:
		return []string{"orchestration"}
	case newBuild:
		return choreography.Services
	}
	return r.c.OldServices
}

// startWorker starts one worker process of service for instance i.
func (r *roll) startWorker(ctx context.Context, service string, i int, newBuild bool) (*child.Proc, error) {
	bin, gen, build := r.cfg.OldWorker, "old", buildOf(r.c, false)
	if newBuild {
		bin, gen, build = r.cfg.NewWorker, "new", buildOf(r.c, true)
	}
	name := fmt.Sprintf("change-%s-%d", gen, i+1)
	args := []string{"--services", service, "--consumer-name", name, "--metrics-addr=", "--log-level", "info"}
	if service == "orchestration" {
		args = append(args, "--build-id", build, "--set-current", "always")
	} else {
		args = append(args, "--claim-idle", "2s")
	}
	var env []string
	if r.cfg.WorkerEnv != nil {
		env = r.cfg.WorkerEnv(service)
	}
	p, err := child.Start(fmt.Sprintf("%s worker %d (%s)", gen, i+1, service), bin, env, args...)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.procs = append(r.procs, p)
	r.mu.Unlock()
	if err := p.WaitOutput(ctx, "worker running", workerWait); err != nil {
		return nil, err
	}
	if service == "orchestration" {
		return p, r.waitCurrent(ctx, build)
	}
	return p, nil
}

// startInstance starts every process of instance i.
func (r *roll) startInstance(ctx context.Context, i int, newBuild bool) ([]*child.Proc, error) {
	var out []*child.Proc
	for _, svc := range r.services(newBuild) {
		p, err := r.startWorker(ctx, svc, i, newBuild)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// waitCurrent waits until the deployment's current version is build.
func (r *roll) waitCurrent(ctx context.Context, build string) error {
	h := r.eng.Temporal.WorkerDeploymentClient().GetHandle(workflows.DefaultDeploymentName)
	return poll.For(ctx, workerWait, poll.Every(200*time.Millisecond), func(ctx context.Context) (bool, error) {
		d, err := h.Describe(ctx, client.WorkerDeploymentDescribeOptions{})
		cur := d.Info.RoutingConfig.CurrentVersion
		return err == nil && cur != nil && cur.BuildID == build, nil
	})
}

// startRoll starts the old build's workers of engine m (for the
// choreography, on the plan without the fraud check: the old build has no
// fraud service) and the goroutine that replaces them as the waves come.
func startRoll(ctx context.Context, eng *admin.EngineSet, m shop.Mode, cfg Config, c Change, n int) (*roll, error) {
	k := cfg.Instances
	r := &roll{cfg: cfg, c: c, eng: eng, m: m, n: n, waves: make(chan int, k), done: make(chan struct{}), switchT: -1, restore: func() {}}
	if m == shop.ModeChoreography {
		before, err := eng.Choreography.Plan(ctx)
		if err != nil {
			return nil, err
		}
		if err := eng.Choreography.SetFraudCheck(ctx, false); err != nil {
			return nil, err
		}
		r.restore = func() { r.restorePlan(before) }
	}
	for i := range k {
		ps, err := r.startInstance(ctx, i, false)
		if err != nil {
			r.Close()
			return nil, err
		}
		r.old = append(r.old, ps)
	}
	go r.run(ctx)
	return r, nil
}

// restorePlan puts back the plan new orders took before the rollout.
func (r *roll) restorePlan(before []shop.Step) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.eng.Choreography.SetFraudCheck(ctx, len(before) == len(shop.Steps)); err != nil {
		r.cfg.logf("choreography: the plan of new orders could not be put back (%v): run starter fraud-check", err)
	}
}

// Hold is the load's: at the end of wave i it sets off the replacement of
// old instance i, and it holds the last wave until the rollout is done.
func (r *roll) Hold(ctx context.Context, i int) time.Duration {
	k := len(r.old)
	if i == 0 {
		r.mu.Lock()
		r.began = time.Now()
		r.mu.Unlock()
	}
	for w := range k {
		if i == (w+1)*r.n/(k+1) {
			r.waves <- w
		}
	}
	if i != k*r.n/(k+1) {
		return 0
	}
	began := time.Now()
	select {
	case <-r.done:
	case <-ctx.Done():
	}
	return time.Since(began)
}

// run replaces the old instances one by one as their waves end, then
// switches the change on where it needs a switch.
func (r *roll) run(ctx context.Context) {
	defer close(r.done)
	for range r.old {
		var w int
		select {
		case w = <-r.waves:
		case <-ctx.Done():
			r.fail(ctx.Err())
			return
		}
		if err := r.replace(ctx, w); err != nil {
			r.fail(err)
			return
		}
	}
	if r.c.switched && r.m == shop.ModeChoreography {
		at := r.since()
		r.mu.Lock()
		r.switchT = at
		r.mu.Unlock()
		if err := switchFraudCheckOn(ctx, r.eng.Choreography); err != nil {
			r.fail(err)
			return
		}
		r.event(at, "the fraud check switched on (accepted once no old consumer was seen live; the plan cache waited out)")
	}
	rolled := r.since()
	r.mu.Lock()
	r.rolled = rolled
	r.mu.Unlock()
}

// replace starts new instance w and then stops old instance w.
func (r *roll) replace(ctx context.Context, w int) error {
	at := r.since()
	if _, err := r.startInstance(ctx, w, true); err != nil {
		return err
	}
	what := "started, every service consuming"
	if r.m == shop.ModeOrchestration {
		what = "started, its build made the deployment's current version"
	}
	r.event(at, fmt.Sprintf("new worker %d %s", w+1, what))
	at = r.since()
	for _, p := range r.old[w] {
		if err := p.Stop(workerWait); err != nil {
			return fmt.Errorf("stop %s: %w: %s", p.Name, err, p.Tail(1024))
		}
	}
	r.event(at, fmt.Sprintf("old worker %d stopped (SIGTERM, drained)", w+1))
	return nil
}

func (r *roll) since() float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return time.Since(r.began).Seconds()
}

func (r *roll) event(at float64, what string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, RollEvent{At: at, Took: time.Since(r.began).Seconds() - at, What: what})
	r.cfg.logf("%s: %5.1fs %s", r.m, at, what)
}

func (r *roll) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err = err
}

// Stop and Start are not a rollout's: it replaces its workers itself.
func (r *roll) Stop(context.Context, string) error {
	return fmt.Errorf("a rollout stops no participant on its own")
}
func (r *roll) Start(context.Context, string) error {
	return fmt.Errorf("a rollout starts no participant on its own")
}

// Close stops every worker process the rollout started, the new ones
// drained, and puts the plan of new orders back.
func (r *roll) Close() {
	r.mu.Lock()
	procs := r.procs
	r.mu.Unlock()
	for _, p := range procs {
		if err := p.Stop(workerWait); err != nil {
			r.cfg.logf("%s: %v", p.Name, err)
		}
		if out := p.Output(); strings.Contains(out, "panic") {
			r.fail(fmt.Errorf("%s panicked: %s", p.Name, p.Tail(2048)))
		}
	}
	r.restore()
}
