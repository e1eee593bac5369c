package choreography

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	// The tail decodes every terminal event as Decode does (see event.go).
	"github.com/segmentio/encoding/json"

	"github.com/ordersaga/ordersaga/choreography/stream"
)

// ends tells Wait when an order ends, so that it reads the order's status
// once it has ended instead of polling it. It tails the order service's
// streams of every partition, where the order service publishes the
// order's terminal event (OrderCompleted, OrderCompensated, OrderFailed) in
// the same script that records its status, and wakes the waiters of that
// order. It reads without a consumer group: it changes nothing in Redis.
//
// It runs while someone waits, and stops by itself once nobody has waited
// for idleStop, or when Close is called. When it cannot read, waiters fall
// back to polling.
type ends struct {
	rdb     redis.UniversalClient
	streams func() []string // the order service's streams

	mu      sync.Mutex
	waiters map[string][]chan struct{}
	running bool
	ready   chan struct{} // closed once the current run knows where to read from
	healthy bool          // the current run reads; false: waiters poll
	stop    context.CancelFunc
	closed  bool
}

// idleStop is how long the tail runs with nobody waiting; block is how long
// one read waits.
const (
	idleStop   = 2 * time.Second
	tailBlock  = 200 * time.Millisecond
	tailBatch  = 512
	terminalOf = "Order" // the order service's terminal events start with it
)

func newEnds(rdb redis.UniversalClient, streams func() []string) *ends {
	return &ends{rdb: rdb, streams: streams, waiters: map[string][]chan struct{}{}}
}

// watch registers a waiter for orderID and makes sure the tail runs (see
// ensure): any terminal event of the order published after watch returns
// wakes the channel. It returns whether the tail reads (false: poll), and
// the function that unregisters the waiter.
func (w *ends) watch(ctx context.Context, orderID string) (<-chan struct{}, bool, func()) {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	w.waiters[orderID] = append(w.waiters[orderID], ch)
	w.mu.Unlock()
	return ch, w.ensure(ctx), func() { w.forget(orderID, ch) }
}

// ensure starts the tail unless it runs, and waits until it knows where it
// reads from. It returns whether the tail reads (false: waiters poll).
func (w *ends) ensure(ctx context.Context) bool {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return false
	}
	if !w.running {
		w.start()
	}
	ready := w.ready
	w.mu.Unlock()
	select {
	case <-ready:
	case <-ctx.Done():
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.healthy
}

func (w *ends) forget(orderID string, ch chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	list := w.waiters[orderID]
	for i, c := range list {
		if c == ch {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(w.waiters, orderID)
	} else {
		w.waiters[orderID] = list
	}
}

// start starts a run of the tail; w.mu is held.
func (w *ends) start() {
	ctx, cancel := context.WithCancel(context.Background())
	w.running, w.stop, w.ready, w.healthy = true, cancel, make(chan struct{}), false
	ready := w.ready
	go func() {
		defer cancel()
		w.run(ctx, ready)
	}()
}

// Close stops the tail; waiters poll from then on.
func (w *ends) Close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	if w.stop != nil {
		w.stop()
	}
}

// run positions the tail at the end of every stream, says so on ready, then
// reads until nobody has waited for idleStop, ctx ends, or a read fails.
func (w *ends) run(ctx context.Context, ready chan struct{}) {
	streams := w.streams()
	shards := stream.Shards(w.rdb, streams)
	from, err := w.ends(ctx, streams)
	w.mu.Lock()
	w.healthy = err == nil
	w.mu.Unlock()
	close(ready)
	if err == nil {
		readers, closeReaders := stream.ReaderClient(w.rdb, len(shards))
		var loops sync.WaitGroup
		for _, shard := range shards {
			loops.Go(func() { w.tail(ctx, readers, shard, from) })
		}
		loops.Wait()
		closeReaders()
	}
	w.mu.Lock()
	w.running, w.healthy = false, false
	w.mu.Unlock()
	w.wakeAll() // whoever still waits polls, or starts a new run
}

// ends returns the ID of each stream's last entry ("0-0" when empty): the
// tail reads what comes after it.
func (w *ends) ends(ctx context.Context, streams []string) (map[string]string, error) {
	pipe := w.rdb.Pipeline()
	cmds := make([]*redis.XMessageSliceCmd, len(streams))
	for i, s := range streams {
		cmds[i] = pipe.XRevRangeN(ctx, s, "+", "-", 1)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	from := make(map[string]string, len(streams))
	for i, s := range streams {
		from[s] = "0-0"
		if msgs := cmds[i].Val(); len(msgs) > 0 {
			from[s] = msgs[0].ID
		}
	}
	return from, nil
}

// tail reads one shard's streams from the given IDs on and wakes the
// waiters of every order that ended, until the run stops.
func (w *ends) tail(ctx context.Context, rdb redis.UniversalClient, shard []string, from map[string]string) {
	last := make([]string, len(shard))
	for i, s := range shard {
		last[i] = from[s]
	}
	idleSince := time.Now()
	for ctx.Err() == nil {
		if w.idle() {
			if time.Since(idleSince) >= idleStop {
				return
			}
		} else {
			idleSince = time.Now()
		}
		res, err := rdb.XRead(ctx, &redis.XReadArgs{Streams: append(append([]string{}, shard...), last...), Count: tailBatch, Block: tailBlock}).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return // the waiters poll; the next Wait starts a new run
		}
		for _, s := range res {
			for i, name := range shard {
				if name == s.Stream && len(s.Messages) > 0 {
					last[i] = s.Messages[len(s.Messages)-1].ID
				}
			}
			for _, m := range s.Messages {
				w.ended(m.Values)
			}
		}
	}
}

func (w *ends) idle() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.waiters) == 0
}

// ended wakes the waiters of the order whose terminal event an entry is.
func (w *ends) ended(values map[string]any) {
	t, _ := values[fieldType].(string)
	if len(t) < len(terminalOf) || t[:len(terminalOf)] != terminalOf || EventType(t) == OrderPlaced {
		return
	}
	raw, _ := values[fieldEvent].(string)
	var ev struct {
		OrderID string `json:"order_id"`
	}
	if json.Unmarshal([]byte(raw), &ev) != nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ch := range w.waiters[ev.OrderID] {
		wake(ch)
	}
}

func (w *ends) wakeAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, list := range w.waiters {
		for _, ch := range list {
			wake(ch)
		}
	}
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
