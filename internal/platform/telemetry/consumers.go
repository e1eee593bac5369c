package telemetry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Consumers watches the stream consumers of a process (it is their
// stream.Observer): it counts their redeliveries and dead letters in m,
// and tells whether they consume, for /readyz.
type Consumers struct {
	m  *Metrics
	mu sync.Mutex
	// last is how the last read of each group's streams went; a group
	// that has not read yet is absent.
	last map[string]error
}

// NewConsumers returns a watcher that counts in m (nil: counts nothing).
func NewConsumers(m *Metrics) *Consumers {
	return &Consumers{m: m, last: map[string]error{}}
}

// Read records how a read of new entries went.
func (c *Consumers) Read(group string, streams []string, err error) {
	key := group // one key per read loop: a group reads a shard of streams each
	if len(streams) > 0 {
		key += " on " + streams[0]
	}
	c.mu.Lock()
	c.last[key] = err
	c.mu.Unlock()
}

// Redelivered counts an entry handed to the handler once more.
func (c *Consumers) Redelivered(group, stream string, _ int64) { c.m.Redelivered(group, stream) }

// DeadLettered counts an entry moved to the dead-letter stream.
func (c *Consumers) DeadLettered(group, stream, _ string) { c.m.DeadLettered(group, stream) }

// Check is the readiness of the consumers: each of groups has read its
// streams, and its last read succeeded. A consumer whose handler slots are
// all busy does not read meanwhile; its last read still counts.
func (c *Consumers) Check(groups ...string) func(context.Context) error {
	return func(context.Context) error {
		c.mu.Lock()
		defer c.mu.Unlock()
		var errs []string
		for _, g := range groups {
			seen := false
			for key, err := range c.last {
				if key != g && !strings.HasPrefix(key, g+" on ") {
					continue
				}
				seen = true
				if err != nil {
					errs = append(errs, fmt.Sprintf("%s: last read failed: %v", key, err))
				}
			}
			if !seen {
				errs = append(errs, g+": has not read its streams yet")
			}
		}
		if len(errs) == 0 {
			return nil
		}
		slices.Sort(errs)
		return errors.New(strings.Join(errs, "; "))
	}
}
