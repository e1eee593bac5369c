// Package poll waits for a condition by asking again and again, with a
// backoff between the questions: the one polling loop of the project's
// command-line and test code.
package poll

import (
	"context"
	"time"
)

// Backoff is the pause between two questions: Min after the first, doubling
// up to Max. Max below Min means Min every time.
type Backoff struct {
	Min, Max time.Duration
}

// Every is a fixed pause.
func Every(d time.Duration) Backoff { return Backoff{Min: d, Max: d} }

// Until calls cond until it reports true or fails, or ctx ends. It returns
// nil once cond holds, cond's error, or ctx's error when ctx ended first.
func Until(ctx context.Context, b Backoff, cond func(ctx context.Context) (bool, error)) error {
	d := max(b.Min, time.Millisecond)
	t := time.NewTimer(0)
	defer t.Stop()
	<-t.C
	for {
		done, err := cond(ctx)
		if err != nil || done {
			return err
		}
		t.Reset(d)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		d = min(2*d, max(b.Max, b.Min))
	}
}

// For is Until bounded by a timeout: it gives up with
// context.DeadlineExceeded when cond has not held within d.
func For(ctx context.Context, d time.Duration, b Backoff, cond func(ctx context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return Until(ctx, b, cond)
}

// Sleep pauses for d, or less when ctx ends first (then it returns ctx's error).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
