package render_test

import (
	"bytes"
	"testing"

	"github.com/ordersaga/ordersaga/internal/app/render"
)

func TestRedrawer(t *testing.T) {
	var plain bytes.Buffer
	r := &render.Redrawer{W: &plain}
	for _, s := range []string{"a\nb\n", "a\nb\n", "c\n"} {
		r.Draw(s)
	}
	if got, want := plain.String(), "a\nb\n\nc\n"; got != want {
		t.Errorf("not a terminal: %q, want each version once, apart: %q", got, want)
	}
	var tty bytes.Buffer
	r = &render.Redrawer{W: &tty, TTY: true}
	r.Draw("a\nb\n")
	r.Draw("c\n")
	r.Draw("")
	if got, want := tty.String(), "a\nb\n\033[2F\033[Jc\n\033[1F\033[J"; got != want {
		t.Errorf("terminal: %q, want %q", got, want)
	}
}

func TestTruncateAndMS(t *testing.T) {
	if got := render.Truncate("a  b\nc", 10); got != "a b c" {
		t.Errorf("Truncate = %q", got)
	}
	if got := render.Truncate("abcdefghij", 5); got != "abcd…" {
		t.Errorf("Truncate = %q", got)
	}
	if render.MS(12.34) != "12.3ms" || render.MS(1234) != "1.23s" {
		t.Errorf("MS: %s %s", render.MS(12.34), render.MS(1234))
	}
}
