package proxy

import (
	"time"

	"secure-mcp-gateway/guard"
)

// CallEvent describes one client request the gateway handled: a tool call
// (direct or through enkrypt_secure_call_tools), a resource read or a prompt
// get. It carries names, sizes, timings and verdicts, never argument or
// result values.
type CallEvent struct {
	// Method is the MCP method, such as "tools/call" or "resources/read".
	Method string
	// Project, User and MCPConfig identify the principal (ids, not emails).
	Project, User, MCPConfig string
	// SessionID is the client's MCP session id, empty over stdio.
	SessionID string
	// TraceParent and TraceState are the W3C trace context the client sent
	// (params._meta, else the HTTP headers); empty when it sent none.
	TraceParent, TraceState string
	// TraceID, SpanID and ForwardSpanID (hex) place the request in a trace
	// when Options.TraceContext is on, else are empty: the trace (the
	// client's, or a new one), the request's own span, and its upstream
	// round trip, which the upstream was given as its parent.
	TraceID, SpanID, ForwardSpanID string
	// Server is the upstream server, empty when the name was unknown.
	Server string
	// Tool is the name the client used (exported name), or the resource URI
	// or prompt name for those methods, with any secret or PII in it
	// masked (guard.Mask).
	Tool string
	// Start is when the request arrived; Duration its total time.
	Start    time.Time
	Duration time.Duration
	// Stages are the named pipeline stages the request went through, in
	// order, with their durations.
	Stages []StageTiming
	// Verdicts are the guard's verdicts (input, output), in order.
	Verdicts []guard.Verdict
	// ArgBytes and ResultBytes are the sizes of the arguments and of the
	// result as they crossed the gateway.
	ArgBytes, ResultBytes int
	// ArgSHA256 and ResultSHA256 are the hex SHA-256 of those same bytes,
	// so that a record can prove what crossed without holding it; empty
	// when there was nothing.
	ArgSHA256, ResultSHA256 string
	// Outcome is one of the Outcome… constants.
	Outcome string
	// Err is the error text the client saw, already masked; empty on success.
	Err string
}

// StageTiming is one pipeline stage's name and duration.
type StageTiming struct {
	Name     string
	Duration time.Duration
}

// Observer receives every CallEvent after the response is decided. It must
// not block: an observer that does I/O queues the event and returns.
// Observers never change the call.
type Observer interface {
	ObserveCall(ev *CallEvent)
}

// ObserverFunc adapts a function to an Observer.
type ObserverFunc func(ev *CallEvent)

// ObserveCall calls f(ev).
func (f ObserverFunc) ObserveCall(ev *CallEvent) { f(ev) }
