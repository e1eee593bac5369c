package main

import (
	"regexp"
	"strings"
	"testing"
)

// TestRepairChoreography: the same on the choreography: FAILED, reported by
// verify, repaired to COMPENSATED, no longer reported; a second repair
// reports the first one's outcome.
func TestRepairChoreography(t *testing.T) {
	s := servers(t)
	id := newID("repair")
	r := s.run(t, "order", "--mode", "choreography", "--id", id, "--fail", "shipping", "--fail", "refund:decline")
	wantCode(t, r, 3)
	wantOneLine(t, r, "order "+id+" ended FAILED on choreography")
	if !regexp.MustCompile(`(?m)^choreography\s+FAILED\s+inventory,fraud,payment\s+inventory\s`).MatchString(r.stdout) {
		t.Fatalf("want the order FAILED:\n%s", r)
	}
	r = s.run(t, "status", id, "--mode", "choreography")
	wantCode(t, r, 3)
	r = s.run(t, "status", id, "--mode", "choreography", "--watch", "--json")
	wantCode(t, r, 3)
	r = s.run(t, "verify", "--mode", "choreography")
	if r.code != 1 || !strings.Contains(r.stdout+r.stderr, "order "+id+" FAILED") {
		t.Fatalf("want verify to report %s FAILED:\n%s", id, r)
	}
	r = s.must(t, "repair", id, "--mode", "choreography")
	if !regexp.MustCompile(`(?m)^choreography\s+COMPENSATED\s+inventory,fraud,payment\s+inventory,payment\s`).MatchString(r.stdout) {
		t.Fatalf("want the order COMPENSATED after the repair:\n%s", r)
	}
	r = s.run(t, "verify", "--mode", "choreography")
	if strings.Contains(r.stdout+r.stderr, id) {
		t.Fatalf("verify still reports the repaired order:\n%s", r)
	}
	// A second repair finds the work done: it says so and exits 0.
	r = s.must(t, "repair", id, "--mode", "choreography")
	if !strings.Contains(r.stdout, "choreography: the order was repaired already") || !regexp.MustCompile(`(?m)^choreography\s+COMPENSATED\s`).MatchString(r.stdout) {
		t.Fatalf("want the second repair to report the first one's outcome:\n%s", r)
	}
}
