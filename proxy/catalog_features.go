package proxy

//lint:file-ignore SA1019 The gateway forwards sampling, roots and logging, which clients of protocol 2025-11-25 use; only the draft 2026-07-28 deprecates them.

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/rs/zerolog"
	"github.com/yosida95/uritemplate/v3"

	"secure-mcp-gateway/guard"
	"secure-mcp-gateway/internal/config"
)

// features is the catalog of the upstreams' resources and prompts, and the
// requests routed by them (subscriptions, completion, logging level). URIs
// stay as the upstream gives them (content refers to them); prompt names
// are prefixed like tools. Listings are merged first-wins in config order,
// as tools are. It has its own lock.
type features struct {
	log              zerolog.Logger
	servers          []*config.Server
	sessions         Sessions
	chk              *checker
	timeouts         *TimeoutTracker
	discoveryTimeout time.Duration

	mu        sync.RWMutex
	resources map[string]string // uri -> server
	templates []templateRoute   // in config order
	prompts   map[string]route  // exported prompt name -> upstream
}

type templateRoute struct {
	server string
	tmpl   *uritemplate.Template
}

func hasResources(c *mcp.ServerCapabilities) bool { return c.Resources != nil }
func hasPrompts(c *mcp.ServerCapabilities) bool   { return c.Prompts != nil }

// listResources lists every upstream's resources; a URI two servers offer
// is served by the first in config order.
func (f *features) listResources(ctx context.Context) (*mcp.ListResourcesResult, error) {
	per := make([][]claim[*mcp.Resource], len(f.servers))
	f.fanOut(ctx, "resources/list", hasResources, func(ctx context.Context, i int, cs *mcp.ClientSession) error {
		for r, err := range cs.Resources(ctx, nil) {
			if err != nil {
				return err
			}
			per[i] = append(per[i], claim[*mcp.Resource]{key: r.URI, item: r})
		}
		return nil
	})
	for i := range per {
		per[i] = slices.DeleteFunc(per[i], func(c claim[*mcp.Resource]) bool {
			return !f.chk.listingOK(ctx, f.servers[i].Name, "resource", c.key, c.item)
		})
	}
	out, owner := firstWins(per, func(i int, c claim[*mcp.Resource], kept int) {
		f.log.Warn().Str("uri", guard.Mask(c.key)).Str("server", f.servers[i].Name).Str("kept_from", f.servers[kept].Name).Msg("resource URI offered by two servers: the first in config order serves it")
	})
	routes := make(map[string]string, len(owner))
	for uri, i := range owner {
		routes[uri] = f.servers[i].Name
	}
	if out == nil {
		out = []*mcp.Resource{}
	}
	f.mu.Lock()
	f.resources = routes
	f.mu.Unlock()
	return &mcp.ListResourcesResult{Resources: out}, nil
}

// listPrompts lists every upstream's prompts under prefixed names; a name
// two servers claim stays with the first in config order.
func (f *features) listPrompts(ctx context.Context) (*mcp.ListPromptsResult, error) {
	type prompt struct {
		name string // exported
		p    *mcp.Prompt
		rt   route
	}
	per := make([][]claim[prompt], len(f.servers))
	f.fanOut(ctx, "prompts/list", hasPrompts, func(ctx context.Context, i int, cs *mcp.ClientSession) error {
		s := f.servers[i]
		for p, err := range cs.Prompts(ctx, nil) {
			if err != nil {
				return err
			}
			name := SanitizeName(s.Prefix() + p.Name)
			per[i] = append(per[i], claim[prompt]{key: name, item: prompt{name, p, route{server: s.Name, tool: p.Name}}})
		}
		return nil
	})
	for i := range per {
		per[i] = slices.DeleteFunc(per[i], func(c claim[prompt]) bool {
			return !f.chk.listingOK(ctx, f.servers[i].Name, "prompt", c.item.p.Name, c.item.p)
		})
	}
	merged, _ := firstWins(per, func(i int, c claim[prompt], kept int) {
		f.log.Warn().Str("prompt", c.key).Str("server", f.servers[i].Name).Str("kept_from", f.servers[kept].Name).Msg("prompt name collision: withheld, the first server in config order keeps the name")
	})
	routes := make(map[string]route, len(merged))
	out := []*mcp.Prompt{}
	for _, m := range merged {
		q := *m.p
		q.Name = m.name
		routes[q.Name] = m.rt
		out = append(out, &q)
	}
	f.mu.Lock()
	f.prompts = routes
	f.mu.Unlock()
	return &mcp.ListPromptsResult{Prompts: out}, nil
}

// fanOut runs fn for every server whose capabilities satisfy has, starting
// servers as needed, in parallel; results land at the server's index in
// config order. A server that cannot start is logged and skipped.
func (f *features) fanOut(ctx context.Context, what string, has func(*mcp.ServerCapabilities) bool, fn func(ctx context.Context, i int, cs *mcp.ClientSession) error) {
	ctx, cancel := context.WithTimeout(ctx, f.discoveryTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for i, s := range f.servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if r := recover(); r != nil {
					caught(&f.log, fmt.Sprintf("%s of server %q", what, s.Name), r)
				}
			}()
			cs, err := f.sessions.Session(ctx, s.Name)
			if err != nil {
				f.log.Warn().Str("server", s.Name).Err(err).Msg(what + ": upstream unavailable")
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
				f.log.Warn().Str("server", s.Name).Err(undecodable(err)).Msg(what + " failed")
			}
		}()
	}
	wg.Wait()
}

func (f *features) listResourceTemplates(ctx context.Context) (*mcp.ListResourceTemplatesResult, error) {
	per := make([][]*mcp.ResourceTemplate, len(f.servers))
	f.fanOut(ctx, "resources/templates/list", hasResources, func(ctx context.Context, i int, cs *mcp.ClientSession) error {
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
			if !f.chk.listingOK(ctx, f.servers[i].Name, "resource template", t.URITemplate, t) {
				continue
			}
			tmpl, err := uritemplate.New(t.URITemplate)
			if err != nil {
				f.log.Warn().Str("server", f.servers[i].Name).Str("template", guard.Mask(t.URITemplate)).Err(err).Msg("resource template withheld: invalid URI template")
				continue
			}
			routes = append(routes, templateRoute{server: f.servers[i].Name, tmpl: tmpl})
			out = append(out, t)
		}
	}
	f.mu.Lock()
	f.templates = routes
	f.mu.Unlock()
	return &mcp.ListResourceTemplatesResult{ResourceTemplates: out}, nil
}

// resourceServer finds the server that offers uri: a listed resource first,
// then a template match, listing again once if nothing is known yet.
func (f *features) resourceServer(ctx context.Context, uri string) (string, bool) {
	find := func() (string, bool) {
		f.mu.RLock()
		defer f.mu.RUnlock()
		if s, ok := f.resources[uri]; ok {
			return s, true
		}
		for _, t := range f.templates {
			if t.tmpl.Regexp().MatchString(uri) {
				return t.server, true
			}
		}
		return "", false
	}
	if s, ok := find(); ok {
		return s, true
	}
	f.listResources(ctx)
	f.listResourceTemplates(ctx)
	return find()
}

func (f *features) subscribe(ctx context.Context, req *mcp.SubscribeRequest) error {
	server, cs, err := f.resourceSession(ctx, req.Params.URI)
	if err != nil {
		return err
	}
	return f.chk.clientErr(ctx, server, fmt.Sprintf("Subscription to %q", guard.Mask(req.Params.URI)), cs.Subscribe(ctx, req.Params))
}

func (f *features) unsubscribe(ctx context.Context, req *mcp.UnsubscribeRequest) error {
	server, cs, err := f.resourceSession(ctx, req.Params.URI)
	if err != nil {
		return err
	}
	return f.chk.clientErr(ctx, server, fmt.Sprintf("Subscription to %q", guard.Mask(req.Params.URI)), cs.Unsubscribe(ctx, req.Params))
}

// resourceSession returns the server that offers uri and its session,
// after uri passed the server's input policy.
func (f *features) resourceSession(ctx context.Context, uri string) (string, *mcp.ClientSession, error) {
	server, ok := f.resourceServer(ctx, uri)
	if !ok {
		return "", nil, mcp.ResourceNotFoundError(uri)
	}
	if err := f.chk.in(ctx, server, fmt.Sprintf("Resource %q", guard.Mask(uri)), uri); err != nil {
		return "", nil, f.chk.blocked(err)
	}
	cs, err := f.sessions.Session(ctx, server)
	if err != nil {
		return "", nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: f.chk.redact(fmt.Sprintf("upstream server %q is unavailable: %v", server, err))}
	}
	return server, cs, nil
}

func (f *features) promptRoute(ctx context.Context, name string) (route, bool) {
	f.mu.RLock()
	r, ok := f.prompts[name]
	f.mu.RUnlock()
	if ok {
		return r, true
	}
	f.listPrompts(ctx)
	f.mu.RLock()
	defer f.mu.RUnlock()
	r, ok = f.prompts[name]
	return r, ok
}

// complete routes completion/complete by its reference: a prompt by its
// exported name, a resource by its URI.
func (f *features) complete(ctx context.Context, req *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
	return timed(ctx, f.timeouts, "completion/complete", func(ctx context.Context) (*mcp.CompleteResult, error) { return f.completeNow(ctx, req) })
}

func (f *features) completeNow(ctx context.Context, req *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
	if req.Params == nil || req.Params.Ref == nil {
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "completion/complete needs a ref"}
	}
	p := *req.Params
	ref := *p.Ref
	var server string
	switch ref.Type {
	case "ref/prompt":
		r, ok := f.promptRoute(ctx, ref.Name)
		if !ok {
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("unknown prompt %q", ref.Name)}
		}
		server, ref.Name = r.server, r.tool
	case "ref/resource":
		s, ok := f.resourceServer(ctx, ref.URI)
		if !ok {
			return nil, mcp.ResourceNotFoundError(ref.URI)
		}
		server = s
	default:
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("unknown completion ref type %q", ref.Type)}
	}
	p.Ref = &ref
	subject := "Completion"
	if err := f.chk.in(ctx, server, subject, struct {
		Argument mcp.CompleteParamsArgument `json:"argument"`
		Context  *mcp.CompleteContext       `json:"context,omitempty"`
	}{p.Argument, p.Context}); err != nil {
		return nil, f.chk.blocked(err)
	}
	cs, err := f.sessions.Session(ctx, server)
	if err != nil {
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: f.chk.redact(fmt.Sprintf("upstream server %q is unavailable: %v", server, err))}
	}
	res, err := cs.Complete(ctx, &p)
	if err != nil {
		return nil, f.chk.clientErr(ctx, server, subject, err)
	}
	if err := f.chk.out(ctx, server, subject, res); err != nil {
		f.chk.note(err, server, fmt.Sprintf("a completion of server %q", server))
		return nil, f.chk.blocked(err)
	}
	return res, nil
}

// setLevel records the client's logging level (the SDK filters what the
// gateway sends by it) and passes it to every upstream that offers logging.
func (f *features) setLevel(ctx context.Context, req *mcp.ServerRequest[*mcp.SetLoggingLevelParams], next mcp.MethodHandler) (mcp.Result, error) {
	res, err := next(ctx, "logging/setLevel", req)
	if err != nil {
		return res, err
	}
	f.fanOut(ctx, "logging/setLevel", func(c *mcp.ServerCapabilities) bool { return c.Logging != nil },
		func(ctx context.Context, _ int, cs *mcp.ClientSession) error {
			return cs.SetLoggingLevel(ctx, req.Params)
		})
	return res, nil
}

// timed bounds a forwarded request that has no budget of its own with
// timeout_settings.default_timeout, and records it.
func timed[T any](ctx context.Context, t *TimeoutTracker, name string, fn func(context.Context) (T, error)) (T, error) {
	ctx, op := t.Start(ctx, KindDefault, name)
	v, err := fn(ctx)
	if err != nil && op.TimedOut() {
		err = &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: op.Err().Error()}
	}
	op.End(err)
	return v, err
}
