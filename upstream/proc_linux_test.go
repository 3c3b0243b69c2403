package upstream_test

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/upstream"
)

// alive reports whether pid is a live (not zombie) process. A killed
// grandchild whose parent died is reparented, and may stay a zombie for a
// while if the new parent is slow to reap it.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func TestCloseReapsProcessGroup(t *testing.T) {
	// A TerminateTimeout this long shows that Close does not wait for it when
	// the child exits on stdin EOF.
	p := upstream.NewPool([]upstream.Spec{probeSpec("probe", nil)}, &upstream.Options{TerminateTimeout: time.Hour})
	cs := session(t, p, "probe")
	var child, grandchild pidOut
	call(t, cs, "pid", nil, &child)
	call(t, cs, "spawn_grandchild", nil, &grandchild)
	if grandchild.PGID != child.PID {
		t.Fatalf("grandchild in group %d, want the child's %d", grandchild.PGID, child.PID)
	}

	done := make(chan error, 1)
	go func() { done <- p.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(30 * time.Second): // a hang detector, not a timing assertion
		t.Fatal("Close hangs")
	}
	waitFor(t, "the child and grandchild to die", func() bool {
		return !alive(child.PID) && !alive(grandchild.PID)
	})
}

func TestCrashKillsGrandchildren(t *testing.T) {
	p := newPool(t, []upstream.Spec{probeSpec("probe", nil)}, nil)
	cs := session(t, p, "probe")
	var grandchild pidOut
	call(t, cs, "spawn_grandchild", nil, &grandchild)
	_, _ = cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "crash", Arguments: map[string]any{"code": 1}})
	waitFor(t, "the grandchild of the crashed child to die", func() bool { return !alive(grandchild.PID) })
}
