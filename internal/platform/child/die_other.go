//go:build !linux

package child

import "os/exec"

// DieWithParent does nothing outside Linux, which alone has a parent-death
// signal: children of a process that dies there keep running.
func DieWithParent(*exec.Cmd) {}
