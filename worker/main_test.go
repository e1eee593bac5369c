package main

import (
	"context"
	"errors"
	"flag"
	"slices"
	"testing"
	"time"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/internal/testenv"
	"github.com/ordersaga/ordersaga/shop"
)

func TestParse(t *testing.T) {
	o, err := parse(nil)
	if err != nil || len(o.services) != 5 {
		t.Fatalf("defaults: %v %v", o, err)
	}
	o, err = parse([]string{"--services", "payment, shipping,payment"})
	if err != nil || !slices.Equal(o.services, []string{"payment", "shipping"}) {
		t.Fatalf("services: %v %v", o.services, err)
	}
	for _, bad := range [][]string{
		{"--services", "billing"},
		{"--services", ""},
		{"--concurrency", "0"},
		{"--nope"},
		{"stray"},
	} {
		if _, err := parse(bad); !errors.Is(err, errUsage) {
			t.Errorf("%v: %v, want a usage error", bad, err)
		}
	}
	if _, err := parse([]string{"--help"}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("--help: %v", err)
	}
}

func TestUnreachableRedisFailsFast(t *testing.T) {
	start := time.Now()
	err := run(context.Background(), []string{"--services", "payment", "--redis-url", "redis://127.0.0.1:1/0"})
	if err == nil || time.Since(start) > 10*time.Second {
		t.Fatalf("err %v after %s", err, time.Since(start))
	}
}

// The choreography services of one worker process run a saga, and stop
// cleanly when their context ends.
func TestRunsServicesAndStops(t *testing.T) {
	srv := testenv.StartRedis(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--services", "order,inventory,payment,shipping", "--redis-url", srv.URL(), "--log-level", "error"})
	}()
	rdb := srv.Client()
	cat := shop.DefaultCatalog()
	node := choreography.NewNode(rdb, cat, nil)
	if err := node.Bus.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	if err := activities.Seed(ctx, rdb, activities.ChoreographyPrefix, cat); err != nil {
		t.Fatal(err)
	}
	eng := choreography.NewEngine(node, cat)
	o := shop.Order{ID: "w1", Items: []shop.Item{{SKU: "pen", Quantity: 2}}}
	if err := eng.Place(ctx, o); err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	out, err := eng.Wait(wctx, o.ID)
	if err != nil || out.Status != shop.StatusCompleted {
		t.Fatalf("order: %v %v", out.Status, err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("worker stopped with %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("worker did not stop")
	}
}
