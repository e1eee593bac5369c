// Package buildinfo says which build of the commands is running.
package buildinfo

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// Version describes the running binary: its module's version and the
// version-control revision it was built from, as the Go toolchain stamped
// them, e.g. "ordersaga (devel) revision 9aaae22 (modified) built with go1.26.8".
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown (no build information)"
	}
	return describe(bi)
}

func describe(bi *debug.BuildInfo) string {
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	version := bi.Main.Version
	if version == "" {
		version = "(unknown)"
	}
	rev := settings["vcs.revision"]
	if rev == "" {
		rev = "unknown"
	} else if len(rev) > 12 {
		rev = rev[:12]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s revision %s", bi.Main.Path, version, rev)
	if t := settings["vcs.time"]; t != "" {
		fmt.Fprintf(&b, " (%s)", t)
	}
	if settings["vcs.modified"] == "true" {
		b.WriteString(" with local changes")
	}
	fmt.Fprintf(&b, " built with %s", bi.GoVersion)
	return b.String()
}
