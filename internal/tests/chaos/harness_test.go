// Package chaos_test runs each engine through a few hundred orders while
// processes are killed, servers restarted, events duplicated and poison
// injected, then checks with verify that nothing was lost or done twice.
package chaos_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/shop"
)

// workerBin is the worker binary the tests run as separate processes.
var workerBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ordersaga-chaos-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	workerBin = filepath.Join(dir, "worker")
	build := exec.Command("go", "build", "-o", workerBin, "./worker")
	build.Dir = testenv.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build worker: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a child process the test can kill and start again.
type proc struct {
	t    *testing.T
	name string
	bin  string
	args []string
	env  []string
	log  *bytes.Buffer
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

func newProc(t *testing.T, name, bin string, env []string, args ...string) *proc {
	p := &proc{t: t, name: name, bin: bin, args: args, env: env, log: &bytes.Buffer{}}
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("--- log of %s (last 4 KiB):\n%s", name, tail(p.output(), 4096))
		}
	})
	return p
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(b)
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

func (p *proc) start() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	w := lockedWriter{&p.mu, p.log}
	cmd.Stdout, cmd.Stderr = w, w
	testenv.DieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("start %s: %v", p.name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	p.cmd, p.done = cmd, done
}

// kill sends SIGKILL and waits for the process to go.
func (p *proc) kill() { p.signal(syscall.SIGKILL) }

// stop sends SIGTERM, as a deployment does, and waits for the process to
// drain and go.
func (p *proc) stop() { p.signal(syscall.SIGTERM) }

func (p *proc) signal(sig syscall.Signal) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	<-done
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// workload is a seeded mix of orders and faults, the same for both engines.
func workload(seed uint64, n int, prefix string) []shop.Order {
	r := rand.New(rand.NewPCG(seed, seed^0x5a6a))
	skus := []string{"book", "mug", "lamp", "pen"}
	orders := make([]shop.Order, n)
	for i := range orders {
		o := shop.Order{ID: fmt.Sprintf("%s-%d", prefix, i), Customer: "chaos"}
		for _, j := range r.Perm(len(skus))[:1+r.IntN(2)] {
			o.Items = append(o.Items, shop.Item{SKU: skus[j], Quantity: 1 + r.IntN(3)})
		}
		plan := shop.FaultPlan{}
		switch x := r.Float64(); {
		case x < 0.10:
			plan[shop.OpCharge] = shop.Fault{Kind: shop.FaultDecline}
		case x < 0.15:
			plan[shop.OpSchedule] = shop.Fault{Kind: shop.FaultDecline}
		case x < 0.25:
			plan[shop.OpCharge] = shop.Fault{Kind: shop.FaultTransient, Attempts: 2}
		case x < 0.30:
			plan[shop.OpReserve] = shop.Fault{Kind: shop.FaultTransient, Attempts: 1}
		case x < 0.35:
			plan[shop.OpSchedule] = shop.Fault{Kind: shop.FaultDelay, Delay: 20 * time.Millisecond}
		case x < 0.38:
			plan[shop.OpSchedule] = shop.Fault{Kind: shop.FaultDecline}
			plan[shop.OpRefund] = shop.Fault{Kind: shop.FaultTransient, Attempts: 2}
		}
		if len(plan) > 0 {
			o.Faults = plan
		}
		orders[i] = o
	}
	return orders
}

// runner places orders with a few in flight, retrying through outages: a
// Place that fails may still have happened, so a retry that finds the order
// already placed counts as placed.
type runner struct {
	engine   shop.Engine
	placed   atomic.Int64
	placedID sync.Map // order ID -> struct{}
	outcomes sync.Map // order ID -> shop.Outcome
	retries  atomic.Int64
	// placeFailures counts the Place calls that failed (and were retried).
	placeFailures atomic.Int64
	// settledUnseen counts the orders settled before their wait read them.
	settledUnseen atomic.Int64
}

func (r *runner) run(ctx context.Context, t *testing.T, orders []shop.Order, concurrency int) {
	t.Helper()
	ch := make(chan shop.Order)
	var wg sync.WaitGroup
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := range ch {
				if err := r.place(ctx, o); err != nil {
					t.Errorf("place %s: %v", o.ID, err)
					continue
				}
				r.placedID.Store(o.ID, struct{}{})
				r.placed.Add(1)
				out, err := r.wait(ctx, o.ID)
				if err != nil {
					t.Errorf("wait %s: %v", o.ID, err)
					continue
				}
				if out.Status != "" {
					r.outcomes.Store(o.ID, out)
				}
			}
		}()
	}
	for _, o := range orders {
		ch <- o
	}
	close(ch)
	wg.Wait()
}

func (r *runner) place(ctx context.Context, o shop.Order) error {
	tried := false
	for {
		err := r.engine.Place(ctx, o)
		if err == nil || (tried && errors.Is(err, shop.ErrDuplicateOrder)) {
			return nil
		}
		if errors.Is(err, shop.ErrDuplicateOrder) || errors.Is(err, shop.ErrInvalidOrder) || ctx.Err() != nil {
			return err
		}
		tried = true
		r.placeFailures.Add(1)
		r.retries.Add(1)
		time.Sleep(100 * time.Millisecond)
	}
}

func (r *runner) wait(ctx context.Context, id string) (shop.Outcome, error) {
	for {
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		out, err := r.engine.Wait(wctx, id)
		cancel()
		switch {
		case err == nil:
			return out, nil
		case errors.Is(err, shop.ErrSettled):
			// It ended and was settled before this wait read it (the
			// choreography runs settle orders 300ms after placement): its
			// outcome is only in the settled totals verify reads.
			r.settledUnseen.Add(1)
			return shop.Outcome{OrderID: id}, nil
		case errors.Is(err, shop.ErrUnknownOrder):
			return out, fmt.Errorf("placed, then unknown (an acknowledged write lost?): %w", err)
		case ctx.Err() != nil:
			return out, err
		}
		r.retries.Add(1)
		time.Sleep(100 * time.Millisecond)
	}
}

// counts returns the outcomes per status.
func (r *runner) counts() map[shop.Status]int {
	c := map[shop.Status]int{}
	r.outcomes.Range(func(_, v any) bool {
		c[v.(shop.Outcome).Status]++
		return true
	})
	return c
}

// whenPlaced runs f once the order has been placed.
func whenPlaced(ctx context.Context, r *runner, id string, f func()) {
	for {
		if _, ok := r.placedID.Load(id); ok {
			f()
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// at runs f once n orders have been placed.
func at(ctx context.Context, r *runner, n int64, f func()) {
	for r.placed.Load() < n {
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
	f()
}

func env(kv ...string) []string {
	var out []string
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, kv[i]+"="+kv[i+1])
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }

func join(ss ...string) string { return strings.Join(ss, "; ") }

// settledEngine answers every Wait as the choreography does for an order
// settled before the wait read it, and every other one as unknown.
type settledEngine struct {
	shop.Engine
	settled string
}

func (e settledEngine) Wait(_ context.Context, id string) (shop.Outcome, error) {
	if id == e.settled {
		return shop.Outcome{}, fmt.Errorf("order %s: %w: %w", id, shop.ErrUnknownOrder, shop.ErrSettled)
	}
	return shop.Outcome{}, fmt.Errorf("order %s: %w", id, shop.ErrUnknownOrder)
}

// The runner stops waiting for an order settled away, and fails at once
// for an acknowledged order the engine no longer knows, instead of
// retrying either until the run's deadline.
func TestRunnerWaitEndsForSettledAndLostOrders(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r := &runner{engine: settledEngine{settled: "a"}}
	if out, err := r.wait(ctx, "a"); err != nil || out.Status != "" || r.settledUnseen.Load() != 1 {
		t.Errorf("settled order: %+v, %v, %d counted; want no outcome, no error, 1 counted", out, err, r.settledUnseen.Load())
	}
	if _, err := r.wait(ctx, "b"); !errors.Is(err, shop.ErrUnknownOrder) || ctx.Err() != nil {
		t.Errorf("lost order: %v (deadline %v); want ErrUnknownOrder at once", err, ctx.Err())
	}
}
