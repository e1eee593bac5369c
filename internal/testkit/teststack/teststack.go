// Package teststack holds what tests of several packages share above the
// servers of testenv: waiting for a condition (Eventually, on poll's loop),
// for an orchestration step (WaitRunning), and both engines running in
// process (StartEngines).
package teststack

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/internal/platform/poll"
	"github.com/ordersaga/ordersaga/shop"
	"github.com/ordersaga/ordersaga/workflows"
)

// Eventually calls cond every pause (poll's loop) until it returns nil,
// and fails tb when it has not within `within`. cond's error says what has
// not happened yet and what it saw; the last one is the failure's message,
// word for word. cond may fail tb itself on an error waiting cannot mend.
func Eventually(tb testing.TB, within, every time.Duration, cond func() error) {
	tb.Helper()
	var last error
	err := poll.For(context.Background(), within, poll.Every(every), func(context.Context) (bool, error) {
		last = cond()
		return last == nil, nil
	})
	if err != nil {
		tb.Fatal(last)
	}
}

// WaitRunning waits up to 30 s until e's status of the order says op runs;
// it fails tb at once when the order ends before.
func WaitRunning(tb testing.TB, e *workflows.Engine, orderID string, op shop.Op) {
	tb.Helper()
	Eventually(tb, 30*time.Second, 50*time.Millisecond, func() error {
		p, err := e.Status(context.Background(), orderID)
		if err == nil && p.Current == op {
			return nil
		}
		if err == nil && p.Status.Terminal() {
			tb.Fatalf("order ended before %s ran: %+v", op, p)
		}
		return fmt.Errorf("%s of order %s never ran: last status %+v, %v", op, orderID, p, err)
	})
}

// Engines are both engines at work in the test's process on one Redis and
// one Temporal server: the orchestration's worker, and every choreography
// service as consumer <service>-1.
type Engines struct {
	// Temporal is the client the worker polls with.
	Temporal client.Client
	// Node is the choreography node the services run on.
	Node *choreography.Node
	// Catalog is the catalog both run with: shop.DefaultCatalog.
	Catalog shop.Catalog
}

// StartEngines dials the Temporal server at address (namespace), seeds the
// orchestration's stock in rdb and starts its worker, sets up the
// choreography's streams and runs every service, retrying fast (10 ms to
// 100 ms); all stop when the test ends, and a service that fails fails tb.
func StartEngines(tb testing.TB, address, namespace string, rdb redis.UniversalClient) *Engines {
	tb.Helper()
	quiet := slog.New(slog.DiscardHandler)
	e := &Engines{Catalog: shop.DefaultCatalog()}
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	tc, err := client.Dial(client.Options{HostPort: address, Namespace: namespace, Logger: tlog.NewStructuredLogger(quiet)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(tc.Close)
	e.Temporal = tc
	if err := activities.Seed(ctx, rdb, activities.OrchestrationPrefix, e.Catalog); err != nil {
		tb.Fatal(err)
	}
	w := workflows.NewWorker(tc, rdb, e.Catalog, worker.Options{})
	if err := w.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(w.Stop)
	e.Node = choreography.NewNode(rdb, e.Catalog, quiet)
	if err := e.Node.Bus.Setup(ctx); err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	tb.Cleanup(func() { cancel(); wg.Wait() })
	for _, svc := range choreography.Services {
		wg.Go(func() {
			cfg := choreography.ConsumerConfig{Name: svc + "-1", RetryBase: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond}
			if err := e.Node.RunService(ctx, svc, cfg); err != nil {
				tb.Errorf("%s: %v", svc, err)
			}
		})
	}
	return e
}
