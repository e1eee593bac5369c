package web

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ordersaga/ordersaga/internal/platform/config"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
)

// TestOpenAndListen: Open refuses an unreachable Redis; over real servers
// the page is served on the address ListenAndServe reports, a busy address
// is refused, and the page stops when its context ends.
func TestOpenAndListen(t *testing.T) {
	cfg := config.FromEnv()
	cfg.RedisURL = "redis://127.0.0.1:1/0"
	if _, _, err := Open(context.Background(), cfg, nil); err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("Open with no Redis: %v, want unreachable", err)
	}
	ts := testenv.StartTemporal(t)
	cfg.RedisURL, cfg.TemporalAddress, cfg.Namespace = testenv.StartRedis(t).URL(), ts.Address, ts.Namespace
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, closeAll, err := Open(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll()
	sctx, stop := context.WithCancel(ctx)
	addrs, served := make(chan net.Addr, 1), make(chan error, 1)
	go func() { served <- srv.ListenAndServe(sctx, "127.0.0.1:0", func(a net.Addr) { addrs <- a }) }()
	var addr net.Addr
	select {
	case addr = <-addrs:
	case err := <-served:
		t.Fatalf("ListenAndServe: %v", err)
	}
	resp, err := http.Get("http://" + addr.String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Orchestration") {
		t.Errorf("GET /: %d\n%s", resp.StatusCode, body)
	}
	err = srv.ListenAndServe(ctx, addr.String(), func(net.Addr) { t.Error("ready on a busy address") })
	if err == nil || !strings.HasPrefix(err.Error(), "listen on "+addr.String()+": ") {
		t.Errorf("a busy address: %v, want listen on %s: …", err, addr)
	}
	stop()
	if err := <-served; err != nil {
		t.Errorf("after the context ended: %v", err)
	}
}
