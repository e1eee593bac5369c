package testenv

import (
	"os/exec"

	"github.com/ordersaga/ordersaga/internal/platform/child"
)

// DieWithParent makes cmd's process die with the test process that starts
// it (child.DieWithParent): a test that dies leaves no server behind.
func DieWithParent(cmd *exec.Cmd) { child.DieWithParent(cmd) }
