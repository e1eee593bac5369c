package web

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/shop"
)

// Snapshot is what the engines said at one refresh.
type Snapshot struct {
	At      time.Time
	Engines []EngineView
	// Rows are the latest orders of all engines, newest first.
	Rows []Row
	// Bus is nil when no bus is configured or it could not be read.
	Bus    *BusHealth
	BusErr string
}

// EngineView is one engine at one refresh.
type EngineView struct {
	Mode   shop.Mode
	Counts Counts
	// Rate is finished orders per second over the last few seconds; HasRate
	// is false until two refreshes far enough apart give one.
	Rate    float64
	HasRate bool
	Books   Books
	// Notified are the engine's latest notifications, newest first (none
	// when the engine does not tell customers).
	Notified []activities.Notification
	Err      string
}

// Row is one order with its status on each engine (absent: not listed).
type Row struct {
	ID     string
	Placed time.Time
	Status map[shop.Mode]shop.Status
}

// collect reads every engine and the bus, concurrently, within
// RefreshTimeout. An engine that cannot be read shows why; the others
// still show.
func (s *Server) collect(ctx context.Context) *Snapshot {
	ctx, cancel := context.WithTimeout(ctx, s.opts.RefreshTimeout)
	defer cancel()
	why := func(err error) string {
		if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
			return fmt.Sprintf("no answer within %s (is it running?): %s", s.opts.RefreshTimeout, shop.OneLine(err))
		}
		return shop.OneLine(err)
	}
	snap := &Snapshot{At: time.Now(), Engines: make([]EngineView, len(s.opts.Engines))}
	recents := make([][]Order, len(s.opts.Engines))
	var wg sync.WaitGroup
	for i, e := range s.opts.Engines {
		wg.Go(func() {
			ev := EngineView{Mode: e.Mode()}
			// Each engine lists more than the page shows, so that an order
			// near the end of one engine's list still finds its status in
			// the other's.
			ov, err := e.Overview(ctx, 2*s.opts.Recent)
			if err == nil {
				ev.Counts, recents[i] = ov.Counts, ov.Recent
				ev.Books, err = e.Books(ctx)
			}
			if n, ok := e.(Notices); ok && err == nil {
				ev.Notified, err = n.Notifications(ctx, s.opts.Recent)
			}
			if err != nil {
				ev.Err = why(err)
			}
			snap.Engines[i] = ev
		})
	}
	if s.opts.Bus != nil {
		wg.Go(func() {
			bh, err := s.opts.Bus.Health(ctx)
			if err != nil {
				snap.BusErr = why(err)
				return
			}
			snap.Bus = &bh
		})
	}
	wg.Wait()
	snap.Rows = mergeRows(s.modes, recents, s.opts.Recent)
	return snap
}

// mergeRows joins the engines' latest orders by ID and keeps the newest n.
// An order's placement time is the earliest any engine reports.
func mergeRows(modes []shop.Mode, recents [][]Order, n int) []Row {
	byID := map[string]*Row{}
	var rows []*Row
	for i, list := range recents {
		for _, o := range list {
			r, ok := byID[o.ID]
			if !ok {
				r = &Row{ID: o.ID, Placed: o.Placed, Status: map[shop.Mode]shop.Status{}}
				byID[o.ID] = r
				rows = append(rows, r)
			}
			if o.Placed.Before(r.Placed) {
				r.Placed = o.Placed
			}
			r.Status[modes[i]] = o.Status
		}
	}
	slices.SortStableFunc(rows, func(a, b *Row) int {
		if c := b.Placed.Compare(a.Placed); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	out := make([]Row, 0, min(n, len(rows)))
	for _, r := range rows[:min(n, len(rows))] {
		out = append(out, *r)
	}
	return out
}
