//go:build !unix

package examples

import "errors"

// escapeGroup is not available: this platform has no setsid().
func escapeGroup() (int, int, error) {
	return 0, 0, errors.New("setsid is not available on this platform")
}
