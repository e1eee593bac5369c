package testenv_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"regexp"
	"testing"
	"time"

	"github.com/ordersaga/ordersaga/internal/platform/poll"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
)

const panicChildEnv = "ORDERSAGA_TESTENV_PANIC_CHILD"

// TestServersDieWithAPanickingTest: a test binary that dies of a panic
// outside the test's goroutine (as when a test times out), which runs no
// cleanup, leaves no redis-server and no Temporal server behind.
func TestServersDieWithAPanickingTest(t *testing.T) {
	if os.Getenv(panicChildEnv) != "" {
		r := testenv.StartRedis(t)
		tsrv := testenv.StartTemporal(t)
		os.Stdout.WriteString("servers " + r.Addr + " " + tsrv.Address + "\n")
		go func() { panic("a goroutine of the test panics") }()
		select {}
	}
	if _, err := testenv.RedisBinary(); err != nil {
		testenv.MissingErr(t, err)
	}
	if _, err := testenv.TemporalBinary(); err != nil {
		testenv.Missing(t, "the Temporal CLI")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestServersDieWithAPanickingTest$", "-test.count=1")
	cmd.Env = append(os.Environ(), panicChildEnv+"=1")
	testenv.DieWithParent(cmd)
	out, err := cmd.CombinedOutput()
	m := regexp.MustCompile(`servers (\S+) (\S+)`).FindSubmatch(out)
	if err == nil || m == nil {
		t.Fatalf("the panicking test: %v, no server addresses in\n%s", err, out)
	}
	for _, addr := range []string{string(m[1]), string(m[2])} {
		err := poll.For(context.Background(), 10*time.Second, poll.Every(50*time.Millisecond), func(context.Context) (bool, error) {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				return true, nil
			}
			_ = c.Close()
			return false, nil
		})
		if err != nil {
			t.Errorf("a server on %s still answers after its test process panicked", addr)
		}
	}
}
