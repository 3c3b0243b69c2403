package proxy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/guard"
)

// onCallObserver adapts Options.OnCall to the event stream: it is told the
// server, tool, outcome and duration of every tool call.
type onCallObserver func(server, tool, outcome string, d time.Duration)

func (f onCallObserver) ObserveCall(ev *CallEvent) {
	if ev.Method == "tools/call" {
		f(ev.Server, ev.Tool, ev.Outcome, ev.Duration)
	}
}

// observersOf returns the observers of opts: Options.Observers, then
// Options.OnCall's adapter.
func observersOf(opts *Options) []Observer {
	obs := append([]Observer(nil), opts.Observers...)
	if opts.OnCall != nil {
		obs = append(obs, onCallObserver(opts.OnCall))
	}
	return obs
}

// principalIDs fills the principal fields of a CallEvent template.
func principalIDs(p *authn.Principal) CallEvent {
	if p == nil {
		return CallEvent{}
	}
	return CallEvent{Project: p.ProjectID, User: p.UserID, MCPConfig: p.MCPConfigID}
}

// emitCall sends the one CallEvent of a tool call to every observer, once
// its answer is decided: the call's result, or the JSON-RPC error the
// client got instead.
func (p *pipeline) emitCall(c *callState, start time.Time) {
	if len(p.observers) == 0 {
		return
	}
	var ss *mcp.ServerSession
	if c.req != nil {
		ss = c.req.Session
	}
	var res any
	if c.res != nil {
		res = c.res
	}
	server := ""
	if c.routed {
		server = c.rt.server
	}
	p.emit("tools/call", ss, server, c.name, start, c.args, res, c.oc, c.err, c.stages, c.tr, c.verdicts)
}

// emitRequest sends the one CallEvent of a resources/read or prompts/get;
// args are the request's arguments, res its result (nil when it failed)
// and err the client's error.
func (p *pipeline) emitRequest(ss *mcp.ServerSession, r *request, start time.Time, args, res any, err error) {
	if len(p.observers) == 0 {
		return
	}
	oc := r.oc
	if err == nil {
		oc = callOutcome{outcome: OutcomeOK}
	}
	p.emit(r.method, ss, r.server, r.name, start, requestArgs(args), res, oc, err, r.stages, r.tr, nil)
}

// emit builds a CallEvent and sends it to every observer. res is nil or
// the result the client got; rpcErr is a JSON-RPC error the client got
// instead of a result.
func (p *pipeline) emit(method string, ss *mcp.ServerSession, server, tool string, start time.Time, args []byte, res any, oc callOutcome, rpcErr error, stages []StageTiming, tr *traceIDs, verdicts []guard.Verdict) {
	ev := p.who
	tr.fill(&ev)
	// The name the client used (a resource URI above all) may carry what a
	// guardrail blocked: observers get it masked, as the logs do.
	ev.Method, ev.Server, ev.Tool, ev.Start, ev.Duration = method, server, guard.Mask(tool), start, time.Since(start)
	ev.Stages = stages
	ev.SessionID = p.sessionID
	if ss != nil {
		ev.SessionID = ss.ID()
	}
	ev.ArgBytes, ev.Outcome = len(args), oc.outcome
	if len(args) > 0 {
		ev.ArgSHA256 = sha256Hex(args)
	}
	if res != nil {
		if b, err := json.Marshal(res); err == nil {
			ev.ResultBytes, ev.ResultSHA256 = len(b), sha256Hex(b)
		}
	}
	ev.Verdicts = verdicts
	var be *guard.BlockedError
	if errors.As(oc.err, &be) {
		ev.Verdicts = append(slices.Clip(verdicts), be.Verdict())
	}
	switch {
	case rpcErr != nil:
		var je *jsonrpc.Error
		if errors.As(rpcErr, &je) {
			ev.Err = je.Message
		} else {
			ev.Err = p.chk.redact(rpcErr.Error())
		}
	default:
		if tr, ok := res.(*mcp.CallToolResult); ok && tr.IsError {
			ev.Err = contentText(tr)
		}
	}
	for _, o := range p.observers {
		o.ObserveCall(&ev)
	}
}

// sha256Hex is the hex SHA-256 of b.
func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
