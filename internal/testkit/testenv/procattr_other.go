//go:build !linux

package testenv

import "os/exec"

// DieWithParent does nothing outside Linux, which alone has a parent-death
// signal: children of a test process that dies there keep running.
func DieWithParent(*exec.Cmd) {}
