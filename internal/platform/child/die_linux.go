// Package child runs the child processes of a process: the servers of a
// test, the worker processes of an experiment.
package child

import (
	"os/exec"
	"syscall"
)

// DieWithParent makes cmd's process get SIGKILL when the process that
// started it dies (Linux's parent-death signal), so a test binary that
// panics or is killed leaves no redis-server, Temporal server or worker
// running (a starter that dies leaves no worker it started). Call it before cmd.Start; it keeps the SysProcAttr already set.
func DieWithParent(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
