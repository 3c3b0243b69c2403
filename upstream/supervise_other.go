//go:build !linux

package upstream

import (
	"fmt"
	"os"
)

// Supervise is only used on Linux, where the pool can make it the
// parent-death target of a process group; elsewhere it refuses to run.
func Supervise(argv []string) int {
	fmt.Fprintln(os.Stderr, "upstream-supervisor: only supported on linux")
	return 2
}
