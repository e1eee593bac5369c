package docstest

import (
	"fmt"
	"regexp"
	"strings"
)

var (
	orderID = regexp.MustCompile(`\bo-[0-9a-f]{12}\b`)
	// What changes from run to run: timestamps, durations, then any number
	// (counts, stock levels, ports, stream entry IDs).
	volatile = []struct {
		re   *regexp.Regexp
		with string
	}{
		{orderID, "<id>"},
		{regexp.MustCompile(`\d{4}-\d\d-\d\dT[0-9:.]+(Z|[+-]\d\d:?\d\d)?`), "<time>"},
		{regexp.MustCompile(`\b\d\d:\d\d:\d\d(\.\d+)?\b`), "<time>"},
		{regexp.MustCompile(`[+-]?\d+(\.\d+)?(ns|µs|us|ms|s|m|h)\b`), "<dur>"},
		{regexp.MustCompile(`\d[\d,.]*`), "<n>"},
	}
	spaces = regexp.MustCompile(`\s+`)
)

// Stable is a line with what changes between runs replaced by a
// placeholder and runs of blanks (table padding) made one space.
func Stable(line string) string {
	for _, v := range volatile {
		line = v.re.ReplaceAllString(line, v.with)
	}
	return strings.TrimSpace(spaces.ReplaceAllString(line, " "))
}

// Match checks that every sample line of want (blank lines and lines of
// only "…" left out) is a line of got, in the same order, once both are
// Stable; "…" inside a sample line stands for any text. It returns the
// first sample line that is missing.
func Match(want []string, got string) error {
	lines := strings.Split(got, "\n")
	for i := range lines {
		lines[i] = Stable(lines[i])
	}
	at := 0
	for _, w := range want {
		s := Stable(w)
		if s == "" || s == "…" {
			continue
		}
		re := regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(s), "…", ".*") + "$")
		found := false
		for ; at < len(lines); at++ {
			if re.MatchString(lines[at]) {
				found, at = true, at+1
				break
			}
		}
		if !found {
			return fmt.Errorf("the output lacks the documented line %q (as %q), in this order", w, s)
		}
	}
	return nil
}

// IDs maps the order IDs written in the docs to the ones the commands
// printed when the docs were run: a command that names an order the docs
// showed in an earlier sample output runs on the order printed there, one
// that names an order the docs never showed runs on the last order printed.
type IDs struct {
	seen map[string]string
	last string
}

// Learn pairs the order IDs of a sample output with those of the real
// output, in order, and remembers the last real one.
func (ids *IDs) Learn(want []string, got string) {
	if ids.seen == nil {
		ids.seen = map[string]string{}
	}
	real := orderID.FindAllString(got, -1)
	for i, doc := range orderID.FindAllString(strings.Join(want, "\n"), -1) {
		if i < len(real) {
			ids.seen[doc] = real[i]
		}
	}
	if len(real) > 0 {
		ids.last = real[len(real)-1]
	}
}

// Command is cmd with each order ID replaced as Learn says.
func (ids *IDs) Command(cmd string) string {
	return orderID.ReplaceAllStringFunc(cmd, func(doc string) string {
		if r, ok := ids.seen[doc]; ok {
			return r
		}
		if ids.last != "" {
			return ids.last
		}
		return doc
	})
}
