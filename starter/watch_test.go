package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestVersionHelpAndCompletion(t *testing.T) {
	r := starter(t, "--version")
	wantCode(t, r, 0)
	if !strings.Contains(r.stdout, "github.com/ordersaga/ordersaga") || !strings.Contains(r.stdout, "revision") || r.stderr != "" {
		t.Fatalf("want the module and its revision on stdout:\n%s", r)
	}
	for _, args := range [][]string{{"help", "order"}, {"order", "--help"}} {
		r := starter(t, args...)
		wantCode(t, r, 0)
		if !strings.HasPrefix(r.stdout, "Usage: starter order") || r.stderr != "" {
			t.Fatalf("want order's help on stdout:\n%s", r)
		}
	}
	for shell, want := range map[string]string{"bash": "complete -o default", "zsh": "#compdef starter", "fish": "complete -c starter"} {
		r := starter(t, "completion", shell)
		wantCode(t, r, 0)
		if !strings.Contains(r.stdout, want) || r.stderr != "" {
			t.Fatalf("completion %s: want %q on stdout:\n%.300s", shell, want, r.stdout)
		}
	}
	// The old --temporal-address still works but is no longer shown.
	if r := starter(t, "--help"); strings.Contains(r.stdout, "temporal-address") {
		t.Fatalf("--temporal-address is shown:\n%s", r)
	}
	// The completion script asks the starter for the modes of --mode.
	r = starter(t, "__complete", "order", "--mode", "")
	if !strings.Contains(r.stdout, "orchestration\nchoreography\nboth\n") {
		t.Fatalf("want the modes offered:\n%s", r)
	}
}

// With the orchestration worker stopped, an order that cannot finish says
// that no worker polls the task queue; with a choreography service stopped,
// which service does not consume. Both finish once the worker is back.
func TestOrderSaysWhyItWaits(t *testing.T) {
	s := servers(t)
	t.Run("orchestration", func(t *testing.T) {
		s.stopWorker()
		defer func() {
			if err := s.startWorker(); err != nil {
				t.Fatal(err)
			}
		}()
		id := newID("noworker")
		r := s.run(t, "order", "--mode", "orchestration", "--timeout", "5s", "--id", id)
		wantCode(t, r, 1)
		wantOneLine(t, r, "no worker polls the task queue ordersaga")
		if !strings.Contains(r.stdout, "why: no worker polls the task queue ordersaga") {
			t.Fatalf("want why on stdout:\n%s", r)
		}
		t.Logf("%s", r.stderr)
		if err := s.startWorker(); err != nil {
			t.Fatal(err)
		}
		followToEnd(t, s, id, []string{"orchestration"})
		s.stopWorker()
	})
	t.Run("choreography", func(t *testing.T) {
		s.stopService("payment")
		defer s.startService("payment")
		id := newID("nopayment")
		r := s.run(t, "order", "--mode", "choreography", "--timeout", "5s", "--id", id, "--json")
		wantCode(t, r, 1)
		wantOneLine(t, r, "the payment service is not consuming")
		t.Logf("%s", r.stderr)
		var out orderJSON
		decodeOne(t, r, &out)
		var why struct {
			Results []struct {
				Why []string `json:"why"`
			} `json:"results"`
		}
		decodeOne(t, r, &why)
		if len(why.Results) != 1 || len(why.Results[0].Why) != 1 || !strings.Contains(why.Results[0].Why[0], "group payment") {
			t.Fatalf("want why in the JSON result:\n%s", r)
		}
		s.startService("payment")
		followToEnd(t, s, id, []string{"choreography"})
	})
}

// status --watch prints the status as it changes until the order is
// terminal everywhere; history --follow prints each entry once.
func TestWatchAndFollow(t *testing.T) {
	s := servers(t)
	id := newID("watch")
	s.must(t, "order", "--no-wait", "--id", id, "--fail", "shipping:delay:1500ms")

	r := s.must(t, "status", id, "--watch")
	tables := strings.Split(strings.TrimSpace(r.stdout), "\n\n")
	if len(tables) < 2 {
		t.Fatalf("want the status drawn more than once:\n%s", r)
	}
	last := tables[len(tables)-1]
	for _, m := range bothModes {
		if !regexp.MustCompile(`(?m)^` + m + `\s+COMPLETED\s+-\s+inventory,fraud,payment,shipping`).MatchString(last) {
			t.Fatalf("want %s COMPLETED last:\n%s", m, r)
		}
	}
	if !regexp.MustCompile(`(?m)^\w+\s+PENDING\s+schedule\s`).MatchString(r.stdout) {
		t.Fatalf("want the delayed shipment seen running:\n%s", r)
	}

	id = newID("follow")
	s.must(t, "order", "--no-wait", "--id", id, "--fail", "payment:delay:1s", "--fail", "shipping")
	start := time.Now()
	r = s.must(t, "history", id, "--follow")
	if time.Since(start) < 900*time.Millisecond {
		t.Fatalf("follow returned before the order could end:\n%s", r)
	}
	for _, re := range []string{`(?m)^MODE\s+AT\s+TIME\s+EVENT`, `(?m)^orchestration\s+\+\S+\s+\S+\s+WorkflowExecutionCompleted\s`,
		`(?m)^choreography\s+\+\S+\s+\S+\s+OrderCompensated\s`, `(?m)^choreography\s+\+\S+\s+\S+\s+PaymentRefunded\s+refund\s+ok`} {
		if !regexp.MustCompile(re).MatchString(r.stdout) {
			t.Fatalf("follow output does not match %s:\n%s", re, r)
		}
	}
	if n := len(regexp.MustCompile(`(?m)^choreography\s+\S+\s+\S+\s+OrderPlaced\s`).FindAllString(r.stdout, -1)); n != 1 {
		t.Fatalf("OrderPlaced printed %d times, want once:\n%s", n, r)
	}

	r = s.must(t, "history", id, "--follow", "--json", "--mode", "choreography")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	var entry struct {
		Mode    string `json:"mode"`
		OrderID string `json:"order_id"`
		Event   struct {
			Name string `json:"name"`
		} `json:"event"`
	}
	for _, l := range lines {
		if err := json.Unmarshal([]byte(l), &entry); err != nil || entry.Mode != "choreography" || entry.OrderID != id {
			t.Fatalf("line %q: %+v, %v", l, entry, err)
		}
	}
	if entry.Event.Name != "OrderCompensated" {
		t.Fatalf("want OrderCompensated last, got %s:\n%s", entry.Event.Name, r)
	}
}

// The tests' helpers reach the test's own servers even when the
// environment names a stack (a Redis Cluster URL wins over --redis-url).
func TestHelpersIgnoreTheStackEnvironment(t *testing.T) {
	s := servers(t)
	t.Setenv("REDIS_CLUSTER_URL", "redis://127.0.0.1:1?addr=127.0.0.1:2")
	t.Setenv("TEMPORAL_ADDRESS", "127.0.0.1:1")
	s.must(t, "stock")
}

// A reset is refused while an order is in flight, and nothing is deleted.
func TestResetRefusedInFlight(t *testing.T) {
	s := servers(t)
	id := newID("inflight")
	s.must(t, "order", "--no-wait", "--mode", "choreography", "--id", id, "--fail", "shipping:delay:1500ms")
	r := s.run(t, "stock", "--reset", "--mode", "choreography")
	wantCode(t, r, 1)
	wantOneLine(t, r, "not resetting choreography", id, "--force")
	followToEnd(t, s, id, []string{"choreography"})
}
