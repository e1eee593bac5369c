package docstest

import (
	"path"
	"strings"
)

// Invocation is one run of a project binary (starter or worker) in a
// documented command: its name and its arguments as the shell passes them.
type Invocation struct {
	Prog string
	Args []string
}

// Invocations finds the runs of starter and worker in a command line,
// however the docs write them: `starter …`, `bin/starter …`,
// `go run ./starter …`, `docker compose run --rm starter …`, after
// VAR=value assignments, in each part of a pipeline or && list.
func Invocations(cmd string) []Invocation {
	var out []Invocation
	for _, words := range commands(cmd) {
		for i, w := range words {
			prog := path.Base(w)
			if prog != "starter" && prog != "worker" {
				continue
			}
			if w != prog && !strings.HasSuffix(w, "/"+prog) {
				continue
			}
			// "docker compose run --rm starter" and "go run ./starter" name
			// the program after a runner; a bare word must start the command.
			if i > 0 && !afterRunner(words[:i]) {
				continue
			}
			inv := Invocation{Prog: prog}
			if i+1 < len(words) {
				inv.Args = words[i+1:]
			}
			out = append(out, inv)
			break
		}
	}
	return out
}

// afterRunner: only VAR=value assignments come before the program, or a
// runner that takes it as its argument (go run, docker compose run [--rm]).
func afterRunner(before []string) bool {
	assignments := true
	for _, w := range before {
		assignments = assignments && strings.Contains(w, "=") && !strings.HasPrefix(w, "-")
	}
	prev := before[len(before)-1]
	return assignments || prev == "run" || prev == "--rm" || prev == "--no-deps"
}

// commands splits a shell line into its simple commands' words: quotes
// are removed, a comment ends the line, and |, &&, || and ; separate
// commands. Redirections and what follows them are dropped.
func commands(line string) [][]string {
	var (
		all    [][]string
		words  []string
		word   strings.Builder
		inWord bool
		quote  rune
		redir  bool
	)
	flush := func() {
		if inWord && !redir {
			words = append(words, word.String())
		}
		word.Reset()
		inWord = false
	}
	end := func() {
		flush()
		if len(words) > 0 {
			all = append(all, words)
		}
		words, redir = nil, false
	}
	for _, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				word.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == '#' && !inWord:
			end()
			return all
		case r == '|' || r == '&' || r == ';':
			end()
		case r == '>' || r == '<':
			flush()
			redir = true
		case r == ' ' || r == '\t':
			flush()
		default:
			word.WriteRune(r)
			inWord = true
		}
	}
	end()
	return all
}
