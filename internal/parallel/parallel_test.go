package parallel_test

import (
	"errors"
	"sync/atomic"
	"testing"

	"github.com/ordersaga/ordersaga/internal/parallel"
)

func TestDo(t *testing.T) {
	var running, peak, sum atomic.Int64
	err := parallel.Do(100, 4, func(i int) error {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		sum.Add(int64(i))
		running.Add(-1)
		return nil
	})
	if err != nil || sum.Load() != 4950 || peak.Load() > 4 {
		t.Fatalf("err %v, sum %d, peak %d", err, sum.Load(), peak.Load())
	}
	boom := errors.New("boom")
	if err := parallel.Do(10, 3, func(i int) error {
		if i == 7 {
			return boom
		}
		return nil
	}); !errors.Is(err, boom) {
		t.Fatalf("err %v, want boom", err)
	}
	if err := parallel.Do(0, 0, func(int) error { return boom }); err != nil {
		t.Fatalf("no work gave %v", err)
	}
}
