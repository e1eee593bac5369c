package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
)

// CommandLine is the command line that ran `starter bench` with args (the
// words after "bench"), for a report: the process's own when it ran that
// command, otherwise (a test) one rebuilt from args. Words a shell would
// split or expand are quoted; the value of --api-key is masked.
func CommandLine(args []string) string { return CommandLineOf("bench", args) }

// CommandLineOf is CommandLine for the starter's command named command.
func CommandLineOf(command string, args []string) string {
	words := append([]string{"starter", command}, args...)
	if k := len(os.Args) - len(args); k >= 2 && os.Args[k-1] == command && slices.Equal(os.Args[k:], args) {
		words = append([]string{filepath.Base(os.Args[0])}, os.Args[1:]...)
	}
	for i, w := range words {
		name, _, hasValue := strings.Cut(strings.TrimLeft(w, "-"), "=")
		if strings.HasPrefix(w, "-") && name == "api-key" {
			if hasValue {
				words[i] = w[:strings.Index(w, "=")+1] + "xxxxx"
			} else if i+1 < len(words) {
				words[i+1] = "xxxxx"
			}
			continue
		}
		if w == "" || strings.ContainsFunc(w, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,@%+", r))
		}) {
			words[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
		}
	}
	return strings.Join(words, " ")
}

// WriteReports writes the report to each of paths (see WriteReport) and
// returns one line per report saying where it went: its file and its
// charts'.
func (r *Report) WriteReports(paths []string) ([]string, error) {
	var lines []string
	for _, p := range paths {
		files, err := r.WriteReport(p)
		if err != nil {
			return nil, err
		}
		lines = append(lines, WrittenText(files))
	}
	return lines, nil
}

// WrittenText says where a report went, given the files WriteReport wrote.
func WrittenText(files []string) string {
	s := "report written to " + files[0]
	switch n := len(files) - 1; n {
	case 0:
	case 1:
		s += " (and its chart " + files[1] + ")"
	default:
		s += fmt.Sprintf(" (and %d charts next to it: %s, …)", n, filepath.Base(files[1]))
	}
	return s
}

// StartCPUProfile starts the process's CPU profile into a new file ("" for
// none); the function it returns stops the profile and closes the file. A
// file that cannot be created is an *fs.PathError.
func StartCPUProfile(file string) (stop func() error, err error) {
	if file == "" {
		return func() error { return nil }, nil
	}
	out, err := os.Create(file)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(out); err != nil {
		out.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		return out.Close()
	}, nil
}
