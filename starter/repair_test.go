package main

import (
	"regexp"
	"strings"
	"sync"
	"testing"
)

// TestRepairOrchestration: an order whose refund is refused ends FAILED and
// verify reports it; `starter repair` runs the refund again, the order ends
// COMPENSATED and verify no longer reports it. Repairing it again reports
// that repair's outcome; repairing it on an engine that does not know it
// fails with the engine's error.
func TestRepairOrchestration(t *testing.T) {
	s := servers(t)
	id := newID("repair")
	r := s.run(t, "order", "--mode", "orchestration", "--id", id, "--fail", "shipping", "--fail", "refund:decline")
	wantCode(t, r, 3)
	wantOneLine(t, r, "order "+id+" ended FAILED on orchestration")
	if !regexp.MustCompile(`(?m)^orchestration\s+FAILED\s+inventory,fraud,payment\s+inventory\s`).MatchString(r.stdout) {
		t.Fatalf("want the order FAILED:\n%s", r)
	}
	if want := "All FAILED orders: http://localhost:8233/namespaces/default/workflows?query=OrderStatus%3D%22FAILED%22"; !strings.Contains(r.stdout, want) {
		t.Fatalf("want a link to the FAILED orders, %s:\n%s", want, r)
	}
	r = s.run(t, "status", id, "--mode", "orchestration")
	wantCode(t, r, 3)
	r = s.run(t, "status", id, "--mode", "orchestration", "--watch", "--json")
	wantCode(t, r, 3)
	r = s.run(t, "verify", "--mode", "orchestration")
	if r.code != 1 || !strings.Contains(r.stdout+r.stderr, "order "+id+" FAILED") {
		t.Fatalf("want verify to report %s FAILED:\n%s", id, r)
	}

	r = s.must(t, "repair", id, "--mode", "orchestration")
	if !regexp.MustCompile(`(?m)^orchestration\s+COMPENSATED\s+inventory,fraud,payment\s+inventory,payment\s`).MatchString(r.stdout) {
		t.Fatalf("want the order COMPENSATED after the repair:\n%s", r)
	}
	r = s.run(t, "verify", "--mode", "orchestration")
	if strings.Contains(r.stdout+r.stderr, id) {
		t.Fatalf("verify still reports the repaired order:\n%s", r)
	}
	r = s.must(t, "status", id, "--mode", "orchestration")
	if !regexp.MustCompile(`(?m)^orchestration\s+COMPENSATED\s`).MatchString(r.stdout) {
		t.Fatalf("want status COMPENSATED:\n%s", r)
	}

	// A second repair finds the work done: it says so and exits 0.
	r = s.must(t, "repair", id, "--mode", "orchestration")
	if !strings.Contains(r.stdout, "orchestration: the order was repaired already") || !regexp.MustCompile(`(?m)^orchestration\s+COMPENSATED\s`).MatchString(r.stdout) {
		t.Fatalf("want the second repair to report the first one's outcome:\n%s", r)
	}
	r = s.run(t, "repair", id)
	wantCode(t, r, 1)
	if !strings.Contains(r.stdout, "choreography error") || !strings.Contains(r.stderr, "choreography") {
		t.Fatalf("want choreography's error reported:\n%s", r)
	}
	r = s.run(t, "repair")
	wantCode(t, r, 2)
	wantOneLine(t, r, "repair needs an ORDER_ID")
}

// TestRepairUnknownOrder: repairing an order no engine knows fails on each
// engine without a link to a workflow that does not exist.
func TestRepairUnknownOrder(t *testing.T) {
	s := servers(t)
	r := s.run(t, "repair", newID("unknown"))
	wantCode(t, r, 1)
	if !strings.Contains(r.stdout, "orchestration error") || !strings.Contains(r.stdout, "unknown order") {
		t.Fatalf("want orchestration's unknown order reported:\n%s", r)
	}
	if strings.Contains(r.stdout, "Temporal UI:") || strings.Contains(r.stdout, "/workflows/") {
		t.Fatalf("a link to a workflow that does not exist:\n%s", r)
	}
}

// TestRepairConcurrent: three repairs of one FAILED order at once, on both
// engines: each engine runs the repair once; on choreography the other two
// runs say that a repair was running (or had ended the order), on
// orchestration they are the same repair update (one ID per FAILED round)
// and get its result; all show its outcome and exit 0.
func TestRepairConcurrent(t *testing.T) {
	s := servers(t)
	id := newID("repair3")
	r := s.run(t, "order", "--id", id, "--fail", "shipping", "--fail", "refund:decline")
	wantCode(t, r, 3)
	if n := len(regexp.MustCompile(`(?m)^(orchestration|choreography)\s+FAILED\s`).FindAllString(r.stdout, -1)); n != 2 {
		t.Fatalf("want the order FAILED on both engines:\n%s", r)
	}
	var wg sync.WaitGroup
	results := make([]result, 3)
	start := make(chan struct{})
	for i := range results {
		wg.Go(func() {
			<-start
			results[i] = starter(t, append(s.globals(), "repair", id)...)
		})
	}
	close(start)
	wg.Wait()
	noted := map[string]int{}
	for _, r := range results {
		if r.code != 0 || r.stderr != "" {
			t.Errorf("want exit 0 and an empty stderr:\n%s", r)
		}
		for _, mode := range []string{"orchestration", "choreography"} {
			if !regexp.MustCompile(`(?m)^` + mode + `\s+COMPENSATED\s+inventory,fraud,payment\s+inventory,payment\s`).MatchString(r.stdout) {
				t.Errorf("want %s COMPENSATED:\n%s", mode, r)
			}
			if regexp.MustCompile(`(?m)^` + mode + `: (another repair of the order was running|the order was repaired already)`).MatchString(r.stdout) {
				noted[mode]++
			}
		}
	}
	if noted["orchestration"] > 2 || noted["choreography"] != 2 {
		t.Errorf("runs that found another repair: %v, want 2 on choreography and at most 2 on orchestration", noted)
	}
	// Each engine ran the refund of the repair once.
	h := s.must(t, "history", id, "--json")
	if n := strings.Count(h.stdout, `"RepairRequested"`); n != 1 {
		t.Errorf("choreography: %d repair requests, want 1:\n%s", n, h.stdout)
	}
	if n := strings.Count(h.stdout, `"WorkflowExecutionUpdateAccepted"`); n != 1 {
		t.Errorf("orchestration: %d repairs accepted, want 1:\n%s", n, h.stdout)
	}
}
