package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestDescribe(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/ordersaga/ordersaga", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "9aaae22d0123456789abcdef"}, {Key: "vcs.time", Value: "2026-01-02T03:04:05Z"}, {Key: "vcs.modified", Value: "true"}}}
	got := describe(bi)
	for _, want := range []string{"github.com/ordersaga/ordersaga v1.2.3", "revision 9aaae22d0123", "2026-01-02T03:04:05Z", "with local changes", "go1.26.8"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
	if got := describe(&debug.BuildInfo{Main: debug.Module{Path: "m"}}); !strings.Contains(got, "revision unknown") {
		t.Errorf("without VCS information: %q", got)
	}
}
