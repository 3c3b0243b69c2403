package upstream

import (
	"os"
	"syscall"
)

// sysProcAttr puts the child in a process group of its own, so that the
// whole tree (npx → node, sh -c → server) can be killed at once, and has the
// kernel signal it if the gateway dies without cleaning up: SIGKILL for a
// direct child, SIGTERM for a supervisor, which then kills every descendant
// it has, even those that left the group with setsid() (see Supervise).
// (Pdeathsig fires when the forking OS thread exits; the Go runtime keeps its
// threads unless a goroutine exits while locked to one, which nothing here
// does.)
func sysProcAttr(supervised bool) *syscall.SysProcAttr {
	sig := syscall.SIGKILL
	if supervised {
		sig = syscall.SIGTERM
	}
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: sig}
}

// killTree ends the tree of p. A supervisor is sent SIGTERM, on which it
// SIGKILLs all its descendants, group or not, and exits; SIGKILLing its group
// instead could kill it before it had swept the processes that left the
// group. Once p has exited (its Signal fails), or for an unsupervised child,
// the process group led by p is SIGKILLed.
func killTree(p *os.Process, supervised bool) {
	if supervised && p.Signal(syscall.SIGTERM) == nil {
		return
	}
	_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
}
