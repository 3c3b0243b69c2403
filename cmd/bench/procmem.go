package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// What the bench reads of a process from /proc (Linux only; elsewhere every
// figure is zero).

// rssMB reads VmRSS of pid from /proc (Linux); 0 elsewhere.
func rssMB(pid int) float64 {
	if runtime.GOOS != "linux" {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// cpuTime reads the user+system CPU time of pid (all its threads, not its
// children) from /proc (Linux); 0 elsewhere.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses.
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / clockTicks
}

// clockTicks is USER_HZ, 100 on every Linux platform Go supports.
const clockTicks = 100

// cpuTimes sums cpuTime over pids.
func cpuTimes(pids []int) time.Duration {
	var d time.Duration
	for _, p := range pids {
		d += cpuTime(p)
	}
	return d
}

// descendants returns the pids of pid's children, grandchildren and so
// on, read from /proc/PID/task/*/children (every thread's own children).
func descendants(pid int) []int {
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", p))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			for _, s := range strings.Fields(string(b)) {
				if c, err := strconv.Atoi(s); err == nil && !slices.Contains(out, c) {
					out = append(out, c)
					queue = append(queue, c)
				}
			}
		}
	}
	return out
}

// rollup is a process's memory from /proc/PID/smaps_rollup, in MB.
type rollup struct{ RSS, PSS float64 }

// readRollup reads pid's smaps_rollup; zero if it cannot (the process is
// gone, or this is not Linux).
func readRollup(pid int) rollup {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return rollup{}
	}
	var r rollup
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "Rss:":
			r.RSS = kb / 1024
		case "Pss:":
			r.PSS = kb / 1024
		}
	}
	return r
}

// memSample is the memory of a gateway and of its process tree.
type memSample struct {
	Gateway rollup `json:"gateway"` // the gateway process alone
	Tree    rollup `json:"tree"`    // the gateway and all its descendants, summed
	Procs   int    `json:"procs"`   // processes in the tree, the gateway included
}

// sampleTree reads the memory of pid and of all its descendants.
func sampleTree(pid int) memSample {
	s := memSample{Gateway: readRollup(pid), Procs: 1}
	s.Tree = s.Gateway
	for _, c := range descendants(pid) {
		r := readRollup(c)
		if r.RSS == 0 {
			continue // gone meanwhile
		}
		s.Tree.RSS += r.RSS
		s.Tree.PSS += r.PSS
		s.Procs++
	}
	return s
}

// settleSamples is how many consecutive samples must agree for memory to
// count as settled, and settleEvery how far apart they are taken.
const (
	settleSamples = 3
	settleEvery   = 500 * time.Millisecond
	settleMaxWait = 60 * time.Second
)

// settled reports whether the last settleSamples samples agree: the
// gateway's RSS and the tree's PSS each within 1 % or 0.5 MB of one
// another, and the same number of processes.
func settled(samples []memSample) bool {
	if len(samples) < settleSamples {
		return false
	}
	last := samples[len(samples)-settleSamples:]
	near := func(f func(memSample) float64) bool {
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, s := range last {
			lo, hi = min(lo, f(s)), max(hi, f(s))
		}
		return hi-lo <= max(0.5, 0.01*hi)
	}
	for _, s := range last[1:] {
		if s.Procs != last[0].Procs {
			return false
		}
	}
	return near(func(s memSample) float64 { return s.Gateway.RSS }) &&
		near(func(s memSample) float64 { return s.Tree.PSS })
}

// waitSettled samples pid's tree until its memory settles and returns the
// last sample. Past settleMaxWait it returns the last sample with
// ok false.
func waitSettled(ctx context.Context, pid int) (s memSample, ok bool) {
	var samples []memSample
	deadline := time.Now().Add(settleMaxWait)
	for {
		samples = append(samples, sampleTree(pid))
		if settled(samples) {
			return samples[len(samples)-1], true
		}
		if time.Now().After(deadline) {
			return samples[len(samples)-1], false
		}
		select {
		case <-ctx.Done():
			return samples[len(samples)-1], false
		case <-time.After(settleEvery):
		}
	}
}
