package proxy

//lint:file-ignore SA1019 The gateway forwards sampling, roots and logging, which clients of protocol 2025-11-25 use; only the draft 2026-07-28 deprecates them.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/yosida95/uritemplate/v3"

	"secure-mcp-gateway/guard"
)

// routing of resources and prompts to the upstream that offers them. URIs
// stay as the upstream gives them (content refers to them); prompt names are
// prefixed like tools.
type featureRoutes struct {
	mu        sync.RWMutex
	resources map[string]string // uri -> server
	templates []templateRoute   // in config order
	prompts   map[string]route  // exported prompt name -> upstream
}

type templateRoute struct {
	server string
	tmpl   *uritemplate.Template
}

// fanOut runs fn for every server whose capabilities satisfy has, starting
// servers as needed, in parallel; results land at the server's index in
// config order. A server that cannot start is logged and skipped.
func (g *Gateway) fanOut(ctx context.Context, what string, has func(*mcp.ServerCapabilities) bool, fn func(ctx context.Context, i int, cs *mcp.ClientSession) error) {
	ctx, cancel := context.WithTimeout(ctx, g.opts.DiscoveryTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for i, s := range g.servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cs, err := g.sessions.Session(ctx, s.Name)
			if err != nil {
				g.log.Warn().Str("server", s.Name).Err(err).Msg(what + ": upstream unavailable")
				return
			}
			caps := &mcp.ServerCapabilities{}
			if ir := cs.InitializeResult(); ir != nil && ir.Capabilities != nil {
				caps = ir.Capabilities
			}
			if !has(caps) {
				return
			}
			if err := fn(ctx, i, cs); err != nil {
				g.log.Warn().Str("server", s.Name).Err(undecodable(err)).Msg(what + " failed")
			}
		}()
	}
	wg.Wait()
}

func hasResources(c *mcp.ServerCapabilities) bool { return c.Resources != nil }
func hasPrompts(c *mcp.ServerCapabilities) bool   { return c.Prompts != nil }

func (g *Gateway) listResources(ctx context.Context) (*mcp.ListResourcesResult, error) {
	per := make([][]*mcp.Resource, len(g.servers))
	g.fanOut(ctx, "resources/list", hasResources, func(ctx context.Context, i int, cs *mcp.ClientSession) error {
		for r, err := range cs.Resources(ctx, nil) {
			if err != nil {
				return err
			}
			per[i] = append(per[i], r)
		}
		return nil
	})
	routes := make(map[string]string)
	out := []*mcp.Resource{}
	for i, rs := range per {
		server := g.servers[i].Name
		for _, r := range rs {
			if !g.metadataOK(ctx, server, "resource", r.URI, r) {
				continue
			}
			if prev, ok := routes[r.URI]; ok {
				g.log.Warn().Str("uri", guard.Mask(r.URI)).Str("server", server).Str("kept_from", prev).Msg("resource URI offered by two servers: the first in config order serves it")
				continue
			}
			routes[r.URI] = server
			out = append(out, r)
		}
	}
	g.features.mu.Lock()
	g.features.resources = routes
	g.features.mu.Unlock()
	return &mcp.ListResourcesResult{Resources: out}, nil
}

func (g *Gateway) listResourceTemplates(ctx context.Context) (*mcp.ListResourceTemplatesResult, error) {
	per := make([][]*mcp.ResourceTemplate, len(g.servers))
	g.fanOut(ctx, "resources/templates/list", hasResources, func(ctx context.Context, i int, cs *mcp.ClientSession) error {
		for t, err := range cs.ResourceTemplates(ctx, nil) {
			if err != nil {
				return err
			}
			per[i] = append(per[i], t)
		}
		return nil
	})
	var routes []templateRoute
	out := []*mcp.ResourceTemplate{}
	for i, ts := range per {
		for _, t := range ts {
			if !g.metadataOK(ctx, g.servers[i].Name, "resource template", t.URITemplate, t) {
				continue
			}
			tmpl, err := uritemplate.New(t.URITemplate)
			if err != nil {
				g.log.Warn().Str("server", g.servers[i].Name).Str("template", guard.Mask(t.URITemplate)).Err(err).Msg("resource template withheld: invalid URI template")
				continue
			}
			routes = append(routes, templateRoute{server: g.servers[i].Name, tmpl: tmpl})
			out = append(out, t)
		}
	}
	g.features.mu.Lock()
	g.features.templates = routes
	g.features.mu.Unlock()
	return &mcp.ListResourceTemplatesResult{ResourceTemplates: out}, nil
}

// metadataOK applies server's output policy to the listing of one
// resource, template or prompt (its name, title, description, URI,
// arguments, annotations, icons and _meta); one that fails is withheld from
// the client, and an injection in it arms the toxic-flow rule.
func (g *Gateway) metadataOK(ctx context.Context, server, kind, name string, v any) bool {
	subject := fmt.Sprintf("The %s %q", kind, guard.Mask(name))
	err := g.checkOut(ctx, server, subject, v)
	if err == nil {
		return true
	}
	g.log.Warn().Str("server", server).Str(strings.ReplaceAll(kind, " ", "_"), guard.Mask(name)).Err(err).Msg(kind + " withheld by the output guardrails")
	g.noteInjectionIn(err, server, fmt.Sprintf("the %s %q of server %q", kind, guard.Mask(name), server))
	return false
}

// resourceServer finds the server that offers uri: a listed resource first,
// then a template match, listing again once if nothing is known yet.
func (g *Gateway) resourceServer(ctx context.Context, uri string) (string, bool) {
	find := func() (string, bool) {
		g.features.mu.RLock()
		defer g.features.mu.RUnlock()
		if s, ok := g.features.resources[uri]; ok {
			return s, true
		}
		for _, t := range g.features.templates {
			if t.tmpl.Regexp().MatchString(uri) {
				return t.server, true
			}
		}
		return "", false
	}
	if s, ok := find(); ok {
		return s, true
	}
	g.listResources(ctx)
	g.listResourceTemplates(ctx)
	return find()
}

// timed bounds a forwarded request that has no budget of its own with
// timeout_settings.default_timeout, and records it.
func timed[T any](ctx context.Context, g *Gateway, name string, fn func(context.Context) (T, error)) (T, error) {
	ctx, op := g.timeouts.Start(ctx, KindDefault, name)
	v, err := fn(ctx)
	if err != nil && op.TimedOut() {
		err = &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: op.Err().Error()}
	}
	op.End(err)
	return v, err
}

func (g *Gateway) readResource(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	return timed(ctx, g, "resources/read", func(ctx context.Context) (*mcp.ReadResourceResult, error) { return g.readResourceNow(ctx, req) })
}

func (g *Gateway) readResourceNow(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	uri := req.Params.URI
	server, ok := g.resourceServer(ctx, uri)
	if !ok {
		return nil, mcp.ResourceNotFoundError(uri)
	}
	subject := fmt.Sprintf("Resource %q", guard.Mask(uri))
	if err := g.checkIn(ctx, server, subject, uri); err != nil {
		return nil, g.blockedErr(err)
	}
	cs, err := g.sessions.Session(ctx, server)
	if err != nil {
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: g.redact(fmt.Sprintf("upstream server %q is unavailable: %v", server, err))}
	}
	res, err := cs.ReadResource(ctx, req.Params)
	if err != nil {
		return nil, g.clientErr(ctx, server, subject, err)
	}
	if cg, ok := g.opts.Guard.(ContentGuard); ok {
		res, err = cg.CheckResource(ctx, server, uri, res)
		if err != nil {
			g.noteInjectionIn(err, server, fmt.Sprintf("resource %q of server %q", guard.Mask(uri), server))
			return nil, g.blockedErr(err)
		}
	}
	return res, nil
}

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

// checkIn applies the input check of PathGuard, if the Guard has it, within
// the guardrail budget; no verdict in time blocks.
func (g *Gateway) checkIn(ctx context.Context, server, subject string, v any) error {
	pg, ok := g.opts.Guard.(PathGuard)
	if !ok {
		return nil
	}
	return g.pathCheck(ctx, "input guardrails of "+subject, func(ctx context.Context) error { return pg.CheckInput(ctx, server, subject, v) })
}

// checkOut is checkIn for the output check.
func (g *Gateway) checkOut(ctx context.Context, server, subject string, v any) error {
	pg, ok := g.opts.Guard.(PathGuard)
	if !ok {
		return nil
	}
	return g.pathCheck(ctx, "output guardrails of "+subject, func(ctx context.Context) error { return pg.CheckOutput(ctx, server, subject, v) })
}

func (g *Gateway) pathCheck(ctx context.Context, name string, fn func(context.Context) error) error {
	gctx, op := g.timeouts.Start(context.WithoutCancel(ctx), KindGuardrail, name)
	_, err := within(gctx, op, func(ctx context.Context) (struct{}, error) { return struct{}{}, fn(ctx) })
	op.End(err)
	return err
}

// blockedErr is the client's JSON-RPC error for a request a guardrail
// stopped: the guard's text, which names the guardrail and never what it
// matched, or the guardrail timeout.
func (g *Gateway) blockedErr(err error) error {
	var te *TimeoutError
	if errors.As(err, &te) {
		return &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: fmt.Sprintf("blocked: the guardrails gave no verdict within %s (guardrail_timeout)", te.Budget)}
	}
	var be *guard.BlockedError
	if errors.As(err, &be) {
		return &jsonrpc.Error{Code: jsonrpc.CodeInvalidRequest, Message: be.Error()}
	}
	return &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: g.redact(err.Error())}
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

func (g *Gateway) subscribe(ctx context.Context, req *mcp.SubscribeRequest) error {
	server, cs, err := g.resourceSession(ctx, req.Params.URI)
	if err != nil {
		return err
	}
	return g.clientErr(ctx, server, fmt.Sprintf("Subscription to %q", guard.Mask(req.Params.URI)), cs.Subscribe(ctx, req.Params))
}

func (g *Gateway) unsubscribe(ctx context.Context, req *mcp.UnsubscribeRequest) error {
	server, cs, err := g.resourceSession(ctx, req.Params.URI)
	if err != nil {
		return err
	}
	return g.clientErr(ctx, server, fmt.Sprintf("Subscription to %q", guard.Mask(req.Params.URI)), cs.Unsubscribe(ctx, req.Params))
}

// resourceSession returns the server that offers uri and its session,
// after uri passed the server's input policy.
func (g *Gateway) resourceSession(ctx context.Context, uri string) (string, *mcp.ClientSession, error) {
	server, ok := g.resourceServer(ctx, uri)
	if !ok {
		return "", nil, mcp.ResourceNotFoundError(uri)
	}
	if err := g.checkIn(ctx, server, fmt.Sprintf("Resource %q", guard.Mask(uri)), uri); err != nil {
		return "", nil, g.blockedErr(err)
	}
	cs, err := g.sessions.Session(ctx, server)
	if err != nil {
		return "", nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: g.redact(fmt.Sprintf("upstream server %q is unavailable: %v", server, err))}
	}
	return server, cs, nil
}

func (g *Gateway) listPrompts(ctx context.Context) (*mcp.ListPromptsResult, error) {
	per := make([][]*mcp.Prompt, len(g.servers))
	g.fanOut(ctx, "prompts/list", hasPrompts, func(ctx context.Context, i int, cs *mcp.ClientSession) error {
		for p, err := range cs.Prompts(ctx, nil) {
			if err != nil {
				return err
			}
			per[i] = append(per[i], p)
		}
		return nil
	})
	routes := make(map[string]route)
	out := []*mcp.Prompt{}
	for i, ps := range per {
		s := g.servers[i]
		for _, p := range ps {
			if !g.metadataOK(ctx, s.Name, "prompt", p.Name, p) {
				continue
			}
			name := SanitizeName(s.Prefix() + p.Name)
			if prev, ok := routes[name]; ok {
				g.log.Warn().Str("prompt", name).Str("server", s.Name).Str("kept_from", prev.server).Msg("prompt name collision: withheld, the first server in config order keeps the name")
				continue
			}
			routes[name] = route{server: s.Name, tool: p.Name}
			q := *p
			q.Name = name
			out = append(out, &q)
		}
	}
	g.features.mu.Lock()
	g.features.prompts = routes
	g.features.mu.Unlock()
	return &mcp.ListPromptsResult{Prompts: out}, nil
}

func (g *Gateway) promptRoute(ctx context.Context, name string) (route, bool) {
	g.features.mu.RLock()
	r, ok := g.features.prompts[name]
	g.features.mu.RUnlock()
	if ok {
		return r, true
	}
	g.listPrompts(ctx)
	g.features.mu.RLock()
	defer g.features.mu.RUnlock()
	r, ok = g.features.prompts[name]
	return r, ok
}

func (g *Gateway) getPrompt(ctx context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
	return timed(ctx, g, "prompts/get", func(ctx context.Context) (*mcp.GetPromptResult, error) { return g.getPromptNow(ctx, req) })
}

func (g *Gateway) getPromptNow(ctx context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
	r, ok := g.promptRoute(ctx, req.Params.Name)
	if !ok {
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("unknown prompt %q", req.Params.Name)}
	}
	if len(req.Params.Arguments) > 0 {
		if err := g.checkIn(ctx, r.server, fmt.Sprintf("The arguments of prompt %q", r.tool), req.Params.Arguments); err != nil {
			return nil, g.blockedErr(err)
		}
	}
	cs, err := g.sessions.Session(ctx, r.server)
	if err != nil {
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: g.redact(fmt.Sprintf("upstream server %q is unavailable: %v", r.server, err))}
	}
	p := *req.Params
	p.Name = r.tool
	res, err := cs.GetPrompt(ctx, &p)
	if err != nil {
		return nil, g.clientErr(ctx, r.server, fmt.Sprintf("Prompt %q", r.tool), err)
	}
	if cg, ok := g.opts.Guard.(ContentGuard); ok {
		res, err = cg.CheckPrompt(ctx, r.server, r.tool, res)
		if err != nil {
			g.noteInjectionIn(err, r.server, fmt.Sprintf("prompt %q of server %q", r.tool, r.server))
			return nil, g.blockedErr(err)
		}
	}
	return res, nil
}

// complete routes completion/complete by its reference: a prompt by its
// exported name, a resource by its URI.
func (g *Gateway) complete(ctx context.Context, req *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
	return timed(ctx, g, "completion/complete", func(ctx context.Context) (*mcp.CompleteResult, error) { return g.completeNow(ctx, req) })
}

func (g *Gateway) completeNow(ctx context.Context, req *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
	if req.Params == nil || req.Params.Ref == nil {
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "completion/complete needs a ref"}
	}
	p := *req.Params
	ref := *p.Ref
	var server string
	switch ref.Type {
	case "ref/prompt":
		r, ok := g.promptRoute(ctx, ref.Name)
		if !ok {
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("unknown prompt %q", ref.Name)}
		}
		server, ref.Name = r.server, r.tool
	case "ref/resource":
		s, ok := g.resourceServer(ctx, ref.URI)
		if !ok {
			return nil, mcp.ResourceNotFoundError(ref.URI)
		}
		server = s
	default:
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("unknown completion ref type %q", ref.Type)}
	}
	p.Ref = &ref
	subject := "Completion"
	if err := g.checkIn(ctx, server, subject, struct {
		Argument mcp.CompleteParamsArgument `json:"argument"`
		Context  *mcp.CompleteContext       `json:"context,omitempty"`
	}{p.Argument, p.Context}); err != nil {
		return nil, g.blockedErr(err)
	}
	cs, err := g.sessions.Session(ctx, server)
	if err != nil {
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: g.redact(fmt.Sprintf("upstream server %q is unavailable: %v", server, err))}
	}
	res, err := cs.Complete(ctx, &p)
	if err != nil {
		return nil, g.clientErr(ctx, server, subject, err)
	}
	if err := g.checkOut(ctx, server, subject, res); err != nil {
		g.noteInjectionIn(err, server, fmt.Sprintf("a completion of server %q", server))
		return nil, g.blockedErr(err)
	}
	return res, nil
}

// setLevel records the client's logging level (the SDK filters what the
// gateway sends by it) and passes it to every upstream that offers logging.
func (g *Gateway) setLevel(ctx context.Context, req *mcp.ServerRequest[*mcp.SetLoggingLevelParams], next mcp.MethodHandler) (mcp.Result, error) {
	res, err := next(ctx, "logging/setLevel", req)
	if err != nil {
		return res, err
	}
	g.fanOut(ctx, "logging/setLevel", func(c *mcp.ServerCapabilities) bool { return c.Logging != nil },
		func(ctx context.Context, _ int, cs *mcp.ClientSession) error {
			return cs.SetLoggingLevel(ctx, req.Params)
		})
	return res, nil
}

// Sentinels that never reach a client: adding and removing one is how the
// gateway asks the SDK to send a (debounced) list_changed notification.
const (
	sentinelPrompt   = "secure-mcp-gateway.internal.list-changed"
	sentinelResource = "secure-mcp-gateway-internal:list-changed"
)

func (g *Gateway) notifyPromptListChanged() {
	g.server.AddPrompt(&mcp.Prompt{Name: sentinelPrompt}, func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		return nil, fmt.Errorf("unreachable")
	})
	g.server.RemovePrompts(sentinelPrompt)
}

func (g *Gateway) notifyResourceListChanged() {
	g.server.AddResource(&mcp.Resource{URI: sentinelResource, Name: "sentinel"}, func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return nil, fmt.Errorf("unreachable")
	})
	g.server.RemoveResources(sentinelResource)
}

// clientErr is how an upstream's failure reaches the client: the upstream's
// own JSON-RPC error after its message and data passed server's output
// policy (a blocked one is replaced by a text naming the guardrail, and an
// injection in it arms the toxic-flow rule), anything else (transport
// errors quote URLs, which may carry credentials) as an internal error with
// known secrets masked. subject names the request for the texts.
func (g *Gateway) clientErr(ctx context.Context, server, subject string, err error) error {
	if err == nil {
		return nil
	}
	var rpcErr *jsonrpc.Error
	if errors.As(err, &rpcErr) {
		if berr := g.checkOut(ctx, server, "The error of "+lowerFirst(subject), rpcErr); berr != nil {
			g.log.Warn().Str("server", server).Str("request", guard.Mask(subject)).Err(berr).Msg("upstream error blocked")
			g.noteInjectionIn(berr, server, fmt.Sprintf("%s of server %q", lowerFirst(subject), server))
			return g.blockedErr(berr)
		}
		return rpcErr
	}
	return &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: g.redact(undecodable(err).Error())}
}

// lowerFirst lower-cases the first letter of a subject ("Resource \"x\"")
// for use inside a sentence.
func lowerFirst(s string) string {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return s
	}
	return string(s[0]+'a'-'A') + s[1:]
}
