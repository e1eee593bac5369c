// Package render draws what the starter shows: the tables and lines of each
// command for a terminal, and the result shapes its --json prints. It only
// formats what it is given.
package render

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ordersaga/ordersaga/shop"
)

// Table is the tab-aligned writer every table uses.
func Table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

// Steps is "a,b,c", or "-" for none.
func Steps(s []shop.Step) string {
	if len(s) == 0 {
		return "-"
	}
	out := make([]string, len(s))
	for i, st := range s {
		out[i] = string(st)
	}
	return strings.Join(out, ",")
}

// MS shows milliseconds as "12.3ms" or "1.23s".
func MS(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.2fs", v/1000)
	}
	return fmt.Sprintf("%.1fms", v)
}

// Duration shows d like MS.
func Duration(d time.Duration) string { return MS(float64(d.Microseconds()) / 1000) }

// Dash is s, or "-" when empty.
func Dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Truncate puts s on one line of at most n characters.
func Truncate(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// NonNil is s, or an empty list (so JSON shows [] rather than null).
func NonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// Redrawer shows a block of text that changes: on a terminal it redraws the
// block in place, elsewhere it prints each new version once, after a blank line.
type Redrawer struct {
	W         io.Writer
	TTY       bool
	lines     int
	last, key string
}

// Draw shows text unless it is what is shown already.
func (r *Redrawer) Draw(text string) { r.DrawKeyed(text, text) }

// DrawKeyed is Draw, except that off a terminal a new version is printed
// only when its key changes (text that only counts time does not).
func (r *Redrawer) DrawKeyed(text, key string) {
	if text == r.last || !r.TTY && key == r.key {
		return
	}
	r.key = key
	switch {
	case r.TTY && r.lines > 0:
		fmt.Fprintf(r.W, "\033[%dF\033[J", r.lines)
	case !r.TTY && r.last != "":
		fmt.Fprintln(r.W)
	}
	fmt.Fprint(r.W, text)
	r.last, r.lines = text, strings.Count(text, "\n")
}
