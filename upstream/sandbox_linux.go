package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// bwrapProblem says why bubblewrap cannot sandbox here, or nil when it can:
// it runs `bwrap` once, with the namespaces a sandbox uses, and remembers
// the answer.
var bwrapProblem = sync.OnceValue(func() error {
	bw, err := exec.LookPath("bwrap")
	if err != nil {
		return errors.New("bwrap is not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bw, "--die-with-parent", "--unshare-user", "--unshare-pid", "--unshare-ipc",
		"--unshare-uts", "--unshare-net", "--ro-bind", "/", "/", "--proc", "/proc", "--", "true")
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("bwrap cannot create its namespaces (user namespaces disabled?): %w: %s", err,
			strings.TrimSpace(stderr.String()))
	}
	return nil
})

// checkLimits reports, as a *SandboxError, a limit of l that no cgroup
// controller here can enforce, before anything is started. The supervisor
// sets the limits up; this check only gives the user the reason early.
func checkLimits(l Limits) error {
	for _, lim := range cgroupLimits(l) {
		m, err := findCgroup(lim.controller)
		if err == nil && unix.Access(m.dir, unix.W_OK) != nil {
			err = fmt.Errorf("%s is not writable", m.dir)
		}
		if err != nil {
			return &SandboxError{Runtime: "cgroup " + lim.controller,
				Err: fmt.Errorf("%s cannot be enforced: %w", lim.what, err), Fix: cgroupFix}
		}
	}
	return nil
}

// processAlive reports whether pid runs.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Mechanisms reports which sandbox runtimes and containment mechanisms work
// on this machine, for `system health-check`.
func Mechanisms() []Mechanism {
	var out []Mechanism
	add := func(name string, err error, ok string) {
		m := Mechanism{Name: name, OK: err == nil, Detail: ok}
		if err != nil {
			m.Detail = err.Error()
		}
		out = append(out, m)
	}
	add("bwrap", bwrapProblem(), "bubblewrap works with user, pid, ipc, uts and network namespaces")
	for _, e := range []string{RuntimeDocker, RuntimePodman} {
		add(e, engineProblem(e), e+" engine answers")
	}
	for _, c := range []struct {
		ctrl string
		l    Limits
	}{{ctrlPids, Limits{Pids: 1}}, {ctrlMemory, Limits{MemoryBytes: 1}}, {ctrlCPU, Limits{CPUs: 1}}} {
		err := checkLimits(c.l)
		detail := ""
		if err == nil {
			m, _ := findCgroup(c.ctrl)
			detail = "cgroup v1 " + c.ctrl + " at " + m.dir
			if m.v2 {
				detail = "cgroup v2 (delegated) " + c.ctrl + " at " + m.dir
			}
		}
		add("limit "+c.ctrl, err, detail)
	}
	add("setsid containment", unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0),
		"the upstream supervisor is a child subreaper and sweeps every descendant")
	return out
}
