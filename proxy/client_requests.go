package proxy

//lint:file-ignore SA1019 The gateway forwards sampling, roots and logging, which clients of protocol 2025-11-25 use; only 2026-07-28 deprecates them.

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The requests an upstream sends to its client (sampling, elicitation,
// roots), server-initiated or embedded in an input_required result: relayed
// to the client per the client_requests policy and the guardrails.

// relayed narrows relayRequest's result to the type the SDK's handler
// returns.
func relayed[R mcp.Result](res mcp.Result, err error) (R, error) {
	var zero R
	if err != nil {
		return zero, err
	}
	r, ok := res.(R)
	if !ok {
		return zero, fmt.Errorf("the client answered with a %T", res)
	}
	return r, nil
}

// modernSession reports whether ss's client speaks MCP 2026-07-28 or later
// (stateless, with multi-round-trip requests instead of server-initiated
// ones).
func modernSession(ss *mcp.ServerSession) bool {
	if ss == nil {
		return false
	}
	ip := ss.InitializeParams()
	return ip != nil && ip.ProtocolVersion >= ModernProtocolVersion
}

// policy returns the client_requests policy of server for kind ("sampling",
// "elicitation" or "roots"); anything but an explicit deny forwards.
func (g *Gateway) policy(server, kind string) string {
	for _, s := range g.servers {
		if s.Name != server || s.ClientRequests == nil {
			continue
		}
		var v string
		switch kind {
		case "sampling":
			v = s.ClientRequests.Sampling
		case "elicitation":
			v = s.ClientRequests.Elicitation
		case "roots":
			v = s.ClientRequests.Roots
		}
		if v == PolicyDeny {
			return PolicyDeny
		}
	}
	return PolicyForward
}

// upstreamRequests answers the requests an upstream sends to its client
// (sampling, elicitation, roots) through relayRequest; anything else goes
// on to next.
func (g *Gateway) upstreamRequests(server string) mcp.Middleware {
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (res mcp.Result, err error) {
			// What the upstream sends (its requests, its notifications:
			// logs and progress, relayed through the output policy) is
			// handled by gateway code on the SDK's goroutine; a panic in it
			// fails that message alone.
			defer func() {
				if r := recover(); r != nil {
					res, err = nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError,
						Message: "secure-mcp-gateway: " + caught(&g.log, fmt.Sprintf("%s from server %q", method, server), r).Error()}
				}
			}()
			switch req.(type) {
			case *mcp.CreateMessageWithToolsRequest, *mcp.ElicitRequest, *mcp.ListRootsRequest:
				return g.relayRequest(ctx, server, method, req)
			}
			return next(ctx, method, req)
		}
	}
}

// clientRequestKinds names, by method, the kinds of request an upstream may
// send its client, as the client_requests policy names them.
var clientRequestKinds = map[string]string{
	"sampling/createMessage": "sampling",
	"elicitation/create":     "elicitation",
	"roots/list":             "roots",
}

// relayRequest answers a request server sends to its client (a sampling,
// elicitation or roots request, server-initiated or embedded in an
// input_required result) by asking the real client, untouched (the SDK's own
// handlers would validate elicitation schemas more strictly than clients
// do), or by refusing it per policy. What the upstream asks passes its
// output policy before the client sees it, and the answer its input policy
// before the upstream does. The gateway never approves anything by itself.
func (g *Gateway) relayRequest(ctx context.Context, server, method string, req mcp.Request) (mcp.Result, error) {
	kind := clientRequestKinds[method]
	if kind == "" {
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeMethodNotFound, Message: fmt.Sprintf("the gateway does not relay %q requests", method)}
	}
	if g.policy(server, kind) == PolicyDeny {
		g.log.Info().Str("server", server).Str("method", method).Msg("upstream request denied by policy")
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidRequest,
			Message: fmt.Sprintf("the gateway's policy denies %s requests from server %q", kind, server)}
	}
	ss := g.client()
	if ss == nil {
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "no client connected to the gateway"}
	}
	down := g.inflight.latest(server)
	pc := pendingOf(down)
	if modernSession(ss) && pc == nil {
		// A 2026-07-28 client takes no server-initiated requests, and this
		// one came outside a call the gateway can turn into input_required
		// (a meta-tool's, or none). The call in flight is told, so that
		// the client gets a tool error whatever the upstream makes of the
		// refusal.
		g.log.Warn().Str("server", server).Str("method", method).Msg("upstream request refused: the client speaks MCP 2026-07-28")
		if down != nil {
			if a, ok := down.Value(refusedAskKey{}).(*refusedAsk); ok {
				a.set(method)
			}
		}
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidRequest, Message: fmt.Sprintf(
			"the gateway cannot relay %s to its client: the client speaks MCP %s, where a server asks through an input_required result", method, ss.InitializeParams().ProtocolVersion)}
	}
	g.log.Debug().Str("server", server).Str("method", method).Msg("forwarding upstream request to the client")
	if down != nil && pc == nil {
		// Over HTTP, a request sent with the in-flight client call's
		// context travels on that call's stream; otherwise it would go to
		// the standalone stream most clients never open.
		dctx, cancel := context.WithCancel(down)
		defer cancel()
		defer context.AfterFunc(ctx, cancel)()
		ctx = dctx
	}
	var params any
	switch r := req.(type) {
	case *mcp.CreateMessageWithToolsRequest:
		params = r.Params
	case *mcp.ElicitRequest:
		params = r.Params
	case *mcp.ListRootsRequest:
		params = r.Params
	default:
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("unexpected %s request", method)}
	}
	what := map[string]string{"sampling": "A sampling request", "elicitation": "An elicitation request", "roots": "A roots request"}[kind]
	if err := g.chk.out(ctx, server, what, params); err != nil {
		g.log.Warn().Str("server", server).Str("method", method).Err(err).Msg("upstream request blocked by the output guardrails")
		g.chk.note(err, server, fmt.Sprintf("a %s request of server %q", kind, server))
		return nil, g.chk.blocked(err)
	}
	var res mcp.Result
	var err error
	switch r := req.(type) {
	case *mcp.CreateMessageWithToolsRequest:
		if pc != nil {
			res, err = askedBy[mcp.CreateMessageWithToolsResult](ctx, pc, method, r.Params)
		} else {
			res, err = ss.CreateMessageWithTools(ctx, r.Params)
		}
	case *mcp.ElicitRequest:
		if pc != nil {
			res, err = askedBy[mcp.ElicitResult](ctx, pc, method, r.Params)
		} else {
			res, err = ss.Elicit(ctx, r.Params)
		}
	case *mcp.ListRootsRequest:
		if pc != nil {
			res, err = askedBy[mcp.ListRootsResult](ctx, pc, method, r.Params)
		} else {
			res, err = ss.ListRoots(ctx, r.Params)
		}
	}
	if err != nil {
		return nil, err
	}
	answer := map[string]string{"sampling": "The answer to a sampling request", "elicitation": "The answer to an elicitation request", "roots": "The answer to a roots request"}[kind]
	if err := g.chk.in(ctx, server, answer, res); err != nil {
		g.log.Warn().Str("server", server).Str("method", method).Err(err).Msg("answer to an upstream request blocked by the input guardrails")
		return nil, g.chk.blocked(err)
	}
	return res, nil
}

// refusedAsk records, for a call in flight, that its upstream sent a
// request the gateway could not relay to the client.
type refusedAsk struct {
	mu     sync.Mutex
	method string
}

// refusedAskKey is the context key of a call's *refusedAsk.
type refusedAskKey struct{}

func (a *refusedAsk) set(method string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.method == "" {
		a.method = method
	}
}

// get returns the first method refused, or "".
func (a *refusedAsk) get() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.method
}

// askedBy asks question through pc's client call (a 2026-07-28 client
// answers in its retry) and returns the answer as an R.
func askedBy[R any, PR interface {
	*R
	mcp.Result
}](ctx context.Context, pc *pendingCall, method string, question mcp.InputRequest) (mcp.Result, error) {
	ans, err := pc.ask(ctx, method, question)
	if err != nil {
		return nil, err
	}
	if r, ok := ans.(PR); ok {
		return r, nil
	}
	// The SDK guesses an answer's type from its keys; the upstream asked
	// for an R.
	b, err := json.Marshal(ans)
	if err != nil {
		return nil, err
	}
	r := PR(new(R))
	if err := json.Unmarshal(b, r); err != nil {
		return nil, fmt.Errorf("the answer to %s is not one: %w", method, err)
	}
	return r, nil
}
