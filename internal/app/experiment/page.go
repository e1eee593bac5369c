package experiment

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"github.com/ordersaga/ordersaga/internal/app/bench"
)

// pageBlock is a generated block of a page: from "<!-- experiment: NAME
// -->" to "<!-- /experiment -->".
var pageBlock = regexp.MustCompile(`(?s)<!-- experiment: ([a-z0-9-]+) -->\n.*?<!-- /experiment -->`)

// Page rewrites every generated block of the Markdown page with what the
// report NAME.json in dir says: its stack, date and command, and its
// tables. A block whose report is missing is an error.
func Page(page, dir string) error {
	b, err := os.ReadFile(page)
	if err != nil {
		return err
	}
	rel, err := filepath.Rel(filepath.Dir(page), dir)
	if err != nil {
		return err
	}
	var firstErr error
	out := pageBlock.ReplaceAllStringFunc(string(b), func(block string) string {
		name := pageBlock.FindStringSubmatch(block)[1]
		text, err := pageText(name, dir, filepath.ToSlash(rel))
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return "<!-- experiment: " + name + " -->\n" + text + "<!-- /experiment -->"
	})
	if firstErr != nil {
		return firstErr
	}
	return os.WriteFile(page, []byte(out), 0o644)
}

// pageText is the generated text of report name.
func pageText(name, dir, rel string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, name+".json"))
	if err != nil {
		return "", fmt.Errorf("the page needs the report %s.json: %w", name, err)
	}
	var r bench.Report
	if err := json.Unmarshal(b, &r); err != nil {
		return "", fmt.Errorf("%s.json: %w", name, err)
	}
	verdict := "every invariant held on both engines"
	if !r.OK {
		verdict = "an invariant broke or an order did not finish (see the report)"
	}
	head := fmt.Sprintf("Measured on: %s, %s; `%s`; %s. Report: [%s.md](%s/%s.md).\n",
		r.Machine.StackText(), r.Date.UTC().Format("2006-01-02 15:04 UTC"), r.Command, verdict, name, rel, name)
	return head + r.SectionsMarkdown(4) + "\n", nil
}
