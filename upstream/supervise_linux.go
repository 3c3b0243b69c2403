package upstream

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// sweepTimeout bounds the sweep of a supervisor's descendants: a process in
// uninterruptible sleep cannot be killed until it wakes.
const sweepTimeout = 5 * time.Second

// Supervise runs argv as a child that shares this process's stdio, and
// returns the exit code to exit with. It is the body of the gateway's hidden
// "upstream-supervisor" command (see Options.Supervisor).
//
// argv may begin with supervisor options, ended by "--" (see
// [supervisorArgs]): resource limits to apply to the child and everything
// it starts.
//
// The pool starts the supervisor as the leader of a new process group with
// SIGTERM as its parent-death signal. The supervisor makes itself the child
// subreaper of its subtree (PR_SET_CHILD_SUBREAPER), so that a descendant
// orphaned by its parent, even one that left the process group and the
// session with setsid(), is re-parented to it rather than to init. When the
// gateway dies, by any means, or asks the upstream to stop with SIGTERM, and
// equally when the upstream exits on its own, the supervisor SIGKILLs every
// descendant it has, walking the process tree until none is left, before it
// exits itself. Nothing the upstream started outlives it.
func Supervise(argv []string) int {
	// This process's own command line up to argv, to re-run it as the
	// second stage of a limited upstream.
	self := append([]string{"/proc/self/exe"}, os.Args[1:max(1, len(os.Args)-len(argv))]...)
	opts, argv, err := parseSupervisorArgs(argv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "upstream-supervisor: %v\n", err)
		return 2
	}
	if opts.exec {
		return execLimited(opts, argv)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	// Without the subreaper a setsid() grandchild would escape: fail closed.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintf(os.Stderr, "upstream-supervisor: become child subreaper: %v\n", err)
		return 126
	}
	// The gateway may have died before the handler was in place.
	if os.Getppid() == 1 {
		return 137
	}
	cmd, cleanup, err := opts.command(self, argv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "upstream-supervisor: %v\n", err)
		return 126
	}
	defer cleanup()
	if opts.container != "" {
		defer removeContainer(opts.engine, opts.container)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// Should this process be SIGKILLed, the upstream dies with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "upstream-supervisor: %v\n", err)
		return 127
	}
	done := make(chan syscall.WaitStatus, 1)
	go reapUntil(cmd.Process.Pid, done)
	select {
	case <-sigs:
		sweep()
		return 137
	case ws := <-done:
		sweep()
		switch {
		case ws.Signaled():
			return 128 + int(ws.Signal())
		default:
			return ws.ExitStatus()
		}
	}
}

// reapUntil reaps every child of this process, the direct upstream and any
// orphan re-parented here, until the upstream (pid) has exited, whose status
// it sends on done.
func reapUntil(pid int, done chan<- syscall.WaitStatus) {
	for {
		var ws syscall.WaitStatus
		got, err := syscall.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil { // ECHILD: the upstream is already gone
			done <- ws
			return
		}
		if got == pid {
			done <- ws
			return
		}
	}
}

// sweep SIGKILLs every descendant of this process until none is left alive,
// reaping those re-parented here. A descendant that forks while being swept
// has its child re-parented here (this process is the subreaper) and found by
// the next pass.
func sweep() {
	self := os.Getpid()
	deadline := time.Now().Add(sweepTimeout)
	for {
		pids := descendants(self)
		if len(pids) == 0 || time.Now().After(deadline) {
			break
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		reapAll()
		time.Sleep(time.Millisecond) // let the kernel deliver the kills
	}
	reapAll()
}

// reapAll reaps every child of this process that has exited, without
// blocking.
func reapAll() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
	}
}

// descendants returns the live (not zombie) descendants of root, found by
// walking the parent links of every process in /proc. A zombie's children
// are walked too: they have not yet been re-parented.
func descendants(root int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	zombie := map[int]bool{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ppid, state, ok := procStat(pid)
		if !ok {
			continue
		}
		children[ppid] = append(children[ppid], pid)
		zombie[pid] = state == 'Z' || state == 'X'
	}
	var out []int
	queue := []int{root}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		for _, c := range children[pid] {
			if !zombie[c] {
				out = append(out, c)
			}
			queue = append(queue, c)
		}
	}
	return out
}

// procStat returns the parent pid and state of pid from /proc/PID/stat.
func procStat(pid int) (ppid int, state byte, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// pid (comm) state ppid …; comm may hold spaces and parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 || len(f[0]) != 1 {
		return 0, 0, false
	}
	ppid, err = strconv.Atoi(f[1])
	if err != nil {
		return 0, 0, false
	}
	return ppid, f[0][0], true
}

// command returns the command that runs argv under opts and a function that
// releases what was set up for it once the upstream and its descendants are
// gone.
func (o *supervisorArgs) command(self, argv []string) (*exec.Cmd, func(), error) {
	if !o.limited() {
		return exec.Command(argv[0], argv[1:]...), func() {}, nil
	}
	return o.limitedCommand(self, argv)
}
