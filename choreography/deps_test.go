package choreography_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
)

// The choreography is the engine without a coordinator: nothing of it, its
// stream package included, may depend on Temporal.
func TestNoTemporalInTheChoreography(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "./choreography/...")
	cmd.Dir = testenv.RepoRoot()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "go.temporal.io/") {
			t.Errorf("the choreography depends on %s", pkg)
		}
	}
}
