package proxy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
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

// emitCall sends the one CallEvent of a tool call to every observer. res,
// oc and err are what the call returned; rpcErr is a JSON-RPC error the
// client got instead of a result.
func (g *Gateway) emitCall(req *mcp.CallToolRequest, server, tool string, start time.Time, args json.RawMessage, res *mcp.CallToolResult, oc callOutcome, rpcErr error) {
	if len(g.observers) == 0 {
		return
	}
	ev := g.who
	ev.Method, ev.Server, ev.Tool, ev.Start, ev.Duration = "tools/call", server, tool, start, time.Since(start)
	ev.SessionID = g.opts.SessionID
	if req != nil && req.Session != nil {
		ev.SessionID = req.Session.ID()
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
	var be *guard.BlockedError
	if errors.As(oc.err, &be) {
		ev.Verdicts = []guard.Verdict{be.Verdict()}
	}
	switch {
	case rpcErr != nil:
		var je *jsonrpc.Error
		if errors.As(rpcErr, &je) {
			ev.Err = je.Message
		} else {
			ev.Err = g.redact(rpcErr.Error())
		}
	case res != nil && res.IsError:
		ev.Err = contentText(res)
	}
	for _, o := range g.observers {
		o.ObserveCall(&ev)
	}
}

// sha256Hex is the hex SHA-256 of b.
func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
