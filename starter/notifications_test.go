package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ordersaga/ordersaga/internal/app/render"
	"github.com/ordersaga/ordersaga/internal/testkit/teststack"
	"github.com/ordersaga/ordersaga/shop"
)

// TestNotifications: an order that ends is listed once per engine by
// `starter notifications`, with its outcome; one placed with --fail notify
// ends the same and is not listed.
func TestNotifications(t *testing.T) {
	s := servers(t)
	told, quiet := newID("told"), newID("quiet")
	s.must(t, "order", "--id", told, "--fail", "payment")
	s.must(t, "order", "--id", quiet, "--fail", "payment", "--fail", "notify")
	teststack.Eventually(t, 20*time.Second, 100*time.Millisecond, func() error {
		var doc struct {
			Notifications []render.NotificationRow `json:"notifications"`
		}
		decodeOne(t, s.must(t, "notifications", "--limit", "0", "-o", "json"), &doc)
		seen := map[string]int{}
		for _, n := range doc.Notifications {
			if n.OrderID == quiet || n.OrderID == told && n.Status != shop.StatusCompensated {
				t.Fatalf("unexpected notification %+v", n)
			}
			seen[n.OrderID+" "+string(n.Mode)]++
		}
		for _, m := range []shop.Mode{shop.ModeOrchestration, shop.ModeChoreography} {
			if seen[told+" "+string(m)] != 1 {
				return fmt.Errorf("%s notified %d times on %s, want once", told, seen[told+" "+string(m)], m)
			}
		}
		return nil
	})
	if out := s.must(t, "notifications", "--mode", "choreography").stdout; !strings.Contains(out, told) || !strings.Contains(out, "COMPENSATED") {
		t.Fatalf("the table lacks %s:\n%s", told, out)
	}
	wantCode(t, s.run(t, "notifications", "extra"), 2)
}
