package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/internal/platform/poll"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/internal/testkit/teststack"
)

// TestServeUsageErrors: a bad address or a stray argument exits 2 with one
// line, before connecting to anything.
func TestServeUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "--addr", "localhost"},
		{"serve", "--addr", ""},
		{"serve", "now"},
		{"serve", "--port", "8080"},
		{"serve", "--allowed-host", "shop.example:8080"},
		{"serve", "--allowed-host", "http://shop.example"},
	} {
		r := starter(t, append([]string{"--redis-url", "redis://127.0.0.1:1/0"}, args...)...)
		wantCode(t, r, 2)
		if strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || r.stdout != "" {
			t.Errorf("want one line on stderr:\n%s", r)
		}
	}
}

// TestServeUnreachable: with no server to show, serve says which and exits 1.
func TestServeUnreachable(t *testing.T) {
	r := starter(t, "--redis-url", "redis://127.0.0.1:1/0", "serve", "--addr", "127.0.0.1:0")
	wantCode(t, r, 1)
	wantOneLine(t, r, "redis at 127.0.0.1:1 is unreachable")
}

// TestServe: serve shows the page on the address it prints, refuses a busy
// port, and stops cleanly on interrupt.
func TestServe(t *testing.T) {
	s := servers(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr testenv.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append(s.globals(), "serve", "--addr", "127.0.0.1:0", "--allowed-host", "shop.example", "--allowed-host", "10.0.0.9"), &stdout, &stderr)
	}()
	addr := regexp.MustCompile(`serving the live page on (http://127\.0\.0\.1:\d+)`)
	var base string
	teststack.Eventually(t, 30*time.Second, 20*time.Millisecond, func() error {
		if m := addr.FindStringSubmatch(stdout.String()); m != nil {
			base = m[1]
			return nil
		}
		return fmt.Errorf("serve printed no address; stdout %q, stderr %q", stdout.String(), stderr.String())
	})
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`id="engine-orchestration"`, `id="engine-choreography"`, `<form id="place"`, `data-service="inventory"`} {
		if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(want)) {
			t.Fatalf("GET / = %d, lacks %q", resp.StatusCode, want)
		}
	}

	// The page answers to the allowed hosts, never to another name.
	for host, want := range map[string]int{"shop.example": http.StatusOK, "10.0.0.9:80": http.StatusOK, "rebind.example": http.StatusForbidden} {
		req, _ := http.NewRequest(http.MethodGet, base+"/", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET / with Host %s = %d, want %d", host, resp.StatusCode, want)
		}
	}

	// The port is taken now: a second serve on it says so.
	r := s.run(t, "serve", "--addr", strings.TrimPrefix(base, "http://"))
	wantCode(t, r, 1)
	wantOneLine(t, r, "listen on "+strings.TrimPrefix(base, "http://"))

	cancel()
	select {
	case code := <-done:
		if code != 0 || stderr.String() != "" {
			t.Fatalf("serve ended with %d, stderr %q", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop on interrupt")
	}
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), time.Second); err == nil {
		t.Fatal("the page still listens after serve stopped")
	}
}

// TestServePartitions: serve lays out a fresh Redis with --partitions and,
// like every other command, refuses a Redis laid out with another number.
func TestServePartitions(t *testing.T) {
	s := servers(t)
	fresh := testenv.StartRedis(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr testenv.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append(stackFlags(fresh.URL(), s.temporal.Address), "--partitions", "3", "serve", "--addr", "127.0.0.1:0"), &stdout, &stderr)
	}()
	if err := poll.For(ctx, 60*time.Second, poll.Every(20*time.Millisecond), func(context.Context) (bool, error) {
		return strings.Contains(stdout.String(), "serving the live page"), nil
	}); err != nil {
		t.Fatalf("serve did not start: stdout %q, stderr %q", stdout.String(), stderr.String())
	}
	for _, prefix := range []string{activities.OrchestrationPrefix, activities.ChoreographyPrefix} {
		lay, err := activities.EnsurePartitions(ctx, fresh.Client(), prefix, 0)
		if err != nil || lay.Partitions != 3 {
			t.Errorf("serve --partitions 3 laid out %s with %d partitions (%v), want 3", prefix, lay.Partitions, err)
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve ended with %d, stderr %q", code, stderr.String())
	}

	// The shared stack is laid out with another number: serve refuses it.
	r := s.run(t, "--partitions", "3", "serve", "--addr", "127.0.0.1:0")
	wantCode(t, r, 1)
	wantOneLine(t, r, "configured with 3")
}
