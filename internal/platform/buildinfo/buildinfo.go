// Package buildinfo says which build of the commands is running.
package buildinfo

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"time"
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

// BuildID names the code of the running binary for Temporal's Worker
// Versioning: the commit's time and revision, e.g.
// "20261207T043000Z-9aaae22d0123", so that IDs sort by commit time
// (BuildIDTime reads it back). A build with local changes adds
// "-modified-" and a hash of the executable, and a build without
// version-control information (a source tree without .git, as in the
// container image) is "devel-" and that hash: two different builds never
// share an ID.
func BuildID() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel-" + executableHash()
	}
	return buildID(bi, executableHash)
}

func buildID(bi *debug.BuildInfo, hash func() string) string {
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	rev, at := settings["vcs.revision"], settings["vcs.time"]
	t, err := time.Parse(time.RFC3339, at)
	if rev == "" || err != nil {
		return "devel-" + hash()
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	id := t.UTC().Format(buildIDTime) + "-" + rev
	if settings["vcs.modified"] == "true" {
		id += "-modified-" + hash()
	}
	return id
}

const buildIDTime = "20060102T150405Z"

// BuildIDTime is the commit time a build ID made by BuildID starts with;
// ok is false for any other ID.
func BuildIDTime(id string) (t time.Time, ok bool) {
	head, _, _ := strings.Cut(id, "-")
	t, err := time.Parse(buildIDTime, head)
	return t, err == nil
}

// executableHash is the first 12 hex digits of the SHA-256 of the running
// executable, or "unknown" when it cannot be read.
func executableHash() string {
	path, err := os.Executable()
	if err != nil {
		return "unknown"
	}
	f, err := os.Open(path)
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "unknown"
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}
