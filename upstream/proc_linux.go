package upstream

import (
	"os"
	"syscall"
)

// sysProcAttr puts the child in a process group of its own, so that the
// whole tree (npx → node, sh -c → server) can be killed at once, and has the
// kernel signal it if the gateway dies without cleaning up: SIGKILL for a
// direct child, SIGTERM for a supervisor, which then kills its whole group
// (see Supervise). (Pdeathsig fires when the forking OS thread exits; the Go
// runtime keeps its threads unless a goroutine exits while locked to one,
// which nothing here does.)
func sysProcAttr(supervised bool) *syscall.SysProcAttr {
	sig := syscall.SIGKILL
	if supervised {
		sig = syscall.SIGTERM
	}
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: sig}
}

// killTree sends SIGKILL to the process group led by p.
func killTree(p *os.Process) { _ = syscall.Kill(-p.Pid, syscall.SIGKILL) }
