//go:build linux

package main

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pgrpOf returns the process group of pid from /proc, or -1.
func pgrpOf(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 3 {
		return -1
	}
	n, _ := strconv.Atoi(f[2])
	return n
}

// TestE2ESetsidDescendantsDieWithGateway: processes an upstream started that
// left its process group and session with setsid() (one still its child,
// one orphaned at once) die with the gateway, whether it is SIGKILLed or
// exits cleanly on stdin EOF. A process-group kill alone misses both.
func TestE2ESetsidDescendantsDieWithGateway(t *testing.T) {
	for _, end := range []string{"SIGKILL", "stdin EOF"} {
		t.Run(end, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, exampleServer("sp", "sandboxprobe", nil))
			g := startGateway(t, f)
			res := g.call(t, "sp__escape", nil)
			m, ok := res.StructuredContent.(map[string]any)
			if !ok || res.IsError {
				t.Fatalf("escape: %q", resultText(res))
			}
			escaped := []int{int(m["setsid"].(float64)), int(m["orphan"].(float64))}
			upstreamPgrp := int(m["pgid"].(float64))
			t.Cleanup(func() {
				for _, pid := range escaped {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			})
			for _, pid := range escaped {
				if !alive(pid) {
					t.Fatalf("escaped process %d is not running", pid)
				}
				// The test is only worth something if they did leave the
				// group a group kill reaches.
				if got := pgrpOf(pid); got < 0 || got == upstreamPgrp {
					t.Fatalf("process %d is in group %d, want one other than the upstream's %d", pid, got, upstreamPgrp)
				}
			}
			switch end {
			case "SIGKILL":
				if err := g.cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
			default:
				if err := g.cs.Close(); err != nil {
					t.Logf("close: %v", err)
				}
				waitFor(t, 30*time.Second, "the gateway to exit", func() bool { return g.cmd.ProcessState != nil })
			}
			for _, pid := range escaped {
				waitGone(t, pid)
			}
		})
	}
}
