package upstream

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
)

// Supervise runs argv as a child that shares this process's stdio and
// process group, and returns the exit code to exit with. It is the body of
// the gateway's hidden "upstream-supervisor" command (see
// Options.Supervisor).
//
// The pool starts the supervisor as the leader of a new process group with
// SIGTERM as its parent-death signal. When the gateway dies, by any means,
// or asks the upstream to stop with SIGTERM, the supervisor SIGKILLs its whole
// group, taking the upstream and everything the upstream started with it.
func Supervise(argv []string) int {
	if len(argv) == 0 {
		fmt.Fprintln(os.Stderr, "upstream-supervisor: no command")
		return 2
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	// The gateway may have died before the handler was in place.
	if os.Getppid() == 1 {
		killGroup()
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "upstream-supervisor: %v\n", err)
		return 127
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-sigs:
		killGroup()
		return 137 // not reached: killGroup kills this process too
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				return 128 + int(ws.Signal())
			}
			return ee.ExitCode()
		}
		if err != nil {
			return 1
		}
		return 0
	}
}

func killGroup() { _ = syscall.Kill(-syscall.Getpgrp(), syscall.SIGKILL) }
