//go:build unix

package examples

import (
	"os/exec"
	"syscall"
)

// processGroup returns the process group of this process.
func processGroup() int { return syscall.Getpgrp() }

// spawnGrandchild starts `sleep 1000` in this process's group, with no
// inherited stdio so that it cannot hold the upstream's pipes open, and reaps
// it in the background for as long as this process lives.
func spawnGrandchild() (int, error) {
	cmd := exec.Command("sleep", "1000")
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	go func() { _ = cmd.Wait() }()
	return cmd.Process.Pid, nil
}
