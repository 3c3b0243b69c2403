package promtext

import (
	"bytes"
	"os"
	"strconv"
	"sync"
)

// userHZ is the unit of the times in /proc/<pid>/stat; Linux fixes it at
// 100 for user space on every architecture, whatever the kernel's HZ.
const userHZ = 100

// memory returns the virtual and resident sizes in bytes, from
// /proc/self/statm (sizes in pages).
func memory() (vsz, rss float64, ok bool) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, 0, false
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0, 0, false
	}
	size, err1 := strconv.ParseUint(string(f[0]), 10, 64)
	res, err2 := strconv.ParseUint(string(f[1]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	page := float64(os.Getpagesize())
	return float64(size) * page, float64(res) * page, true
}

// openFDs counts the entries of /proc/self/fd (the directory read itself
// holds one, as it does for the Prometheus client).
func openFDs() (float64, bool) {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return 0, false
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return 0, false
	}
	return float64(len(names)), true
}

var (
	startOnce sync.Once
	startSecs float64
	startOK   bool
)

// processStart returns the start time of the process in seconds since the
// epoch: the boot time from /proc/stat plus the start in clock ticks since
// boot from /proc/self/stat. It does not change, so it is read once.
func processStart() (float64, bool) {
	startOnce.Do(func() {
		startSecs, startOK = readProcessStart()
	})
	return startSecs, startOK
}

func readProcessStart() (float64, bool) {
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, false
	}
	// The command name in parentheses may contain spaces: count fields
	// after its closing parenthesis, where field 3 (state) begins.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	f := bytes.Fields(stat[i+1:])
	const startField = 22 - 3
	if len(f) <= startField {
		return 0, false
	}
	ticks, err := strconv.ParseUint(string(f[startField]), 10, 64)
	if err != nil {
		return 0, false
	}
	sys, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	for line := range bytes.SplitSeq(sys, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
			boot, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 64)
			if err != nil {
				return 0, false
			}
			return float64(boot) + float64(ticks)/userHZ, true
		}
	}
	return 0, false
}
