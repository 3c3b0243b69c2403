package proxy

import (
	"errors"
	"fmt"
	"sync"

	"secure-mcp-gateway/guard"
)

// toxicFlow is the session's toxic-flow state: once something an upstream
// sent was blocked for a prompt injection, tools that may reach the outside
// world are refused for the rest of the session. It has its own lock.
type toxicFlow struct {
	mu       sync.RWMutex
	injected string            // the call whose result was blocked for a prompt injection; arms the rule
	tainted  map[string]string // server -> its call whose result carried a prompt injection; its own hints no longer count
}

// isInjection reports whether err is a guard block for a prompt injection.
// It reads the typed Violations; a BlockedError without Violations falls
// back to the detector name at the start of one of its Reasons.
func isInjection(err error) bool {
	var be *guard.BlockedError
	if !errors.As(err, &be) {
		return false
	}
	for _, v := range be.Violations {
		if v.Detector == guard.DetectorInjection {
			return true
		}
	}
	return false
}

// note remembers that something server sent (call names it for the refusal
// texts) was blocked for a prompt injection; other errors are ignored.
func (t *toxicFlow) note(err error, server, call string) {
	if !isInjection(err) {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.injected == "" {
		t.injected = call
	}
	if t.tainted == nil {
		t.tainted = map[string]string{}
	}
	if t.tainted[server] == "" {
		t.tainted[server] = call
	}
}

// refused returns why a call of rt's tool is refused, or "": after an
// injection, only tools that declare openWorldHint: false (closedWorld) may
// run, and not those of a server that returned an injection itself.
func (t *toxicFlow) refused(rt route, closedWorld func(route) bool) string {
	t.mu.RLock()
	injected, call := t.injected, t.tainted[rt.server]
	t.mu.RUnlock()
	if injected == "" {
		return ""
	}
	if call != "" {
		return fmt.Sprintf("Tool %q of server %q is refused: a result of %s was blocked for a prompt injection earlier in this session, so the tools of server %q are refused for the rest of the session whatever their hints say, so that injected instructions cannot send data out. Start a new session to continue, or set egress_after_injection to \"allow\".", rt.tool, rt.server, call, rt.server)
	}
	if closedWorld(rt) {
		return ""
	}
	return fmt.Sprintf("Tool %q of server %q may reach the outside world (openWorldHint), and a result of %s was blocked for a prompt injection earlier in this session: such tools are refused for the rest of the session, so that injected instructions cannot send data out. Start a new session to continue, or set egress_after_injection to \"allow\".", rt.tool, rt.server, injected)
}
