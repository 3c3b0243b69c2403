package upstream_test

import (
	"errors"
	"os"
	"syscall"
	"testing"

	"secure-mcp-gateway/upstream"
)

// supervisorOpts runs children under this test binary acting as the
// upstream supervisor (see TestMain).
func supervisorOpts() *upstream.Options {
	return &upstream.Options{Supervisor: []string{os.Args[0], "upstream-supervisor"}}
}

type escaped struct {
	Setsid int `json:"setsid"`
	Orphan int `json:"orphan"`
	PID    int `json:"pid"`
}

// TestSupervisorSweepsSetsidDescendants: processes that left the upstream's
// process group with setsid(), one still its child and one orphaned (and so
// re-parented to the supervisor, the subreaper), die when the pool closes,
// and when the upstream crashes.
func TestSupervisorSweepsSetsidDescendants(t *testing.T) {
	for _, end := range []string{"close", "crash"} {
		t.Run(end, func(t *testing.T) {
			spec := probeSpec("sp", nil)
			spec.Env[envExample] = "sandboxprobe"
			p := upstream.NewPool([]upstream.Spec{spec}, supervisorOpts())
			t.Cleanup(func() { _ = p.Close() })
			cs := session(t, p, "sp")
			var e escaped
			call(t, cs, "escape", nil, &e)
			for _, pid := range []int{e.Setsid, e.Orphan} {
				if !alive(pid) {
					t.Fatalf("escaped process %d not running", pid)
				}
			}
			switch end {
			case "close":
				if err := p.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			default: // the upstream dies; its supervisor sweeps
				if err := syscall.Kill(e.PID, syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, "the setsid() escapees to die", func() bool { return !alive(e.Setsid) && !alive(e.Orphan) })
		})
	}
}

// TestSupervisorLimits: a pids limit holds for the upstream and everything
// it starts, though the tests may run as root, whom RLIMIT_NPROC does not
// bind. It is skipped, with the reason, where no cgroup pids controller is
// writable.
func TestSupervisorLimits(t *testing.T) {
	const forks, limit = 60, 30
	spec := probeSpec("sp", nil)
	spec.Env[envExample] = "sandboxprobe"
	spec.Sandbox = &upstream.Sandbox{Limits: upstream.Limits{Pids: limit, NoFile: 128}}
	p := newPool(t, []upstream.Spec{spec}, supervisorOpts())
	cs, err := p.Session(t.Context(), "sp")
	var se *upstream.SandboxError
	if errors.As(err, &se) {
		t.Skipf("no writable cgroup pids controller here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Forked int `json:"forked"`
	}
	call(t, cs, "probe", map[string]any{"fork": forks}, &r)
	if r.Forked >= limit {
		t.Errorf("started %d of %d processes under pids limit %d", r.Forked, forks, limit)
	}
}
