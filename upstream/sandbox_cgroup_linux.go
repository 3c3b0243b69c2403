package upstream

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cgroupPrefix begins the name of every cgroup a supervisor creates; the
// supervisor's pid follows, so that a later supervisor can tell a leftover
// (its owner dead, by SIGKILL) from one in use.
const cgroupPrefix = "secure-mcp-gateway."

// Controllers of cgroup v1 and v2 that enforce each limit.
const (
	ctrlPids   = "pids"
	ctrlMemory = "memory"
	ctrlCPU    = "cpu"
)

// cgroupFix is the remedy named when a limit cannot be enforced.
const cgroupFix = "run the gateway where a cgroup controller is writable (as root with cgroup v1, or under " +
	"`systemd-run --user -p Delegate=yes` with cgroup v2), or remove the limit from the server's sandbox"

// cgroupMount is where a controller can be used: the directory of this
// process's own cgroup in that hierarchy.
type cgroupMount struct {
	dir string // the process's cgroup directory
	v2  bool
}

// findCgroup returns where controller can hold a child cgroup of this
// process's: a cgroup v2 directory whose cgroup.subtree_control enables it
// (delegated), else the cgroup v1 hierarchy that carries it.
func findCgroup(controller string) (cgroupMount, error) {
	mounts, err := cgroupMounts()
	if err != nil {
		return cgroupMount{}, err
	}
	own, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return cgroupMount{}, fmt.Errorf("read /proc/self/cgroup: %w", err)
	}
	var v1 cgroupMount
	for line := range strings.Lines(string(own)) {
		parts := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(parts) != 3 {
			continue
		}
		ctrls, path := parts[1], parts[2]
		if ctrls == "" && parts[0] == "0" { // the v2 hierarchy
			if mnt, ok := mounts["cgroup2"]; ok {
				dir := filepath.Join(mnt, path)
				if b, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control")); err == nil &&
					containsField(string(b), controller) {
					return cgroupMount{dir: dir, v2: true}, nil
				}
			}
			continue
		}
		for c := range strings.SplitSeq(ctrls, ",") {
			if c != controller {
				continue
			}
			if mnt, ok := mounts[controller]; ok {
				v1 = cgroupMount{dir: filepath.Join(mnt, path)}
			}
		}
	}
	if v1.dir == "" {
		return cgroupMount{}, fmt.Errorf("no cgroup v1 %q hierarchy and no delegated cgroup v2 %q controller", controller, controller)
	}
	return v1, nil
}

// cgroupMounts maps each cgroup v1 controller to its mount point, and
// "cgroup2" to the v2 mount point, from /proc/self/mountinfo.
func cgroupMounts() (map[string]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent maj:min root mountpoint opts [optional…] - fstype source superopts
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 5 || len(qf) < 3 {
			continue
		}
		switch qf[0] {
		case "cgroup2":
			out["cgroup2"] = pf[4]
		case "cgroup":
			for o := range strings.SplitSeq(qf[2], ",") {
				if _, dup := out[o]; !dup {
					out[o] = pf[4]
				}
			}
		}
	}
	return out, sc.Err()
}

func containsField(s, f string) bool {
	for x := range strings.FieldsSeq(s) {
		if x == f {
			return true
		}
	}
	return false
}

// cgroupLimit is one limit and the cgroup files that enforce it.
type cgroupLimit struct {
	controller string
	what       string            // the config field, for errors
	v1, v2     map[string]string // file → value; the first file is required
	order      []string          // v1 file order (the rest are best effort)
	order2     []string
}

// cgroupLimits returns the cgroup settings that enforce l.
func cgroupLimits(l Limits) []cgroupLimit {
	var out []cgroupLimit
	if l.Pids > 0 {
		n := strconv.Itoa(l.Pids)
		out = append(out, cgroupLimit{
			controller: ctrlPids, what: "pids_limit",
			v1: map[string]string{"pids.max": n}, order: []string{"pids.max"},
			v2: map[string]string{"pids.max": n}, order2: []string{"pids.max"},
		})
	}
	if l.MemoryBytes > 0 {
		n := strconv.FormatInt(l.MemoryBytes, 10)
		out = append(out, cgroupLimit{
			controller: ctrlMemory, what: "memory_limit",
			v1:     map[string]string{"memory.limit_in_bytes": n, "memory.memsw.limit_in_bytes": n},
			order:  []string{"memory.limit_in_bytes", "memory.memsw.limit_in_bytes"},
			v2:     map[string]string{"memory.max": n, "memory.swap.max": "0"},
			order2: []string{"memory.max", "memory.swap.max"},
		})
	}
	if l.CPUs > 0 {
		const period = 100000
		quota := strconv.Itoa(max(1000, int(l.CPUs*period)))
		out = append(out, cgroupLimit{
			controller: ctrlCPU, what: "cpu_limit",
			v1:     map[string]string{"cpu.cfs_period_us": strconv.Itoa(period), "cpu.cfs_quota_us": quota},
			order:  []string{"cpu.cfs_period_us", "cpu.cfs_quota_us"},
			v2:     map[string]string{"cpu.max": quota + " " + strconv.Itoa(period)},
			order2: []string{"cpu.max"},
		})
	}
	return out
}

// setupCgroups creates one cgroup per controller that l needs, named after
// this process, with l's limits written, and returns the cgroup.procs files
// to join and a function that removes the cgroups once they are empty. It
// first removes the leftovers of supervisors that died without cleaning up,
// killing whatever still runs in them. Any limit it cannot write fails the
// whole setup with a *SandboxError naming the limit.
func setupCgroups(l Limits) (procs []string, cleanup func(), err error) {
	var dirs []string
	cleanup = func() {
		for _, d := range dirs {
			removeCgroup(d)
		}
	}
	name := cgroupPrefix + strconv.Itoa(os.Getpid())
	for _, lim := range cgroupLimits(l) {
		fail := func(err error) ([]string, func(), error) {
			cleanup()
			return nil, nil, &SandboxError{
				Runtime: "cgroup " + lim.controller,
				Err:     fmt.Errorf("%s cannot be enforced: %w", lim.what, err),
				Fix:     cgroupFix,
			}
		}
		m, err := findCgroup(lim.controller)
		if err != nil {
			return fail(err)
		}
		sweepLeftoverCgroups(m.dir)
		dir := filepath.Join(m.dir, name)
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fail(err)
		}
		dirs = append(dirs, dir)
		files, order := lim.v1, lim.order
		if m.v2 {
			files, order = lim.v2, lim.order2
		}
		for i, f := range order {
			if err := os.WriteFile(filepath.Join(dir, f), []byte(files[f]), 0); err != nil && i == 0 {
				return fail(err)
			}
		}
		procs = append(procs, filepath.Join(dir, "cgroup.procs"))
	}
	return procs, cleanup, nil
}

// removeCgroup removes an emptied cgroup, waiting briefly for the kernel to
// let go of exited tasks.
func removeCgroup(dir string) {
	for range 100 {
		if err := syscall.Rmdir(dir); err == nil || errors.Is(err, syscall.ENOENT) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sweepLeftoverCgroups removes the cgroups under parent left by supervisors
// that are gone, SIGKILLing any process still in them first.
func sweepLeftoverCgroups(parent string) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), cgroupPrefix)
		if !ok || !e.IsDir() {
			continue
		}
		owner, err := strconv.Atoi(rest)
		if err != nil || owner == os.Getpid() || syscall.Kill(owner, 0) == nil {
			continue
		}
		dir := filepath.Join(parent, e.Name())
		for range 10 {
			b, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
			if len(strings.TrimSpace(string(b))) == 0 {
				break
			}
			for f := range strings.FieldsSeq(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
		_ = syscall.Rmdir(dir)
	}
}

// limitedCommand sets up the cgroups of o.Limits and returns the command of
// the supervisor's second stage, which joins them, sets RLIMIT_NOFILE and
// execs argv in place, so that no process of the upstream ever runs outside
// its limits.
func (o *supervisorArgs) limitedCommand(self []string, argv []string) (*exec.Cmd, func(), error) {
	procs, cleanup, err := setupCgroups(o.Limits)
	if err != nil {
		return nil, nil, err
	}
	stage := &supervisorArgs{exec: true, join: procs, Limits: Limits{NoFile: o.NoFile}}
	args := append(append(append([]string{}, self[1:]...), stage.args()...), argv...)
	return exec.Command(self[0], args...), cleanup, nil
}

// execLimited is the supervisor's second stage: it joins the cgroups, sets
// RLIMIT_NOFILE and replaces itself with argv. It returns only on failure.
func execLimited(o *supervisorArgs, argv []string) int {
	for _, p := range o.join {
		if err := os.WriteFile(p, []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
			fmt.Fprintf(os.Stderr, "upstream-supervisor: join cgroup %s: %v\n", filepath.Dir(p), err)
			return 126
		}
	}
	if o.NoFile > 0 {
		rl := syscall.Rlimit{Cur: o.NoFile, Max: o.NoFile}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			fmt.Fprintf(os.Stderr, "upstream-supervisor: set RLIMIT_NOFILE to %d: %v\n", o.NoFile, err)
			return 126
		}
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "upstream-supervisor: %v\n", err)
		return 127
	}
	err = syscall.Exec(path, argv, os.Environ())
	fmt.Fprintf(os.Stderr, "upstream-supervisor: exec %s: %v\n", argv[0], err)
	return 127
}
