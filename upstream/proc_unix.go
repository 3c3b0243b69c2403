//go:build unix && !linux

package upstream

import (
	"os"
	"syscall"
)

// sysProcAttr puts the child in a process group of its own, so that the
// whole tree (npx → node, sh -c → server) can be killed at once. This
// platform has no parent-death signal: if the gateway is killed, children
// see their stdin close and are expected to exit.
func sysProcAttr(bool) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// killTree sends SIGKILL to the process group led by p.
func killTree(p *os.Process, _ bool) { _ = syscall.Kill(-p.Pid, syscall.SIGKILL) }
