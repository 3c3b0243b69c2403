//go:build !unix

package upstream

import (
	"os"
	"syscall"
)

// sysProcAttr returns nil: this platform has no process groups to set up.
// (A Windows job object would be the equivalent; grandchildren are not
// reaped here yet.)
func sysProcAttr(bool) *syscall.SysProcAttr { return nil }

// killTree kills p itself; its descendants are not reached.
func killTree(p *os.Process, _ bool) { _ = p.Kill() }
