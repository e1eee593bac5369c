//go:build docs

package docstest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ordersaga/ordersaga/internal/testenv"
)

// TestDocs runs the commands of README.md and docs/*.md in order against a
// `make up` stack on free ports, as a reader would: each command must
// succeed and print the lines its sample output shows. A command marked
// with a docs-test skip is reported skipped with its reason. `make
// docs-test` runs it; it stops the stack at the end.
func TestDocs(t *testing.T) {
	root := testenv.RepoRoot()
	steps, err := Steps(root)
	if err != nil {
		t.Fatal(err)
	}
	env := stackEnv(t)
	make := func(target string) {
		cmd := exec.Command("make", target)
		cmd.Dir, cmd.Env = root, env
		out, err := cmd.CombinedOutput()
		t.Logf("make %s:\n%s", target, out)
		if err != nil {
			t.Fatalf("make %s: %v", target, err)
		}
	}
	t.Cleanup(func() { make("down") })
	make("up")
	sh := &Shell{Dir: root, Env: env, Timeout: 4 * time.Minute, State: filepath.Join(t.TempDir(), "env")}
	for _, s := range steps {
		t.Run(fmt.Sprintf("%s:%d", s.File, s.Line), func(t *testing.T) {
			if s.Skip != "" {
				t.Skipf("%s: skipped (%s)", s.Command, s.Skip)
			}
			start := time.Now()
			out, err := sh.Run(context.Background(), s)
			t.Logf("$ %s  (%s)\n%s", s.Command, time.Since(start).Round(time.Millisecond), out)
			if err != nil {
				t.Errorf("%s: %v", s.Name(), err)
			}
		})
	}
}

// stackEnv is this process's environment with make up's ports moved to
// free ones (a port taken by the caller's own stack is kept as it is set).
func stackEnv(t *testing.T) []string {
	env := os.Environ()
	for _, p := range []struct {
		name string
		n    int // consecutive ports
	}{
		{"TEMPORAL_PORT", 1}, {"TEMPORAL_UI_PORT", 1}, {"REDIS_PORT", 3},
		{"POSTGRES_PORT", 1}, {"WEB_PORT", 1}, {"METRICS_PORT", 5},
	} {
		if os.Getenv(p.name) == "" {
			env = append(env, fmt.Sprintf("%s=%d", p.name, freePorts(t, p.n)))
		}
	}
	return env
}

// freePorts is the first of n free consecutive ports.
func freePorts(t *testing.T, n int) int {
	for range 50 {
		first := testenv.FreePort(t)
		if first+n > 65535 || first+10000+n > 65535 {
			continue // a cluster node's bus port is its port + 10000
		}
		ok := true
		for p := first + 1; p < first+n && ok; p++ {
			ok = portFree(p)
		}
		if ok {
			return first
		}
	}
	t.Fatalf("no %d free consecutive ports", n)
	return 0
}

func portFree(p int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}
