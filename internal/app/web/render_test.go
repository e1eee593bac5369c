package web

import (
	"testing"

	"github.com/ordersaga/ordersaga/shop"
)

func TestBadgesAndNames(t *testing.T) {
	for s, want := range map[shop.Status]string{
		shop.StatusCompleted: "s-completed", shop.StatusCompensated: "s-compensated", shop.StatusFailed: "s-failed",
		"": "s-none", shop.StatusPending: "s-pending", "ENDED_TIMED_OUT": "s-failed",
	} {
		if got := statusCSS(s); got != want {
			t.Errorf("statusCSS(%q) = %q, want %q", s, got, want)
		}
	}
	if title(shop.ModeOrchestration) != "Orchestration" || title(shop.ModeChoreography) != "Choreography" || title("other") != "other" {
		t.Errorf("titles: %q %q %q", title(shop.ModeOrchestration), title(shop.ModeChoreography), title("other"))
	}
	if engineName(shop.ModeOrchestration) != "Temporal workflow" || engineName(shop.ModeChoreography) != "Redis Streams" || engineName("other") != "" {
		t.Errorf("engines: %q %q %q", engineName(shop.ModeOrchestration), engineName(shop.ModeChoreography), engineName("other"))
	}
}
