package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
)

// The functions in this file start servers that are not owned by one test:
// a TestMain (or a sync.Once helper) starts them once for a whole test
// binary and stops them after m.Run. They return errors instead of failing
// a test; an error wrapping ErrMissing means a server binary is not
// installed, which a test turns into MissingErr.

// ErrMissing is wrapped when a server binary is not installed.
var ErrMissing = errors.New("is missing")

// MissingErr skips the test (or fails it under CI=true, see Missing) when
// err wraps ErrMissing, and fails it otherwise.
func MissingErr(tb testing.TB, err error) {
	tb.Helper()
	if errors.Is(err, ErrMissing) {
		if IsCI() {
			tb.Fatalf("%v, and CI=true forbids skipping: run .ci/run or install it", err)
		}
		tb.Skipf("%v; run .ci/run once to install it", err)
	}
	tb.Fatalf("%v", err)
}

// FreePortErr returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePortErr() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// StartTemporalProcess starts a Temporal dev server (headless, in-memory)
// on free ports, with DevServerArgs, as a child process killed if the test
// process dies. The caller stops it with Stop.
func StartTemporalProcess(ctx context.Context) (*TemporalServer, error) {
	c, err := devServerCmd("")
	if err != nil {
		return nil, err
	}
	r, err := c.Launch(ctx)
	if err != nil {
		return nil, fmt.Errorf("start Temporal dev server: %w", err)
	}
	return &TemporalServer{RunningTemporal: r}, nil
}
