package history

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// update rewrites the table's figures from the commits instead of
// checking them: go test ./internal/tests/history -update
var update = flag.Bool("update", false, "rewrite docs/changing.md's cost figures from the commits")

const (
	tableBegin = "<!-- cost:begin -->"
	tableEnd   = "<!-- cost:end -->"
)

// cost is what a change's commits touched, per kind of file.
type cost struct {
	files      map[string]int
	plus, less map[string]int
}

// kinds of files, in the table's order.
var kinds = []string{"code", "tests", "recorded", "deploy", "docs"}

// kindOf says what a changed file is.
func kindOf(path string) string {
	switch {
	case strings.Contains(path, "/testdata/"):
		return "recorded" // histories and golden files the tests read
	case strings.HasSuffix(path, "_test.go"):
		return "tests"
	case strings.HasPrefix(path, "docs/") || strings.HasSuffix(path, ".md"):
		return "docs"
	case strings.HasPrefix(path, "deploy/") || strings.HasPrefix(path, "docker-compose") ||
		strings.HasPrefix(path, "scripts/") || path == "Makefile" || path == "Dockerfile":
		return "deploy"
	}
	return "code"
}

// costOf sums git's numstat of the commits.
func costOf(t *testing.T, root string, commits []string) cost {
	c := cost{files: map[string]int{}, plus: map[string]int{}, less: map[string]int{}}
	for _, commit := range commits {
		cmd := exec.Command("git", "show", "--numstat", "--format=", commit)
		cmd.Dir = root
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("git show %s: %v (the test needs the repository's history, not a shallow clone)", commit, err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Split(line, "\t")
			if len(f) != 3 {
				continue
			}
			k := kindOf(f[2])
			c.files[k]++
			p, _ := strconv.Atoi(f[0]) // "-" for a binary file: no lines
			l, _ := strconv.Atoi(f[1])
			c.plus[k] += p
			c.less[k] += l
		}
	}
	return c
}

// cells are the table's computed columns of one row.
func (c cost) cells() []string {
	var out []string
	for _, k := range kinds {
		files := "files"
		if c.files[k] == 1 {
			files = "file"
		}
		out = append(out, fmt.Sprintf("%d %s, +%d −%d", c.files[k], files, c.plus[k], c.less[k]))
	}
	return out
}

// TestChangeCostTable recomputes every row of docs/changing.md's cost
// table from the commits it names.
func TestChangeCostTable(t *testing.T) {
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "docs", "changing.md")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	head, rest, ok1 := strings.Cut(string(b), tableBegin)
	table, tail, ok2 := strings.Cut(rest, tableEnd)
	if !ok1 || !ok2 {
		t.Fatalf("docs/changing.md has no %s … %s table", tableBegin, tableEnd)
	}
	lines, rows := strings.Split(table, "\n"), 0
	for i, line := range lines {
		cols := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		switch {
		case !strings.HasPrefix(strings.TrimSpace(line), "|"):
			continue
		case len(cols) != 3+len(kinds):
			t.Errorf("docs/changing.md: a cost row of %d columns, want %d: %s", len(cols), 3+len(kinds), line)
			continue
		case strings.HasPrefix(strings.TrimSpace(cols[0]), "-") || strings.TrimSpace(cols[0]) == "Change":
			continue
		}
		rows++
		commits := strings.Fields(strings.NewReplacer("`", " ", ",", " ").Replace(cols[2]))
		want := costOf(t, root, commits).cells()
		if *update {
			cells := make([]string, 0, len(cols))
			for _, c := range cols[:3] {
				cells = append(cells, strings.TrimSpace(c))
			}
			lines[i] = "| " + strings.Join(append(cells, want...), " | ") + " |"
			continue
		}
		for k, w := range want {
			if got := strings.TrimSpace(cols[3+k]); got != w {
				t.Errorf("%s / %s, %s: the table says %q, the commits %s say %q (go test ./internal/tests/history -update)",
					strings.TrimSpace(cols[0]), strings.TrimSpace(cols[1]), kinds[k], got, strings.Join(commits, " "), w)
			}
		}
	}
	if rows == 0 {
		t.Error("the cost table has no rows")
	}
	if *update {
		out := head + tableBegin + strings.Join(lines, "\n") + tableEnd + tail
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
