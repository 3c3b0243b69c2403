package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/guard"
)

// resources/read and prompts/get through the pipeline: authorise (find the
// upstream that offers the URI or prompt), input guard, forward, output
// guard, each timed, then one CallEvent.

// request is one resources/read or prompts/get as it goes through the
// stages.
type request struct {
	method string
	name   string // the URI, or the prompt's name as the client knows it
	server string // empty until authorised
	stages []StageTiming
	oc     callOutcome
	tr     *traceIDs // nil unless Options.TraceContext
}

// stage runs fn as the stage named name, timing it.
func (r *request) stage(name string, fn func()) {
	t := time.Now()
	fn()
	r.stages = append(r.stages, StageTiming{Name: name, Duration: time.Since(t)})
}

// failed records how the request ended when err is its answer, unless a
// stage recorded it already.
func (r *request) failed(ctx context.Context, err error) {
	switch {
	case r.oc.outcome != "":
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		r.oc = callOutcome{outcome: OutcomeTimeout, err: err}
	case ctx.Err() != nil:
		r.oc = callOutcome{outcome: OutcomeCancelled, err: err}
	default:
		r.oc = callOutcome{outcome: OutcomeUnavailable, err: err}
	}
}

// upstreamErr is the client's error for an upstream's failure of r (see
// checker.clientErr), recording the outcome.
func (p *pipeline) upstreamErr(ctx context.Context, r *request, subject string, err error) error {
	out := p.chk.clientErr(ctx, r.server, subject, err)
	var rpcErr *jsonrpc.Error
	switch {
	case errors.As(err, &rpcErr) && out == error(rpcErr):
		r.oc = callOutcome{outcome: OutcomeRPCError, err: out}
	case errors.As(err, &rpcErr):
		r.oc = callOutcome{OutcomeBlocked, "output", out}
	}
	return out
}

// blocked records that a guardrail stopped r at stage and returns the
// client's error.
func (p *pipeline) blocked(r *request, stage string, err error) error {
	r.oc = callOutcome{OutcomeBlocked, stage, err}
	return p.chk.blocked(err)
}

func (p *pipeline) readResource(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	r := &request{method: "resources/read", name: req.Params.URI, tr: p.traceOf(req.Params.Meta, req.Extra)}
	return runRequest(ctx, p, req.Session, r, req.Params, func(ctx context.Context) (*mcp.ReadResourceResult, error) {
		return p.readResourceNow(ctx, req, r)
	})
}

// runRequest runs r (a resources/read or prompts/get) through now within
// its budget, records how it failed, and emits its CallEvent; args are the
// request's arguments for the event's size and hash.
func runRequest[R any](ctx context.Context, p *pipeline, ss *mcp.ServerSession, r *request, args any, now func(context.Context) (*R, error)) (*R, error) {
	start := time.Now()
	res, err := timed(ctx, p.timeouts, r.method, func(ctx context.Context) (*R, error) {
		res, err := now(ctx)
		if err != nil {
			r.failed(ctx, err)
		}
		return res, err
	})
	var out any
	if res != nil {
		out = res
	}
	p.emitRequest(ss, r, start, args, out, err)
	return res, err
}

func (p *pipeline) readResourceNow(ctx context.Context, req *mcp.ReadResourceRequest, r *request) (res *mcp.ReadResourceResult, err error) {
	uri := req.Params.URI
	var ok bool
	r.stage(StageAuthorise, func() { r.server, ok = p.cat.feat.resourceServer(ctx, uri) })
	if !ok {
		r.oc.outcome = OutcomeUnknownTool
		return nil, mcp.ResourceNotFoundError(uri)
	}
	server := r.server
	subject := fmt.Sprintf("Resource %q", guard.Mask(uri))
	r.stage(StageInputGuard, func() {
		if err = p.chk.in(ctx, server, subject, uri); err == nil && len(req.Params.InputResponses) > 0 {
			err = p.chk.in(ctx, server, "The answers to the questions of "+lowerFirst(subject), req.Params.InputResponses)
		}
	})
	if err != nil {
		return nil, p.blocked(r, "input", err)
	}
	r.stage(StageForward, func() {
		var cs *mcp.ClientSession
		if cs, err = p.sessions.Session(ctx, server); err != nil {
			err = &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: p.chk.redact(fmt.Sprintf("upstream server %q is unavailable: %v", server, err))}
			return
		}
		params := req.Params
		if r.tr != nil {
			cp := *req.Params
			cp.Meta = r.tr.upstreamMeta(req.Params.Meta)
			params = &cp
		}
		if res, err = cs.ReadResource(ctx, params); err != nil {
			err = p.upstreamErr(ctx, r, subject, err)
		}
	})
	if err != nil {
		return nil, err
	}
	if cg, ok := p.guard.(ContentGuard); ok {
		r.stage(StageOutputGuard, func() { res, err = cg.CheckResource(ctx, server, uri, res) })
		if err != nil {
			p.chk.note(err, server, fmt.Sprintf("resource %q of server %q", guard.Mask(uri), server))
			return nil, p.blocked(r, "output", err)
		}
	}
	return res, nil
}

func (p *pipeline) getPrompt(ctx context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
	r := &request{method: "prompts/get", name: req.Params.Name, tr: p.traceOf(req.Params.Meta, req.Extra)}
	return runRequest(ctx, p, req.Session, r, req.Params.Arguments, func(ctx context.Context) (*mcp.GetPromptResult, error) {
		return p.getPromptNow(ctx, req, r)
	})
}

func (p *pipeline) getPromptNow(ctx context.Context, req *mcp.GetPromptRequest, r *request) (res *mcp.GetPromptResult, err error) {
	var rt route
	var ok bool
	r.stage(StageAuthorise, func() { rt, ok = p.cat.feat.promptRoute(ctx, req.Params.Name) })
	if !ok {
		r.oc.outcome = OutcomeUnknownTool
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("unknown prompt %q", req.Params.Name)}
	}
	r.server = rt.server
	if len(req.Params.Arguments) > 0 || len(req.Params.InputResponses) > 0 {
		r.stage(StageInputGuard, func() {
			if err = p.chk.in(ctx, rt.server, fmt.Sprintf("The arguments of prompt %q", rt.tool), req.Params.Arguments); err == nil && len(req.Params.InputResponses) > 0 {
				err = p.chk.in(ctx, rt.server, fmt.Sprintf("The answers to the questions of prompt %q", rt.tool), req.Params.InputResponses)
			}
		})
		if err != nil {
			return nil, p.blocked(r, "input", err)
		}
	}
	r.stage(StageForward, func() {
		var cs *mcp.ClientSession
		if cs, err = p.sessions.Session(ctx, rt.server); err != nil {
			err = &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: p.chk.redact(fmt.Sprintf("upstream server %q is unavailable: %v", rt.server, err))}
			return
		}
		params := *req.Params
		params.Name = rt.tool
		if r.tr != nil {
			params.Meta = r.tr.upstreamMeta(req.Params.Meta)
		}
		if res, err = cs.GetPrompt(ctx, &params); err != nil {
			err = p.upstreamErr(ctx, r, fmt.Sprintf("Prompt %q", rt.tool), err)
		}
	})
	if err != nil {
		return nil, err
	}
	if cg, ok := p.guard.(ContentGuard); ok {
		r.stage(StageOutputGuard, func() { res, err = cg.CheckPrompt(ctx, rt.server, rt.tool, res) })
		if err != nil {
			p.chk.note(err, rt.server, fmt.Sprintf("prompt %q of server %q", rt.tool, rt.server))
			return nil, p.blocked(r, "output", err)
		}
	}
	return res, nil
}

// requestArgs is the JSON of a request's arguments, for the event's size
// and hash; nil when there are none.
func requestArgs(v any) []byte {
	if v == nil {
		return nil
	}
	if m, ok := v.(map[string]string); ok && len(m) == 0 {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}
