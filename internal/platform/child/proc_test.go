package child_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ordersaga/ordersaga/internal/platform/child"
)

func TestProcStartsWaitsAndStops(t *testing.T) {
	p, err := child.Start("drains", "sh", []string{"GREETING=ready"},
		"-c", `trap 'echo drained; exit 0' TERM; echo "$GREETING"; while :; do sleep 0.05; done`)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WaitOutput(context.Background(), "ready", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(10 * time.Second); err != nil {
		t.Errorf("a process that drains on SIGTERM: %v", err)
	}
	if !strings.Contains(p.Output(), "drained") {
		t.Errorf("it did not get SIGTERM: %q", p.Output())
	}
}

func TestProcThatExitsFirstIsNamed(t *testing.T) {
	p, err := child.Start("fails", "sh", nil, "-c", "echo bad flag >&2; exit 2")
	if err != nil {
		t.Fatal(err)
	}
	err = p.WaitOutput(context.Background(), "worker running", 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "exited") || !strings.Contains(err.Error(), "bad flag") {
		t.Errorf("want an error naming the exit and the output, got %v", err)
	}
}

func TestProcThatIgnoresSIGTERMIsKilled(t *testing.T) {
	p, err := child.Start("stubborn", "sh", nil, "-c", `trap '' TERM; echo up; while :; do sleep 0.05; done`)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WaitOutput(context.Background(), "up", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(300 * time.Millisecond); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("want it killed after the wait, got %v", err)
	}
	if gone, _ := p.Exited(); !gone {
		t.Error("still running")
	}
}
