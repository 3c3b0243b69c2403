package proxy

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/rs/zerolog"

	"secure-mcp-gateway/guard"
)

// PathGuard is an optional extension of Guard: when the Guard implements
// it, every path besides tool calls is checked, requests to an upstream by
// the server's input policy and everything from it by its output policy
// (see docs/SECURITY.md, "Every path guarded"). guard.Engine implements it.
type PathGuard interface {
	// CheckInput inspects v before it reaches server. subject names it
	// for the error, which reaches the client and never quotes v.
	CheckInput(ctx context.Context, server, subject string, v any) error
	// CheckOutput inspects v, which came from server, before the client
	// sees it.
	CheckOutput(ctx context.Context, server, subject string, v any) error
}

// ContentGuard is an optional extension of Guard: when the Guard implements
// it, resource contents and prompt messages pass the server's output
// guardrails as tool results do. An error blocks the read or the prompt;
// its text reaches the client and must not contain what was blocked.
type ContentGuard interface {
	// CheckResource inspects a resource read from server.
	CheckResource(ctx context.Context, server, uri string, res *mcp.ReadResourceResult) (*mcp.ReadResourceResult, error)
	// CheckPrompt inspects a prompt got from server.
	CheckPrompt(ctx context.Context, server, prompt string, res *mcp.GetPromptResult) (*mcp.GetPromptResult, error)
}

// checker applies the guard to everything besides a tool call's arguments
// and result (see PathGuard), bounds each check by the guardrail budget,
// arms the toxic-flow rule on an injection, and turns failures into the
// errors the client sees. It holds no lock of its own.
type checker struct {
	guard    Guard // nil means no checks
	timeouts *TimeoutTracker
	toxic    *toxicFlow
	log      zerolog.Logger
	mask     func(string) string // Options.Redact; nil means none
}

// redact applies Options.Redact.
func (k *checker) redact(s string) string {
	if k.mask == nil {
		return s
	}
	return k.mask(s)
}

// note remembers that something server sent (call names it) was blocked
// for a prompt injection, which arms the toxic-flow rule.
func (k *checker) note(err error, server, call string) { k.toxic.note(err, server, call) }

// in applies the input check of PathGuard, if the Guard has it, within
// the guardrail budget; no verdict in time blocks.
func (k *checker) in(ctx context.Context, server, subject string, v any) error {
	pg, ok := k.guard.(PathGuard)
	if !ok {
		return nil
	}
	return k.run(ctx, "input guardrails of "+subject, func(ctx context.Context) error { return pg.CheckInput(ctx, server, subject, v) })
}

// out is in for the output check.
func (k *checker) out(ctx context.Context, server, subject string, v any) error {
	pg, ok := k.guard.(PathGuard)
	if !ok {
		return nil
	}
	return k.run(ctx, "output guardrails of "+subject, func(ctx context.Context) error { return pg.CheckOutput(ctx, server, subject, v) })
}

func (k *checker) run(ctx context.Context, name string, fn func(context.Context) error) error {
	gctx, op := k.timeouts.Start(context.WithoutCancel(ctx), KindGuardrail, name)
	_, err := within(gctx, op, func(ctx context.Context) (struct{}, error) { return struct{}{}, fn(ctx) })
	op.End(err)
	return err
}

// blocked is the client's JSON-RPC error for a request a guardrail
// stopped: the guard's text, which names the guardrail and never what it
// matched, or the guardrail timeout.
func (k *checker) blocked(err error) error {
	var te *TimeoutError
	if errors.As(err, &te) {
		return &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: fmt.Sprintf("blocked: the guardrails gave no verdict within %s (guardrail_timeout)", te.Budget)}
	}
	var be *guard.BlockedError
	if errors.As(err, &be) {
		return &jsonrpc.Error{Code: jsonrpc.CodeInvalidRequest, Message: be.Error()}
	}
	return &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: k.redact(err.Error())}
}

// clientErr is how an upstream's failure reaches the client: the upstream's
// own JSON-RPC error after its message and data passed server's output
// policy (a blocked one is replaced by a text naming the guardrail, and an
// injection in it arms the toxic-flow rule), anything else (transport
// errors quote URLs, which may carry credentials) as an internal error with
// known secrets masked. subject names the request for the texts.
func (k *checker) clientErr(ctx context.Context, server, subject string, err error) error {
	if err == nil {
		return nil
	}
	var rpcErr *jsonrpc.Error
	if errors.As(err, &rpcErr) {
		if berr := k.out(ctx, server, "The error of "+lowerFirst(subject), rpcErr); berr != nil {
			k.log.Warn().Str("server", server).Str("request", guard.Mask(subject)).Err(berr).Msg("upstream error blocked")
			k.note(berr, server, fmt.Sprintf("%s of server %q", lowerFirst(subject), server))
			return k.blocked(berr)
		}
		return rpcErr
	}
	return &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: k.redact(undecodable(err).Error())}
}

// lowerFirst lower-cases the first letter of a subject ("Resource \"x\"")
// for use inside a sentence.
func lowerFirst(s string) string {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return s
	}
	return string(s[0]+'a'-'A') + s[1:]
}

// listingOK applies server's output policy to the listing of one
// resource, template or prompt (its name, title, description, URI,
// arguments, annotations, icons and _meta); one that fails is withheld from
// the client, and an injection in it arms the toxic-flow rule.
func (k *checker) listingOK(ctx context.Context, server, kind, name string, v any) bool {
	subject := fmt.Sprintf("The %s %q", kind, guard.Mask(name))
	err := k.out(ctx, server, subject, v)
	if err == nil {
		return true
	}
	k.log.Warn().Str("server", server).Str(strings.ReplaceAll(kind, " ", "_"), guard.Mask(name)).Err(err).Msg(kind + " withheld by the output guardrails")
	k.note(err, server, fmt.Sprintf("the %s %q of server %q", kind, guard.Mask(name), server))
	return false
}
