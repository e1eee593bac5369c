package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"
	"time"
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

func TestBuildID(t *testing.T) {
	hash := func() string { return "abcdef012345" }
	vcs := func(modified string) *debug.BuildInfo {
		return &debug.BuildInfo{Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "9aaae22d0123456789abcdef"},
			{Key: "vcs.time", Value: "2026-01-02T03:04:05+01:00"}, {Key: "vcs.modified", Value: modified}}}
	}
	for _, c := range []struct {
		bi   *debug.BuildInfo
		want string
	}{
		{vcs("false"), "20260102T020405Z-9aaae22d0123"},
		{vcs("true"), "20260102T020405Z-9aaae22d0123-modified-abcdef012345"},
		{&debug.BuildInfo{}, "devel-abcdef012345"},
	} {
		got := buildID(c.bi, hash)
		if got != c.want {
			t.Errorf("buildID = %q, want %q", got, c.want)
		}
		at, ok := BuildIDTime(got)
		if wantOK := !strings.HasPrefix(c.want, "devel"); ok != wantOK || (ok && !at.Equal(time.Date(2026, 1, 2, 2, 4, 5, 0, time.UTC))) {
			t.Errorf("BuildIDTime(%q) = %v, %v", got, at, ok)
		}
	}
	if id := BuildID(); id == "" || strings.ContainsAny(id, " /:") {
		t.Errorf("BuildID() = %q, want a non-empty ID without spaces, slashes or colons", id)
	}
}
