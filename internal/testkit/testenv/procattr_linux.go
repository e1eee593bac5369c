package testenv

import (
	"os/exec"
	"syscall"
)

// DieWithParent makes cmd's process get SIGKILL when the test process that
// started it dies (Linux's parent-death signal), so a test binary that
// panics or is killed leaves no redis-server, Temporal server or worker
// running. Call it before cmd.Start; it keeps the SysProcAttr already set.
func DieWithParent(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
