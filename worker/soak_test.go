package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/internal/platform/poll"
	"github.com/ordersaga/ordersaga/shop"
)

// TestSoakMemoryPlateau is the short form of a soak: steady load through
// both engines under a one-second retention window. Redis's keys come back
// to what they were before the load once the window has passed (each
// order's records settled in both engines, streams trimmed), and its memory
// to the plateau plus what the settled-order markers hold. It logs the
// samples and the bytes per retained order.
func TestSoakMemoryPlateau(t *testing.T) {
	b := startBoth(t, "--order-retention", "1s", "--stream-retention", "1s", "--trim-interval", "200ms")
	s := soak{t: t, admin: b.admin, engines: b.engines(), streams: b.node.Bus.Streams()}
	engines := b.engines()

	s.round("warm", 10)
	baseKeys := s.settled()
	base := s.sample("plateau")
	const rounds, perRound = 4, 40
	peak := base
	for r := range rounds {
		s.round(fmt.Sprintf("r%d", r), perRound)
		if m := s.sample(fmt.Sprintf("round %d", r)); m.dataset > peak.dataset {
			peak = m
		}
	}
	if keys := s.settled(); keys != baseKeys {
		t.Errorf("%d keys after the retention window, %d before the load: per-order state left behind", keys, baseKeys)
	}
	end := s.sample("after the window")
	orders := int64(rounds * perRound * len(engines))
	t.Logf("dataset bytes per retained order (both engines, peak over plateau): %d; per settled order (markers): %d",
		(peak.dataset-base.dataset)/int64(perRound*len(engines)), (end.dataset-base.dataset)/orders)
	// Markers are the one per-order trace kept for longer: a few dozen
	// bytes each; 512 is far below what an unsettled order holds.
	if grown := end.dataset - base.dataset; grown > orders*512 {
		t.Errorf("the dataset grew by %d bytes over %d orders after the window: it does not come back to its plateau", grown, orders)
	}
}

type soak struct {
	t       *testing.T
	admin   *redis.Client
	engines []shop.Engine
	streams []string
}

// memSample is Redis's memory: all of it, and the dataset alone (without
// the clients' buffers and the scripts, which come and go with the load).
type memSample struct {
	used, dataset, streamEntries int64
}

// round places n orders on every engine at once and waits until all
// finished.
func (s *soak) round(name string, n int) {
	s.t.Helper()
	var wg sync.WaitGroup
	for _, e := range s.engines {
		for i := range n {
			wg.Go(func() {
				id := fmt.Sprintf("soak-%s-%s-%d", e.Mode(), name, i)
				if err := e.Place(context.Background(), burstOrder(id)); err != nil {
					s.t.Errorf("place %s: %v", id, err)
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				// A loaded machine may settle an order (retention 1s) before
				// Wait first looks: settled is finished.
				if _, err := e.Wait(ctx, id); err != nil && !errors.Is(err, shop.ErrSettled) {
					s.t.Errorf("wait for %s: %v", id, err)
				}
			})
		}
	}
	wg.Wait()
	if s.t.Failed() {
		s.t.FailNow()
	}
}

// settled waits until every finished order is settled (no per-order key
// left in either engine) and returns how many keys Redis holds.
func (s *soak) settled() int64 {
	s.t.Helper()
	var keys int64
	err := poll.For(context.Background(), time.Minute, poll.Every(200*time.Millisecond), func(ctx context.Context) (bool, error) {
		var err error
		if keys, err = s.admin.DBSize(ctx).Result(); err != nil {
			return false, err
		}
		perOrder, err := s.admin.Keys(ctx, "*:soak-*").Result()
		return len(perOrder) == 0, err
	})
	if err != nil {
		s.t.Fatalf("orders not settled after the retention window: %v", err)
	}
	return keys
}

// sample reads used_memory and the streams' lengths, and logs them.
func (s *soak) sample(label string) memSample {
	s.t.Helper()
	ctx := context.Background()
	info, err := s.admin.Info(ctx, "memory").Result()
	if err != nil {
		s.t.Fatal(err)
	}
	var m memSample
	for _, line := range strings.Split(info, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		switch k {
		case "used_memory":
			m.used, _ = strconv.ParseInt(v, 10, 64)
		case "used_memory_dataset":
			m.dataset, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	for _, st := range s.streams {
		n, err := s.admin.XLen(ctx, st).Result()
		if err != nil {
			s.t.Fatal(err)
		}
		m.streamEntries += n
	}
	s.t.Logf("%-16s used_memory %8d  dataset %8d  stream entries %5d", label, m.used, m.dataset, m.streamEntries)
	return m
}
