// Package stream consumes Redis Streams through consumer groups, the way the
// choreography needs it and nothing more: a consumer first re-reads its own
// pending entries, then new ones; an entry whose handler failed is
// redelivered with backoff; entries that dead consumers left idle are
// reclaimed; an entry that cannot be processed goes to a dead-letter stream
// with its reason; acked history is trimmed without losing what a group has
// not read. It knows nothing of what the entries carry.
package stream

import "time"

// Config tunes a consumer. Zero values take the defaults.
type Config struct {
	Name        string        // consumer name within the group; stable across restarts
	BatchSize   int           // entries per read (default 64)
	Concurrency int           // handler runs in flight: entries, or batches of a batch consumer (default 32)
	Block       time.Duration // how long one read waits for entries (default 500ms)
	// RetryBase and RetryMax bound the backoff between redeliveries of an
	// entry whose handler failed (defaults 50ms and 2s).
	RetryBase, RetryMax time.Duration
	// ClaimIdle is how long an entry of another consumer must sit idle
	// before this one takes it over with XAUTOCLAIM (default 30s).
	ClaimIdle time.Duration
	// MaxDeliveries: an entry delivered more often is dead-lettered
	// (default 30). A delivery whose handler failed because Redis was full
	// (see IsFull) does not count: the entry waits until memory frees.
	MaxDeliveries int64
	// HandlerTimeout bounds one handler run (default 5m30s).
	HandlerTimeout time.Duration
	// DeadLetterMaxLen caps each dead-letter stream; the oldest dead
	// letters go first (default 10,000).
	DeadLetterMaxLen int64
	// ConsumerIdle: another consumer of the group that owns no pending
	// entry and has not read for this long is removed from the group
	// (default 1h). A consumer whose process holds its presence record
	// (see PresenceKey) is never removed, however long it has not read.
	ConsumerIdle time.Duration
	// PresenceTTL is how long a consumer's hold on its name outlives its
	// last renewal (default 5s): a crashed consumer counts as live, and its
	// name stays taken, for at most this long. Renewals come every
	// PresenceTTL/5.
	PresenceTTL time.Duration
	// Tag is what the consumer's presence record says of it besides its
	// process, as words "<key> <value>", e.g. the revision of what it
	// reads (see TagOf); empty by default.
	Tag string
	// Unbounded, when set, names entries the delivery limit does not
	// apply to (compensations, which must finish): their handler is
	// retried with backoff, capped at RetryMax, until it succeeds. An
	// error wrapping ErrPoison still dead-letters them at once.
	Unbounded func(values map[string]any) bool
	// Skip, when set, names entries the group has nothing to do with: they
	// are acked without a handler, in one XACK per batch.
	Skip func(values map[string]any) bool
	// Observer, when set, is told of reads, redeliveries and dead letters.
	Observer Observer
}

// Observer is told what a consumer does besides running handlers, for
// metrics and health checks. Its methods are called from the consumer's
// goroutines, concurrently: they must be quick and safe for that.
type Observer interface {
	// Read reports a read of new entries from streams: nil when Redis
	// answered (with entries or none), else why it failed.
	Read(group string, streams []string, err error)
	// Redelivered reports an entry handed to the handler once more.
	Redelivered(group, stream string, deliveries int64)
	// DeadLettered reports an entry moved to the dead-letter stream.
	DeadLettered(group, stream, reason string)
}

// WithDefaults returns c with every zero value replaced by its default.
func (c Config) WithDefaults() Config {
	if c.BatchSize <= 0 {
		c.BatchSize = 64
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 32
	}
	if c.Block <= 0 {
		c.Block = 500 * time.Millisecond
	}
	if c.RetryBase <= 0 {
		c.RetryBase = 50 * time.Millisecond
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 2 * time.Second
	}
	if c.ClaimIdle <= 0 {
		c.ClaimIdle = 30 * time.Second
	}
	if c.MaxDeliveries <= 0 {
		c.MaxDeliveries = 30
	}
	if c.HandlerTimeout <= 0 {
		c.HandlerTimeout = 5*time.Minute + 30*time.Second
	}
	if c.DeadLetterMaxLen <= 0 {
		c.DeadLetterMaxLen = 10_000
	}
	if c.ConsumerIdle <= 0 {
		c.ConsumerIdle = time.Hour
	}
	if c.PresenceTTL <= 0 {
		c.PresenceTTL = 5 * time.Second
	}
	return c
}

// backoff is how long an entry delivered n times waits before the next try.
func (c Config) backoff(n int64) time.Duration {
	d := c.RetryBase
	for i := int64(1); i < n && d < c.RetryMax; i++ {
		d *= 2
	}
	return min(d, c.RetryMax)
}
