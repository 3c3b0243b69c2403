//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd || windows)

package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// Lock creates name exclusively, retrying while it exists, and returns
// the function that removes it. It is the fallback for systems without
// flock; a lock file left by a crashed process must be removed by hand, so
// after a minute of waiting the error says so.
func Lock(name string) (func(), error) {
	deadline := time.Now().Add(time.Minute)
	for {
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			f.Close()
			return func() { os.Remove(name) }, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("lock file %s is held; remove it if no other process is running", name)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
