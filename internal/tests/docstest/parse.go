// Package docstest reads the shell commands of the Markdown docs and the
// sample output shown after them, so a test can run them in order and
// compare: the docs are tested like code.
//
// In a ```sh block every line is a command (a trailing backslash joins the
// next line; blank lines and whole-line comments are no commands). In a
// ```console block a line starting with "$ " is a command and the lines
// after it, up to the next "$ ", are its sample output; a ```console block
// that follows a ```sh block with nothing but blank lines between, and does
// not start with "$ ", is the sample output of that block's last command.
// A line <!-- docs-test: skip (REASON) --> before a block skips all of its
// commands with that reason; <!-- docs-test: skip COMMAND (REASON) -->
// skips only the block's commands that start with COMMAND (one mark a
// line, several marks before one block). Other blocks (```toml, ```mermaid, bare ```)
// are not commands.
package docstest

import (
	"fmt"
	"regexp"
	"strings"
)

// Step is one documented command.
type Step struct {
	File    string
	Line    int
	Command string
	// Want is the sample output shown after the command, as written, from
	// the file's line WantLine on.
	Want     []string
	WantLine int
	// Skip says why the command is not run ("" runs it).
	Skip string
}

// Name is where the step is written and what it runs, for test output.
func (s Step) Name() string { return fmt.Sprintf("%s:%d: %s", s.File, s.Line, s.Command) }

var skipMark = regexp.MustCompile(`^<!--\s*docs-test:\s*skip\s*(.*?)\s*\((.+)\)\s*-->\s*$`)

// skipRule skips the commands that start with prefix ("": all of them).
type skipRule struct{ prefix, reason string }

// reason is why cmd is skipped by the first rule that covers it, or "".
func reason(rules []skipRule, cmd string) string {
	for _, r := range rules {
		if strings.HasPrefix(cmd, r.prefix) {
			return r.reason
		}
	}
	return ""
}

// parser holds what Parse knows between lines.
type parser struct {
	file   string
	steps  []Step
	skip   []skipRule // the skip marks waiting for their block
	lang   string     // the open block's language ("" outside a block)
	body   []string
	start  int  // the line of the open block's first body line
	gapOK  bool // only blank lines since the last ```sh block closed
	lastSh int  // index in steps of the last ```sh block's last command, or -1
}

// Parse returns the commands of one Markdown file in the order written.
// A skip mark that is not followed by a block is an error.
func Parse(file, src string) ([]Step, error) {
	p := &parser{file: file, lastSh: -1}
	for i, line := range strings.Split(src, "\n") {
		if err := p.line(i+1, line); err != nil {
			return nil, err
		}
	}
	if p.lang != "" {
		return nil, fmt.Errorf("%s: a code block opened at line %d is not closed", file, p.start-1)
	}
	if len(p.skip) > 0 {
		return nil, fmt.Errorf("%s: a docs-test skip mark is not followed by a code block", file)
	}
	return p.steps, nil
}

func (p *parser) line(n int, line string) error {
	trimmed := strings.TrimSpace(line)
	if p.lang != "" {
		if trimmed == "```" {
			p.close()
			return nil
		}
		p.body = append(p.body, line)
		return nil
	}
	if m := skipMark.FindStringSubmatch(trimmed); m != nil {
		p.skip = append(p.skip, skipRule{prefix: m[1], reason: m[2]})
		return nil
	}
	if lang, ok := strings.CutPrefix(trimmed, "```"); ok {
		if lang == "" {
			lang = "text"
		}
		p.lang, p.body, p.start = lang, nil, n+1
		return nil
	}
	if trimmed != "" {
		p.gapOK = false
		if len(p.skip) > 0 {
			return fmt.Errorf("%s:%d: a docs-test skip mark is not followed by a code block", p.file, n)
		}
		if strings.HasPrefix(trimmed, "<!-- docs-test") {
			return fmt.Errorf("%s:%d: want <!-- docs-test: skip (REASON) -->, got %s", p.file, n, trimmed)
		}
	}
	return nil
}

// close ends the open block and takes its commands.
func (p *parser) close() {
	lang, skip := p.lang, p.skip
	p.lang, p.skip = "", nil
	switch lang {
	case "sh":
		p.sh(skip)
		p.lastSh, p.gapOK = len(p.steps)-1, true
		return
	case "console":
		p.console(skip)
	}
	p.gapOK, p.lastSh = false, -1
}

func (p *parser) sh(skip []skipRule) {
	cmd, first := "", 0
	for i, l := range p.body {
		t := strings.TrimSpace(l)
		if cmd == "" && (t == "" || strings.HasPrefix(t, "#")) {
			continue
		}
		if cmd == "" {
			first = p.start + i
		}
		if more, ok := strings.CutSuffix(t, "\\"); ok {
			cmd += more + " "
			continue
		}
		p.steps = append(p.steps, Step{File: p.file, Line: first, Command: cmd + t, Skip: reason(skip, cmd+t)})
		cmd = ""
	}
}

func (p *parser) console(skip []skipRule) {
	if len(p.body) > 0 && !strings.HasPrefix(p.body[0], "$ ") && p.gapOK && p.lastSh >= 0 {
		p.steps[p.lastSh].Want = append([]string(nil), p.body...)
		p.steps[p.lastSh].WantLine = p.start
		return
	}
	cur := -1
	for i, l := range p.body {
		if cmd, ok := strings.CutPrefix(l, "$ "); ok {
			p.steps = append(p.steps, Step{File: p.file, Line: p.start + i, Command: strings.TrimSpace(cmd), Skip: reason(skip, strings.TrimSpace(cmd))})
			cur = len(p.steps) - 1
			continue
		}
		if cur >= 0 {
			if p.steps[cur].Want == nil {
				p.steps[cur].WantLine = p.start + i
			}
			p.steps[cur].Want = append(p.steps[cur].Want, l)
		}
	}
}
