package proxy

import (
	"context"
	"fmt"
)

// Multi-round-trip requests (MCP 2026-07-28): a tool returns input_required
// with questions (inputRequests) and an opaque requestState; the client
// retries the call with its answers (inputResponses) and the state.
//
// For a 2026-07-28 client the gateway passes the upstream's input_required
// through: the questions pass the output policy with the rest of the result
// (the guard scans the whole result), the answers the input policy before
// the upstream sees them, and requestState travels untouched, since it is
// the upstream's to protect. For an older client the upstream's SDK client
// fulfils the questions by asking the client the way a server-initiated
// request does (NewUpstreamClient, relayRequest) and retries on its own.

// multiRoundTrip reports whether c is a direct call of a client that speaks
// MCP 2026-07-28, which answers input_required results itself.
func (c *callState) multiRoundTrip() bool {
	return c.direct && c.req != nil && requestVersion(c.req) >= ModernProtocolVersion
}

// checkAnswers applies the input policy of c's server to the answers a
// 2026-07-28 client sends back with its retry.
func (p *pipeline) checkAnswers(ctx context.Context, c *callState) error {
	if !c.multiRoundTrip() || len(c.req.Params.InputResponses) == 0 {
		return nil
	}
	err := p.chk.in(ctx, c.rt.server, fmt.Sprintf("The answers to the questions of tool %q", c.rt.tool), c.req.Params.InputResponses)
	if err != nil && gatewayState(c.req.Params.RequestState) {
		// The call waiting for this answer will not get it.
		if pc, e := p.pending.resume(c.req.Params.RequestState, c.rt); e == nil {
			pc.cancel()
		}
	}
	return err
}
