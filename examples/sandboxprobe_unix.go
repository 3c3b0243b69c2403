//go:build unix

package examples

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// escapeGroup starts `sleep 1000` in a new session, as a child reaped in the
// background, and a second one through a shell that also calls setsid() and
// exits at once, orphaning it. Neither inherits the server's stdio.
func escapeGroup() (setsid, orphan int, err error) {
	child := exec.Command("sleep", "1000")
	child.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := child.Start(); err != nil {
		return 0, 0, err
	}
	go func() { _ = child.Wait() }()
	sh := exec.Command("sh", "-c", "sleep 1000 </dev/null >/dev/null 2>&1 & echo $!")
	sh.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	b, err := sh.Output()
	if err != nil {
		return 0, 0, fmt.Errorf("orphan: %w", err)
	}
	orphan, err = strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, 0, fmt.Errorf("orphan pid %q: %w", b, err)
	}
	return child.Process.Pid, orphan, nil
}
