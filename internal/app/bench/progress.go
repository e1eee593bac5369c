package bench

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/term"
)

// IsTerminal reports whether w is a terminal (not merely a character
// device such as /dev/null), so that redrawn lines go only where a person
// reads them.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Progress draws a one-line progress bar, redrawn at most every Interval.
// A nil *Progress does nothing, so callers need not check whether one is shown.
type Progress struct {
	w        io.Writer
	label    string
	total    int
	start    time.Time
	done     atomic.Int64
	stop     chan struct{}
	finished sync.WaitGroup
}

// Interval is how often the bar is redrawn.
const Interval = 100 * time.Millisecond

// StartProgress starts drawing a bar of total units on w.
func StartProgress(w io.Writer, label string, total int) *Progress {
	p := &Progress{w: w, label: label, total: total, start: time.Now(), stop: make(chan struct{})}
	p.finished.Add(1)
	go func() {
		defer p.finished.Done()
		t := time.NewTicker(Interval)
		defer t.Stop()
		for {
			p.draw()
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		}
	}()
	return p
}

// Add counts one finished unit.
func (p *Progress) Add() {
	if p != nil {
		p.done.Add(1)
	}
}

// Stop stops drawing, shows the final count and clears the line.
func (p *Progress) Stop() {
	if p == nil {
		return
	}
	close(p.stop)
	p.finished.Wait()
	p.draw() // the final count, whatever the ticker last showed
	fmt.Fprint(p.w, "\r\033[K")
}

const barWidth = 30

func (p *Progress) draw() {
	fmt.Fprint(p.w, "\r\033[K"+Bar(p.label, int(p.done.Load()), p.total, time.Since(p.start)))
}

// Bar renders one state of the progress bar.
func Bar(label string, done, total int, elapsed time.Duration) string {
	frac := 0.0
	if total > 0 {
		frac = min(1, float64(done)/float64(total))
	}
	filled := int(frac * barWidth)
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(done) / s
	}
	return fmt.Sprintf("%-28s [%s%s] %d/%d %3.0f%% %.0f/s %s", label,
		strings.Repeat("#", filled), strings.Repeat(".", barWidth-filled),
		done, total, 100*frac, rate, elapsed.Round(100*time.Millisecond))
}
