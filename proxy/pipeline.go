package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/rs/zerolog"

	"secure-mcp-gateway/guard"
)

// Names of the call pipeline's stages, as CallEvent.Stages reports them.
const (
	// StageAuthorise resolves the name the client used to a tool (or
	// resource, or prompt) of the principal's servers.
	StageAuthorise = "authorise"
	// StageDenyPin refuses a tool the guard or the pins withhold, arguments
	// that break its pinned input schema, and an egress call after a prompt
	// injection (the toxic-flow rule).
	StageDenyPin = "deny_pin_check"
	// StageInputGuard is the guard's verdict on the arguments, before the
	// upstream sees anything.
	StageInputGuard = "input_guard"
	// StageForward is the upstream round trip.
	StageForward = "forward"
	// StageOutputGuard is the guard's check of the result, which also
	// restores what the input guard redacted.
	StageOutputGuard = "output_guard"
)

// pipeline runs every tool call, direct or through the meta-tools, through
// named stages (authorise → deny/pin check → input guard → forward →
// output guard), times each stage, and emits one CallEvent per call (see
// observe.go). It also runs resources/read and prompts/get (requests.go).
// It holds no lock of its own: the catalog, the toxic-flow state and the
// relays have theirs.
type pipeline struct {
	log         zerolog.Logger
	cat         *catalog
	chk         *checker
	guard       Guard // nil means no checks
	sessions    Sessions
	timeouts    *TimeoutTracker
	callTimeout time.Duration
	allowEgress bool // Options.AllowEgressAfterInjection
	toxic       *toxicFlow
	progress    *progressRelay
	inflight    *inflightCalls
	pending     *pendingCalls // calls of old upstreams waiting on a 2026-07-28 client's answer
	// onUnavailable is Options.OnUnavailable; nil means none.
	onUnavailable func(ctx context.Context, ss *mcp.ServerSession, server string, err error) error

	observers    []Observer // Options.Observers and OnCall's adapter
	who          CallEvent  // the principal's ids, the template of every CallEvent
	sessionID    string     // Options.SessionID
	traceContext bool       // Options.TraceContext
}

// callOutcome is how a call through the pipeline ended, beyond its result.
type callOutcome struct {
	outcome string // one of the Outcome… constants
	stage   string // "input" or "output" when outcome is OutcomeBlocked
	err     error  // why it was blocked or failed; its text is safe for the client
}

// callState is one tool call as it goes through the stages.
type callState struct {
	req    *mcp.CallToolRequest // the client's progress token and session; nil means none
	name   string               // the tool's name as the client knows it, for messages
	args   json.RawMessage      // as the client sent them
	rt     route
	routed bool   // rt is known
	direct bool   // a tools/call of the client's own, not one of a meta-tool
	why    string // why the guard or the pins withhold name, when it does not route

	fwd   json.RawMessage // the arguments to forward, possibly redacted
	check func(context.Context, *mcp.CallToolResult) (*mcp.CallToolResult, error)
	ctx   context.Context // the forwarded call's context, for the output guard

	res     *mcp.CallToolResult
	oc      callOutcome
	err     error // a JSON-RPC error the client gets instead of a result
	done    bool  // the answer is decided
	stages  []StageTiming
	cleanup []func()  // run, last first, once the stages are over
	tr      *traceIDs // nil unless Options.TraceContext
	// verdicts are the guard's verdicts on what it let through changed
	// (redactions); a block's verdict travels in its *guard.BlockedError.
	verdicts   []guard.Verdict
	outVerdict chan guard.Verdict // the output check's, when the guard reports verdicts
}

// finish decides the call's answer; no later stage runs.
func (c *callState) finish(res *mcp.CallToolResult, oc callOutcome, err error) {
	c.res, c.oc, c.err, c.done = res, oc, err, true
}

// toolStages are the stages of a tool call, in order.
var toolStages = []struct {
	name string
	run  func(*pipeline, context.Context, *callState)
}{
	{StageAuthorise, (*pipeline).authorise},
	{StageDenyPin, (*pipeline).denyPin},
	{StageInputGuard, (*pipeline).inputGuard},
	{StageForward, (*pipeline).forward},
	{StageOutputGuard, (*pipeline).outputGuard},
}

// callTool answers a direct tools/call.
func (p *pipeline) callTool(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	c := &callState{req: req, name: req.Params.Name, args: req.Params.Arguments, direct: true}
	c.tr = p.traceOf(req.Params.Meta, req.Extra)
	p.run(ctx, c)
	return c.res, c.err
}

// callRouted runs a call of rt's tool, exported as name, that the caller
// resolved already (enkrypt_secure_call_tools). req carries the client's
// progress token and session; nil means none.
func (p *pipeline) callRouted(ctx context.Context, rt route, name string, args json.RawMessage, req *mcp.CallToolRequest) *callState {
	c := &callState{req: req, name: name, args: args, rt: rt, routed: true}
	if req != nil {
		c.tr = p.traceOf(req.Params.Meta, req.Extra)
	} else {
		c.tr = p.traceOf(nil, nil)
	}
	p.run(ctx, c)
	return c
}

// run takes c through the stages until its answer is decided, then emits
// its CallEvent.
func (p *pipeline) run(ctx context.Context, c *callState) {
	start := time.Now()
	p.stages(ctx, c)
	for i := len(c.cleanup) - 1; i >= 0; i-- {
		c.cleanup[i]()
	}
	p.emitCall(c, start)
}

func (p *pipeline) stages(ctx context.Context, c *callState) {
	for _, s := range toolStages {
		t := time.Now()
		s.run(p, ctx, c)
		c.stages = append(c.stages, StageTiming{Name: s.name, Duration: time.Since(t)})
		if c.done {
			return
		}
	}
	if c.res.IsError {
		c.finish(c.res, callOutcome{outcome: OutcomeToolError}, nil)
		return
	}
	c.finish(c.res, callOutcome{outcome: OutcomeOK}, nil)
}

// authorise resolves the client's name to a tool of the principal's
// servers. A withheld name goes on to the deny/pin check, which refuses it.
func (p *pipeline) authorise(ctx context.Context, c *callState) {
	if c.routed {
		return
	}
	r, why, ok := p.cat.lookup(ctx, c.name)
	if ok {
		c.rt, c.routed = r, true
		return
	}
	if why != "" {
		c.why = why
		return
	}
	if server, err := p.cat.failedServerFor(c.name); err != nil {
		// The tool belongs to a server that could not be reached: say
		// so, rather than that the tool does not exist.
		if rpcErr := p.unavailable(ctx, c.req, server, err); rpcErr != nil {
			c.finish(nil, callOutcome{OutcomeUnavailable, "", rpcErr}, rpcErr)
			return
		}
		msg := fmt.Sprintf("Tool %q is unavailable: upstream server %q could not be reached: %v", c.name, server, err)
		c.finish(errorResult(msg), callOutcome{OutcomeUnavailable, "", callFailure(msg)}, nil)
		return
	}
	e := &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("unknown tool %q", c.name)}
	c.finish(nil, callOutcome{OutcomeUnknownTool, "", e}, e)
}

// denyPin refuses a withheld tool, arguments that break the tool's pinned
// schema (they never reach the guardrails or the upstream, on either
// surface), and an egress call the toxic-flow rule forbids.
func (p *pipeline) denyPin(_ context.Context, c *callState) {
	if !c.routed {
		p.log.Warn().Str("tool", guard.Mask(c.name)).Msg("call to a withheld tool refused")
		c.finish(errorResult(c.why), callOutcome{OutcomeWithheld, "", callFailure(c.why)}, nil)
		return
	}
	if err := p.cat.validate(c.rt, c.args); err != nil {
		e := &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("invalid arguments for tool %q: %v", c.name, err)}
		c.finish(nil, callOutcome{OutcomeRPCError, "", e}, e)
		return
	}
	if why := p.egressRefused(c.rt); why != "" {
		p.log.Warn().Str("server", c.rt.server).Str("tool", guard.Mask(c.name)).Msg("egress call refused after a prompt injection in this session")
		c.finish(errorResult(why), callOutcome{OutcomeBlocked, "input", callFailure(why)}, nil)
	}
}

// egressRefused returns why a call of rt's tool is refused by the toxic-flow
// rule, or "" (see toxicFlow.refused).
func (p *pipeline) egressRefused(rt route) string {
	if p.allowEgress {
		return ""
	}
	return p.toxic.refused(rt, p.cat.closedWorld)
}

// inputGuard asks the guard for its verdict on the arguments before the
// upstream sees anything, within the guardrail budget; no verdict in time
// blocks the call.
func (p *pipeline) inputGuard(ctx context.Context, c *callState) {
	c.fwd = c.args
	if p.guard == nil {
		return
	}
	type verdict struct {
		args   json.RawMessage
		check  func(context.Context, *mcp.CallToolResult) (*mcp.CallToolResult, error)
		vcheck func(context.Context, *mcp.CallToolResult) (*mcp.CallToolResult, guard.Verdict, error)
		in     guard.Verdict
	}
	rt := c.rt
	gctx, op := p.timeouts.Start(ctx, KindGuardrail, fmt.Sprintf("input guardrails of tool %q on server %q", rt.tool, rt.server))
	run := within[verdict]
	if len(c.args) <= p.promptBytes() {
		run = inline[verdict]
	}
	v, err := run(gctx, op, func(ctx context.Context) (verdict, error) {
		if vc, ok := p.guard.(guard.VerdictChecker); ok {
			// The guard also reports what it let through changed (a
			// redaction), for the call's event.
			a, check, in, err := vc.CheckCallVerdict(ctx, rt.server, rt.tool, c.args)
			return verdict{args: a, vcheck: check, in: in}, err
		}
		a, check, err := p.guard.CheckCall(ctx, rt.server, rt.tool, c.args)
		return verdict{args: a, check: check}, err
	})
	op.End(err)
	if err == nil {
		err = p.checkAnswers(ctx, c)
	}
	if err != nil {
		p.log.Warn().Str("server", rt.server).Str("tool", guard.Mask(c.name)).Err(err).Msg("call blocked")
		c.finish(errorResult(blockedText(err, c.name, rt.server, "input")), callOutcome{OutcomeBlocked, "input", err}, nil)
		return
	}
	c.fwd, c.check = v.args, v.check
	if len(v.in.Violations) > 0 {
		c.verdicts = append(c.verdicts, v.in)
	}
	if v.vcheck != nil {
		// The output check may outlive its budget on another goroutine: its
		// verdict comes back through a channel the output stage drains.
		c.outVerdict = make(chan guard.Verdict, 1)
		c.check = func(ctx context.Context, res *mcp.CallToolResult) (*mcp.CallToolResult, error) {
			out, vd, err := v.vcheck(ctx, res)
			if err == nil && len(vd.Violations) > 0 {
				c.outVerdict <- vd
			}
			return out, err
		}
	}
}

// forward makes the upstream call within tool_execution_timeout, after
// the server's list is confirmed current (a changed definition is refused
// here).
func (p *pipeline) forward(ctx context.Context, c *callState) {
	rt, name := c.rt, c.name
	sctx, endWait := context.WithTimeout(ctx, p.callTimeout) // a restart is waited for within the call's budget
	cs, err := p.sessions.Session(sctx, rt.server)
	endWait()
	if err != nil {
		if rpcErr := p.unavailable(ctx, c.req, rt.server, err); rpcErr != nil {
			c.finish(nil, callOutcome{OutcomeUnavailable, "", rpcErr}, rpcErr)
			return
		}
		p.log.Warn().Str("server", rt.server).Str("tool", name).Err(err).Msg("call failed: upstream unavailable")
		err = callFailure(fmt.Sprintf("Tool %q failed: upstream server %q is unavailable: %v", name, rt.server, err))
		c.finish(errorResult(err.Error()), callOutcome{OutcomeUnavailable, "", err}, nil)
		return
	}
	p.cat.confirm(ctx, rt.server, cs)
	if why, ok := p.cat.stillExported(rt); !ok {
		// The live definition differs from the cached one it was listed
		// under, and the guard or the pins withheld it.
		p.log.Warn().Str("server", rt.server).Str("tool", name).Msg("call refused: the tool changed since it was listed")
		c.finish(errorResult(why), callOutcome{OutcomeWithheld, "", callFailure(why)}, nil)
		return
	}
	ctx, op := p.timeouts.Start(ctx, KindToolExecution, fmt.Sprintf("tool %q on server %q", rt.tool, rt.server))
	var callErr error
	c.cleanup = append(c.cleanup, func() { op.End(callErr) })
	c.ctx = ctx
	params := &mcp.CallToolParams{Name: rt.tool}
	if len(c.fwd) > 0 {
		params.Arguments = c.fwd
	}
	if c.tr != nil {
		params.Meta = c.tr.upstreamMeta(nil)
	}
	if c.multiRoundTrip() && !gatewayState(c.req.Params.RequestState) {
		// A 2026-07-28 client's retry for the upstream: its answers
		// (checked by the input stage) and the upstream's opaque state go
		// back as they came.
		params.InputResponses, params.RequestState = c.req.Params.InputResponses, c.req.Params.RequestState
	}
	ask := &refusedAsk{}
	ctx = context.WithValue(ctx, refusedAskKey{}, ask)
	if !c.multiRoundTrip() {
		// A 2026-07-28 client's call is in flight as its upstream call
		// (callAsking), which may outlive this request.
		c.cleanup = append(c.cleanup, p.inflight.push(rt.server, ctx))
	}
	if token := progressToken(c.req); token != nil {
		// The upstream gets a token of the gateway's own, so that calls
		// with the same client token on two upstreams never cross.
		t, done := p.progress.track(ctx, c.req.Session, rt.server, token)
		c.cleanup = append(c.cleanup, done)
		params.SetProgressToken(t)
	}
	var res *mcp.CallToolResult
	if c.multiRoundTrip() {
		res, err = p.callAsking(ctx, c, cs, params)
	} else {
		res, err = cs.CallTool(ctx, params)
	}
	callErr = err
	if errors.Is(err, errUnknownState) || errors.Is(err, errNoAnswer) || errors.Is(err, errTooManyPending) {
		callErr = nil
		err = callFailure(fmt.Sprintf("Tool %q on server %q: %v.", name, rt.server, err))
		c.finish(errorResult(err.Error()), callOutcome{OutcomeToolError, "", err}, nil)
		return
	}
	if err != nil {
		if p.failed(ctx, c, err) {
			callErr = nil // the upstream answered
		}
		return
	}
	if m := ask.get(); m != "" {
		err := callFailure(fmt.Sprintf("Tool %q on server %q asked the client a question (%s) during the call, which the gateway relays to an MCP 2026-07-28 client only in a direct tools/call.", name, rt.server, m))
		c.finish(errorResult(err.Error()), callOutcome{OutcomeToolError, "", err}, nil)
		return
	}
	if res.NeedsInput() && !c.multiRoundTrip() {
		err := callFailure(fmt.Sprintf("Tool %q on server %q asked for input (input_required), which the gateway passes on only to a direct tools/call of an MCP 2026-07-28 client.", name, rt.server))
		c.finish(errorResult(err.Error()), callOutcome{OutcomeToolError, "", err}, nil)
		return
	}
	c.res = res
}

// failed decides the answer of a call whose upstream round trip failed
// with err, and reports whether the upstream did answer (with a JSON-RPC
// error, or an HTTP failure the caller turns into a login request).
func (p *pipeline) failed(ctx context.Context, c *callState, err error) (answered bool) {
	rt, name := c.rt, c.name
	var rpcErr *jsonrpc.Error
	var httpErr *url.Error
	switch {
	case errors.As(err, &httpErr) && ctx.Err() == nil:
		// The HTTP request to a remote upstream failed before it was
		// answered (no usable token: the cause names the login
		// command); the SDK reports that as a JSON-RPC error.
		if rpcErr := p.unavailable(ctx, c.req, rt.server, httpErr.Err); rpcErr != nil {
			c.finish(nil, callOutcome{OutcomeUnavailable, "", rpcErr}, rpcErr)
			return true
		}
		err = callFailure(p.chk.redact(fmt.Sprintf("Tool %q on server %q failed: %v", name, rt.server, httpErr.Err)))
		c.finish(errorResult(err.Error()), callOutcome{OutcomeUnavailable, "", err}, nil)
	case errors.As(err, &rpcErr):
		// An upstream's error is output like a result: its message and
		// data pass the output policy, and a blocked one reaches the
		// client as a text naming the guardrail, never the upstream's.
		if berr := p.chk.out(ctx, rt.server, fmt.Sprintf("The error of tool %q", rt.tool), rpcErr); berr != nil {
			p.log.Warn().Str("server", rt.server).Str("tool", guard.Mask(name)).Err(berr).Msg("error blocked")
			p.chk.note(berr, rt.server, fmt.Sprintf("tool %q of server %q", rt.tool, rt.server))
			c.finish(errorResult(blockedText(berr, name, rt.server, "output")), callOutcome{OutcomeBlocked, "output", berr}, nil)
			return true
		}
		c.finish(nil, callOutcome{OutcomeRPCError, "", rpcErr}, rpcErr)
		return true
	case errors.Is(ctx.Err(), context.DeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		// The second: a 2026-07-28 client's call runs upstream on a
		// deadline of its own (callAsking), which may outlive the request.
		p.log.Warn().Str("server", rt.server).Str("tool", name).Dur("timeout", p.callTimeout).Msg("call timed out")
		err = callFailure(fmt.Sprintf("Tool %q on server %q timed out after %s (tool_execution_timeout).", name, rt.server, p.callTimeout))
		c.finish(errorResult(err.Error()), callOutcome{OutcomeTimeout, "", err}, nil)
	case ctx.Err() != nil:
		c.finish(nil, callOutcome{OutcomeCancelled, "", ctx.Err()}, ctx.Err())
	case errors.Is(err, mcp.ErrConnectionClosed), errors.Is(err, io.EOF):
		// In-flight calls see EOF when the child dies; later ones see
		// ErrConnectionClosed.
		p.log.Warn().Str("server", rt.server).Str("tool", name).Msg("upstream closed the connection during a call")
		err = callFailure(fmt.Sprintf("Tool %q failed: upstream server %q closed the connection during the call (it may have crashed); the next call restarts it.", name, rt.server))
		c.finish(errorResult(err.Error()), callOutcome{OutcomeUnavailable, "", err}, nil)
	default:
		err = undecodable(err)
		p.log.Warn().Str("server", rt.server).Str("tool", name).Err(err).Msg("call failed")
		err = callFailure(p.chk.redact(fmt.Sprintf("Tool %q on server %q failed: %v", name, rt.server, err)))
		c.finish(errorResult(err.Error()), callOutcome{OutcomeUnavailable, "", err}, nil)
	}
	return false
}

// outputGuard runs the guard's check of the result before the client sees
// it, within the guardrail budget; no verdict in time withholds it.
func (p *pipeline) outputGuard(_ context.Context, c *callState) {
	if c.check == nil {
		return
	}
	rt, res := c.rt, c.res
	gctx, gop := p.timeouts.Start(context.WithoutCancel(c.ctx), KindGuardrail, fmt.Sprintf("output guardrails of tool %q on server %q", rt.tool, rt.server))
	run := within[*mcp.CallToolResult]
	if limit := p.promptBytes(); resultBytes(res, limit) <= limit {
		run = inline[*mcp.CallToolResult]
	}
	checked, err := run(gctx, gop, func(ctx context.Context) (*mcp.CallToolResult, error) { return c.check(ctx, res) })
	gop.End(err)
	if err != nil {
		p.log.Warn().Str("server", rt.server).Str("tool", guard.Mask(c.name)).Err(err).Msg("result blocked")
		p.chk.note(err, rt.server, fmt.Sprintf("tool %q of server %q", rt.tool, rt.server))
		c.finish(errorResult(blockedText(err, c.name, rt.server, "output")), callOutcome{OutcomeBlocked, "output", err}, nil)
		return
	}
	c.res = checked
	select {
	case vd := <-c.outVerdict:
		c.verdicts = append(c.verdicts, vd)
	default:
	}
}

// unavailable asks Options.OnUnavailable about a call that failed because
// server is unavailable; nil means the usual error result.
func (p *pipeline) unavailable(ctx context.Context, req *mcp.CallToolRequest, server string, err error) error {
	if p.onUnavailable == nil || req == nil || req.Session == nil {
		return nil
	}
	return p.onUnavailable(ctx, req.Session, server, err)
}
