//go:build !linux

package upstream

import (
	"errors"
	"os"
)

// bwrapProblem says that bubblewrap is Linux only.
func bwrapProblem() error { return errors.New("bubblewrap runs only on Linux") }

// checkLimits refuses every limit: only the Linux supervisor enforces them.
func checkLimits(l Limits) error {
	if l == (Limits{}) {
		return nil
	}
	return &SandboxError{Runtime: "limits", Err: errors.New("resource limits are enforced only on Linux"), Fix: fixSupervisor}
}

// processAlive reports whether pid runs; where that cannot be told, it
// says yes, so that nothing is removed by mistake.
func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	return err == nil && p != nil
}

// Mechanisms reports which sandbox runtimes work on this machine, for
// `system health-check`.
func Mechanisms() []Mechanism {
	var out []Mechanism
	for _, e := range []string{RuntimeDocker, RuntimePodman} {
		m := Mechanism{Name: e, OK: true, Detail: e + " engine answers"}
		if err := engineProblem(e); err != nil {
			m.OK, m.Detail = false, err.Error()
		}
		out = append(out, m)
	}
	return append(out, Mechanism{Name: "bwrap", Detail: bwrapProblem().Error()},
		Mechanism{Name: "limits", Detail: "resource limits are enforced only on Linux"})
}
