package web

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"

	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/shop"
	"github.com/ordersaga/ordersaga/workflows"
)

// liveStack is a whole system for a browser to look at: a redis-server, a
// Temporal dev server, the orchestration worker and the four choreography
// services in process, and the live page on a free port.
type liveStack struct {
	URL   string // the live page
	UIURL string // the Temporal Web UI, when started with it
}

func startLiveStack(t *testing.T, withUI bool) *liveStack {
	t.Helper()
	rdb := testenv.StartRedis(t).Client()
	st := &liveStack{}
	address := startTemporal(t, withUI, st)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	catalog := shop.DefaultCatalog()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })

	tc, err := client.Dial(client.Options{HostPort: address, Namespace: "default", Logger: tlog.NewStructuredLogger(quiet)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	engines, bus, err := Connect(ctx, rdb, tc, catalog, quiet)
	if err != nil {
		t.Fatal(err)
	}
	w := workflows.NewWorker(tc, rdb, catalog, worker.Options{})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	node := choreography.NewNode(rdb, catalog, quiet)
	for _, svc := range choreography.Services {
		wg.Go(func() {
			cfg := choreography.ConsumerConfig{Name: svc + "-1", RetryBase: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond}
			if err := node.RunService(ctx, svc, cfg); err != nil {
				t.Errorf("%s: %v", svc, err)
			}
		})
	}

	srv, err := New(Options{Engines: engines, Bus: bus, Catalog: catalog, WorkflowURL: func(id string) string {
		if st.UIURL == "" {
			return ""
		}
		return st.UIURL + "/namespaces/default/workflows/" + shop.WorkflowID(id)
	}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	st.URL = "http://" + l.Addr().String()
	wg.Go(func() {
		if err := srv.Serve(ctx, l); err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return st
}

// startTemporal starts the dev server, with its Web UI when asked, and
// returns its frontend address.
func startTemporal(t *testing.T, withUI bool, st *liveStack) string {
	t.Helper()
	if !withUI {
		return testenv.StartTemporal(t).Address
	}
	bin, err := testenv.TemporalBinary()
	if err != nil {
		testenv.Missing(t, "the Temporal CLI (.bin/temporal; .ci/run builds it)")
	}
	port, uiPort := testenv.FreePort(t), testenv.FreePort(t)
	address := "127.0.0.1:" + strconv.Itoa(port)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	srv, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath:  bin,
		ClientOptions: &client.Options{HostPort: address, Namespace: "default"},
		EnableUI:      true,
		UIPort:        strconv.Itoa(uiPort),
		LogLevel:      "error",
		ExtraArgs:     testenv.DevServerArgs,
		Stdout:        io.Discard,
		Stderr:        io.Discard,
	})
	if err != nil {
		t.Fatalf("start Temporal dev server with its UI: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	st.UIURL = "http://127.0.0.1:" + strconv.Itoa(uiPort)
	return address
}

// newBrowser starts a headless Chromium with a fresh profile, for the
// test's lifetime. Without Chromium the test skips, or fails under CI=true.
func newBrowser(t *testing.T, width, height int) context.Context {
	return testenv.Chromium(t, width, height)
}
