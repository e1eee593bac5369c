package bench_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/ordersaga/ordersaga/internal/app/bench"
)

func TestCommandLine(t *testing.T) {
	got := bench.CommandLine([]string{"--mode", "both", "--faults", "payment=decline:0.1", "--report", "my report.md", "--stack", "", "--id", "it's"})
	if want := `starter bench --mode both --faults payment=decline:0.1 --report 'my report.md' --stack '' --id 'it'\''s'`; got != want {
		t.Errorf("CommandLine = %q, want %q", got, want)
	}
	got = bench.CommandLine([]string{"--api-key", "key-secret-1", "-n", "prod", "-api-key=key-secret-2"})
	if want := `starter bench --api-key xxxxx -n prod -api-key=xxxxx`; got != want {
		t.Errorf("CommandLine = %q, want %q: the API key masked", got, want)
	}
}

func TestWrittenText(t *testing.T) {
	for _, c := range []struct {
		files []string
		want  string
	}{
		{[]string{"r.html"}, "report written to r.html"},
		{[]string{"d/r.md", "d/r-latency-orchestration.svg"}, "report written to d/r.md (and its chart d/r-latency-orchestration.svg)"},
		{[]string{"d/r.md", "d/r-latency-orchestration.svg", "d/r-throughput-orchestration.svg"},
			"report written to d/r.md (and 2 charts next to it: r-latency-orchestration.svg, …)"},
	} {
		if got := bench.WrittenText(c.files); got != c.want {
			t.Errorf("WrittenText(%q) = %q, want %q", c.files, got, c.want)
		}
	}
}

func TestStartCPUProfile(t *testing.T) {
	stop, err := bench.StartCPUProfile("")
	if err != nil || stop() != nil {
		t.Fatalf("no profile: %v", err)
	}
	file := filepath.Join(t.TempDir(), "cpu.pprof")
	stop, err = bench.StartCPUProfile(file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bench.StartCPUProfile(filepath.Join(t.TempDir(), "second.pprof")); err == nil {
		t.Error("a second profile started while one runs")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(file); err != nil || st.Size() == 0 {
		t.Errorf("profile %s: %v, want a non-empty file", file, err)
	}
	_, err = bench.StartCPUProfile(filepath.Join(t.TempDir(), "missing", "cpu.pprof"))
	if _, ok := errors.AsType[*fs.PathError](err); !ok {
		t.Errorf("a file in a missing directory: %v, want an *fs.PathError", err)
	}
}
