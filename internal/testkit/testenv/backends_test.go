package testenv

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestBackendsAcceptSearchAttributeQuery starts each Temporal backend the
// way the orchestration tests do and checks that the project's search
// attributes are registered: the temporal CLI's list query on OrderStatus
// is accepted.
func TestBackendsAcceptSearchAttributeQuery(t *testing.T) {
	for _, backend := range TemporalBackends {
		t.Run(backend, func(t *testing.T) {
			srv := StartTemporalBackend(t, backend)
			cli, err := TemporalBinary()
			if err != nil {
				Missing(t, "the Temporal CLI (.bin/temporal)")
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			out, err := exec.CommandContext(ctx, cli, "workflow", "list", "--address", srv.Address,
				"--namespace", srv.Namespace, "--query", SearchAttributeQuery).CombinedOutput()
			if err != nil {
				t.Fatalf("temporal workflow list --query '%s': %v\n%s", SearchAttributeQuery, err, out)
			}
			out, err = exec.CommandContext(ctx, cli, "workflow", "list", "--address", srv.Address,
				"--namespace", srv.Namespace, "--query", `NoSuchAttribute="x"`).CombinedOutput()
			if err == nil || !strings.Contains(string(out), "NoSuchAttribute") {
				t.Errorf("an unregistered attribute is accepted too (%v: %s): the check proves nothing", err, out)
			}
		})
	}
}
