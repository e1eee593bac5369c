package experiment_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ordersaga/ordersaga/internal/app/bench"
	"github.com/ordersaga/ordersaga/internal/app/experiment"
)

func TestPage(t *testing.T) {
	dir := t.TempDir()
	rep := &bench.Report{Title: "t", Command: "starter experiment outage", Date: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC), OK: true,
		Machine:  bench.Machine{Stack: "test stack", CPUs: 2, OS: "linux", Arch: "amd64"},
		Sections: []bench.Section{{Title: "The outage", Text: []string{"words"}, Header: []string{"A", "B"}, Rows: [][]string{{"1", "2"}}}}}
	if _, err := rep.WriteReport(filepath.Join(dir, "reports", "outage.json")); err == nil {
		t.Fatal("wrote into a missing directory")
	}
	if err := os.Mkdir(filepath.Join(dir, "reports"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := rep.WriteReport(filepath.Join(dir, "reports", "outage.json")); err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(dir, "page.md")
	text := "# Page\n\nbefore\n\n<!-- experiment: outage -->\nold text\n<!-- /experiment -->\n\nafter\n"
	if err := os.WriteFile(page, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the same page again: the same text
		if err := experiment.Page(page, filepath.Join(dir, "reports")); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(page)
	got := string(b)
	for _, want := range []string{"before\n\n<!-- experiment: outage -->\nMeasured on: test stack", "2026-01-02 03:04 UTC", "[outage.md](reports/outage.md)",
		"\n\n#### The outage\n\nwords\n\n| A | B |\n| --- | --- |\n| 1 | 2 |\n\n<!-- /experiment -->\n\nafter\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("page lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "old text") || strings.Count(got, "Measured on") != 1 {
		t.Errorf("the block was not replaced once:\n%s", got)
	}
	if err := os.WriteFile(page, []byte("<!-- experiment: missing -->\n<!-- /experiment -->\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := experiment.Page(page, filepath.Join(dir, "reports")); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("a missing report: %v", err)
	}
}
