package poll_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ordersaga/ordersaga/internal/platform/poll"
)

func TestUntilHolds(t *testing.T) {
	calls := 0
	err := poll.Until(context.Background(), poll.Backoff{Min: time.Millisecond, Max: 4 * time.Millisecond}, func(context.Context) (bool, error) {
		calls++
		return calls == 5, nil
	})
	if err != nil || calls != 5 {
		t.Fatalf("err %v after %d calls, want nil after 5", err, calls)
	}
}

func TestUntilStopsOnError(t *testing.T) {
	boom := errors.New("boom")
	calls := 0
	err := poll.Until(context.Background(), poll.Every(time.Millisecond), func(context.Context) (bool, error) {
		calls++
		return false, boom
	})
	if !errors.Is(err, boom) || calls != 1 {
		t.Fatalf("err %v after %d calls, want boom after 1", err, calls)
	}
}

func TestForGivesUp(t *testing.T) {
	err := poll.For(context.Background(), 20*time.Millisecond, poll.Every(time.Millisecond), func(context.Context) (bool, error) {
		return false, nil
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want a deadline", err)
	}
}

func TestSleepCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := poll.Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want canceled", err)
	}
}
