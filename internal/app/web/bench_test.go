package web

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/shop"
	"github.com/ordersaga/ordersaga/workflows"
)

// BenchmarkChoreographyRefresh measures what one refresh costs the
// choreography's Redis (counts, latest orders, books, consumer groups)
// with few and with many orders recorded: the cost stays flat once there
// are more orders than the status window.
//
//	go test -run '^$' -bench ChoreographyRefresh -benchtime 200x ./internal/app/web
func BenchmarkChoreographyRefresh(b *testing.B) {
	for _, orders := range []int{100, 1_000, 20_000} {
		b.Run(fmt.Sprintf("orders=%d", orders), func(b *testing.B) {
			rdb := testenv.StartRedis(b).Client()
			ctx := context.Background()
			engines, bus, err := Connect(ctx, rdb, nil, shop.DefaultCatalog(), slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			chor := engines[1]
			err = doEach(orders, 16, func(i int) error {
				return chor.Place(ctx, shop.Order{ID: fmt.Sprintf("o-%d", i), Customer: "b", Items: []shop.Item{{SKU: "pen", Quantity: 1}}})
			})
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				ov, err := chor.Overview(ctx, 40)
				if err != nil || ov.Counts.Placed != int64(orders) {
					b.Fatalf("%+v: %v", ov.Counts, err)
				}
				if _, err := chor.Books(ctx); err != nil {
					b.Fatal(err)
				}
				if _, err := bus.Health(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOrchestrationRefresh measures one refresh of the orchestration
// view on a real dev server (counts by execution status, the latest
// workflows, outcomes from the cache, books) with few and more workflows.
// Without the OrderStatus search attribute the view lists orchWindow
// workflows to tell COMPLETED from COMPENSATED.
//
//	go test -run '^$' -bench OrchestrationRefresh -benchtime 100x ./internal/app/web
func BenchmarkOrchestrationRefresh(b *testing.B) {
	for _, orders := range []int{50, 400} {
		b.Run(fmt.Sprintf("orders=%d", orders), func(b *testing.B) {
			rdb := testenv.StartRedis(b).Client()
			tsrv := testenv.StartTemporal(b)
			ctx := context.Background()
			quiet := slog.New(slog.DiscardHandler)
			tc, err := client.Dial(client.Options{HostPort: tsrv.Address, Namespace: "default", Logger: tlog.NewStructuredLogger(quiet)})
			if err != nil {
				b.Fatal(err)
			}
			defer tc.Close()
			engines, _, err := Connect(ctx, rdb, tc, shop.DefaultCatalog(), quiet)
			if err != nil {
				b.Fatal(err)
			}
			w := workflows.NewWorker(tc, rdb, shop.DefaultCatalog(), worker.Options{})
			if err := w.Start(); err != nil {
				b.Fatal(err)
			}
			defer w.Stop()
			orch := engines[0]
			err = doEach(orders, 32, func(i int) error {
				o := shop.Order{ID: fmt.Sprintf("o-%d", i), Customer: "b", Items: []shop.Item{{SKU: "pen", Quantity: 1}}}
				if i%10 == 0 {
					o.Faults = shop.FaultPlan{shop.OpCharge: {Kind: shop.FaultDecline}}
				}
				if err := orch.Place(ctx, o); err != nil {
					return err
				}
				_, err := orch.(*orchestrationView).Wait(ctx, o.ID)
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := orch.Overview(ctx, 40); err != nil {
					b.Fatal(err)
				}
				if _, err := orch.Books(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
