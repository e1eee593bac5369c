package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/ordersaga/ordersaga/choreography/stream"
	"github.com/ordersaga/ordersaga/shop"
)

// rateWindow is how far back the rate of finished orders looks.
const rateWindow = 10 * time.Second

// frame is one refresh: what the engines said, and the live sections
// rendered from it, ready to send as one server-sent event.
type frame struct {
	snap  *Snapshot
	event []byte
	// gen is the hub's generation when the refresh started.
	gen uint64
}

type sample struct {
	at       time.Time
	finished int64
}

// hub runs the one refresh loop and hands its frames to every listener.
type hub struct {
	s *Server

	mu   sync.Mutex
	subs map[chan *frame]struct{}
	last *frame
	// gen counts changes made through the page: a frame read before the
	// latest one is stale, however young.
	gen uint64

	// refreshing serializes refreshes, so that a page load and the loop
	// never read the engines twice at once.
	refreshing sync.Mutex
	samples    map[shop.Mode][]sample

	done chan struct{}
}

func newHub(s *Server) *hub {
	return &hub{s: s, subs: map[chan *frame]struct{}{}, samples: map[shop.Mode][]sample{}, done: make(chan struct{})}
}

// run refreshes once per interval while someone listens, until ctx is done.
func (h *hub) run(ctx context.Context) {
	defer close(h.done)
	stream.Tick(ctx, h.s.opts.Interval, func() {
		if h.listeners() > 0 {
			h.refresh(ctx)
		}
	})
}

func (h *hub) listeners() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

var errTooMany = errors.New("too many live connections")

// subscribe registers a listener. Its channel holds the newest frame only:
// a slow listener skips frames instead of holding the loop up.
func (h *hub) subscribe() (chan *frame, func(), error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.subs) >= h.s.opts.MaxListeners {
		return nil, nil, errTooMany
	}
	ch := make(chan *frame, 1)
	h.subs[ch] = struct{}{}
	return ch, func() {
		h.mu.Lock()
		delete(h.subs, ch)
		h.mu.Unlock()
	}, nil
}

// current returns a recent frame, refreshing when the last one is stale
// (no one listened for a while, or an order was placed since).
func (h *hub) current(ctx context.Context) *frame {
	h.mu.Lock()
	f, fresh := h.last, h.last != nil && h.last.gen == h.gen
	h.mu.Unlock()
	if fresh && time.Since(f.snap.At) < 2*h.s.opts.Interval {
		return f
	}
	return h.refresh(ctx)
}

// invalidate marks the last frame stale: the page changed something.
func (h *hub) invalidate() {
	h.mu.Lock()
	h.gen++
	h.mu.Unlock()
}

// refresh reads the engines once, renders the live sections and sends them
// to every listener.
func (h *hub) refresh(ctx context.Context) *frame {
	h.refreshing.Lock()
	defer h.refreshing.Unlock()
	h.mu.Lock()
	f, gen := h.last, h.gen
	h.mu.Unlock()
	// A refresh that finished while this one waited is fresh enough.
	if f != nil && f.gen == gen && time.Since(f.snap.At) < h.s.opts.Interval/2 {
		return f
	}
	snap := h.s.collect(ctx)
	h.rate(snap)
	f = &frame{snap: snap, event: h.s.encode(snap), gen: gen}
	h.mu.Lock()
	h.last = f
	for ch := range h.subs {
		select {
		case <-ch: // drop the frame this listener has not taken yet
		default:
		}
		ch <- f
	}
	h.mu.Unlock()
	return f
}

// rate sets each engine's rate of finished orders per second over the last
// rateWindow, from the refreshes in that window.
func (h *hub) rate(snap *Snapshot) {
	for i := range snap.Engines {
		ev := &snap.Engines[i]
		if ev.Err != "" {
			continue
		}
		now := sample{at: snap.At, finished: ev.Counts.Finished()}
		kept := h.samples[ev.Mode][:0]
		for _, s := range h.samples[ev.Mode] {
			// A count going down means the engine was reset: start afresh.
			if now.at.Sub(s.at) <= rateWindow && s.finished <= now.finished {
				kept = append(kept, s)
			}
		}
		if len(kept) > 0 {
			first := kept[0]
			if dt := now.at.Sub(first.at).Seconds(); dt >= 0.5 {
				ev.Rate, ev.HasRate = float64(now.finished-first.finished)/dt, true
			}
		}
		h.samples[ev.Mode] = append(kept, now)
	}
}

// sections are the parts of the index page the live updates replace, by
// element ID and template name.
var sections = []string{"updated", "engines", "orders", "books", "services", "notifications"}

// encode renders the live sections and wraps them in one server-sent event.
func (s *Server) encode(snap *Snapshot) []byte {
	parts := make(map[string]string, len(sections))
	var buf bytes.Buffer
	data := s.view(snap, formState{})
	for _, name := range sections {
		buf.Reset()
		if err := s.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
			s.opts.Log.Error("render live section", "section", name, "err", err)
			continue
		}
		parts[name] = buf.String()
	}
	js, err := json.Marshal(parts)
	if err != nil {
		s.opts.Log.Error("encode live sections", "err", err)
		return nil
	}
	return fmt.Appendf(nil, "event: snapshot\ndata: %s\n\n", js)
}

// events streams the live sections to one page, as server-sent events.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	ch, unsubscribe, err := s.hub.subscribe()
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	defer unsubscribe()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	rc := http.NewResponseController(w)
	send := func(b []byte) bool {
		// A listener that stops reading is dropped instead of piling up.
		_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	w.WriteHeader(http.StatusOK)
	sent := s.hub.current(r.Context())
	if !send([]byte("retry: 2000\n\n")) || !send(sent.event) {
		return
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.hub.done:
			return
		case f := <-ch:
			if f == sent {
				continue // the frame that came with the first paint
			}
			if !send(f.event) {
				return
			}
			sent = f
		}
	}
}
