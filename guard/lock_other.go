//go:build !unix

package guard

import (
	"errors"
	"io/fs"
	"os"
	"time"
)

// lockPath takes an exclusive lock by creating name exclusively, retrying
// for up to ten seconds.
func lockPath(name string) (func(), error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
		if err == nil {
			f.Close()
			return func() { os.Remove(name) }, nil
		}
		if !errors.Is(err, fs.ErrExist) || time.Now().After(deadline) {
			return nil, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}
