package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/choreography/stream"
)

// TestFraudCheckCommand: `starter fraud-check` shows the plan of new
// orders, on and off switch it, on is refused with one line while a
// payment consumer of an older build runs, and anything else is a usage
// error.
func TestFraudCheckCommand(t *testing.T) {
	s := servers(t)
	ctx := context.Background()
	before := s.must(t, "fraud-check").stdout
	t.Cleanup(func() {
		if strings.HasPrefix(before, "fraud check: on") {
			s.must(t, "fraud-check", "on")
		} else {
			s.must(t, "fraud-check", "off")
		}
	})
	if out := s.must(t, "fraud-check", "off").stdout; out != "fraud check: off (new orders take inventory → payment → shipping)\n" {
		t.Fatalf("fraud-check off: %q", out)
	}
	if out := s.must(t, "fraud-check").stdout; !strings.HasPrefix(out, "fraud check: off") {
		t.Fatalf("fraud-check after off: %q", out)
	}
	if out := s.must(t, "fraud-check", "on").stdout; out != "fraud check: on (new orders take inventory → fraud → payment → shipping)\n" {
		t.Fatalf("fraud-check on: %q", out)
	}
	s.must(t, "fraud-check", "off")

	// A payment consumer of a build that does not read the check's events.
	st := s.node.Bus.StreamOf(0, choreography.ServiceInventory)
	if err := s.rdb.XGroupCreateConsumer(ctx, st, choreography.ServicePayment, "payment-old").Err(); err != nil {
		t.Fatal(err)
	}
	key := stream.PresenceKey(st, choreography.ServicePayment, "payment-old")
	if err := s.rdb.Set(ctx, key, "host old pid 1 #x", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	r := s.run(t, "fraud-check", "on")
	wantCode(t, r, 1)
	wantOneLine(t, r, "fraud-check on", "payment/payment-old", "upgrade them first")
	if out := s.must(t, "fraud-check").stdout; !strings.HasPrefix(out, "fraud check: off") {
		t.Fatalf("fraud-check after a refused on: %q", out)
	}
	s.rdb.Del(ctx, key)
	s.rdb.XGroupDelConsumer(ctx, st, choreography.ServicePayment, "payment-old")

	wantCode(t, s.run(t, "fraud-check", "maybe"), 2)
	wantCode(t, s.run(t, "fraud-check", "on", "off"), 2)
}
