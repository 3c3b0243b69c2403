//go:build !unix

package examples

import "errors"

// processGroup returns -1: this platform has no process groups.
func processGroup() int { return -1 }

// spawnGrandchild is not supported on this platform.
func spawnGrandchild() (int, error) {
	return 0, errors.New("not supported on this platform")
}
