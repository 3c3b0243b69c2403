package proxy

//lint:file-ignore SA1019 The gateway forwards sampling, roots and logging, which clients of protocol 2025-11-25 use; only the draft 2026-07-28 deprecates them.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/rs/zerolog"

	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/internal/config"
)

// Defaults for Options fields left zero.
const (
	DefaultName             = "secure-mcp-gateway"
	DefaultDiscoveryTimeout = config.DefaultDiscoveryTimeout
	DefaultCallTimeout      = config.DefaultToolExecutionTimeout
	// DefaultRelistInterval is how long a tool list is trusted without a
	// list_changed (see Options.RelistInterval).
	DefaultRelistInterval = 30 * time.Second
	// maxDiscoveryRounds bounds the re-runs of a discovery that a
	// list_changed made stale while it ran.
	maxDiscoveryRounds  = 4
	DefaultInstructions = "This is the Secure MCP Gateway. It exposes the tools of the MCP servers configured " +
		"for your gateway key as <server>__<tool> and checks every call against the configured guardrails."
)

// SupportedProtocolVersions are the MCP versions the gateway speaks to
// clients, newest first. A client of 2026-07-28 sends server/discover and
// the protocol version, its info and capabilities with every request; the
// older ones keep the initialize handshake and the session.
var SupportedProtocolVersions = []string{ModernProtocolVersion, "2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"}

// Outcomes of a tool call, as OnCall reports them.
const (
	OutcomeOK          = "ok"
	OutcomeToolError   = "tool_error" // the upstream answered with isError
	OutcomeBlocked     = "blocked"    // a guardrail refused the arguments or the result
	OutcomeWithheld    = "withheld"   // the tool is withheld (poisoned or changed definition)
	OutcomeUnknownTool = "unknown_tool"
	OutcomeUnavailable = "unavailable" // the upstream could not start, crashed or failed
	OutcomeTimeout     = "timeout"
	OutcomeCancelled   = "cancelled"
	OutcomeRPCError    = "rpc_error" // the upstream answered with a JSON-RPC error
)

// Sessions hands out live sessions to upstream servers by name, starting
// them on first use. *upstream.Pool implements it.
type Sessions interface {
	Session(ctx context.Context, name string) (*mcp.ClientSession, error)
}

// Guard checks what crosses the gateway: tool definitions at every
// discovery, and each call's arguments before the upstream sees them and its
// result before the client does. guard.Engine implements it.
type Guard interface {
	// FilterTools returns the subset of server's tool definitions that may
	// be exposed, and for each withheld tool (by its upstream name) the
	// reason, which a client calling it is told.
	FilterTools(ctx context.Context, server string, tools []*mcp.Tool) (allowed []*mcp.Tool, withheld map[string]string)
	// CheckCall inspects a call before it is forwarded. It returns the
	// arguments to forward (possibly redacted) and a function that inspects
	// the result before the client sees it, or an error when the call is
	// blocked. Error texts reach the client and must not contain what was
	// blocked.
	CheckCall(ctx context.Context, server, tool string, args json.RawMessage) (forward json.RawMessage, checkResult func(context.Context, *mcp.CallToolResult) (*mcp.CallToolResult, error), err error)
}

// promptGuard is implemented by a Guard whose checks of inputs up to
// PromptCheckBytes bytes end promptly on their own (linear offline scans,
// remote calls bounded by their context). Those checks run on the calling
// goroutine; any other check runs on a goroutine of its own, so that a
// guard ignoring its context still cannot hold a call past the guardrail
// budget.
type promptGuard interface {
	PromptCheckBytes() int
}

// Options configures a Gateway. A nil *Options means all defaults.
type Options struct {
	// Logger receives the gateway's logs. Nil means no logs.
	Logger *zerolog.Logger
	// Name and Version are the serverInfo the client sees. Empty Name means
	// DefaultName; empty Version means "dev".
	Name, Version string
	// Instructions are the server instructions sent at initialize. Empty
	// means DefaultInstructions.
	Instructions string
	// DiscoveryTimeout bounds starting an upstream and listing its tools.
	// Zero means DefaultDiscoveryTimeout.
	DiscoveryTimeout time.Duration
	// CallTimeout bounds one forwarded tool call. Zero means
	// DefaultCallTimeout.
	CallTimeout time.Duration
	// Guard checks tool definitions, arguments and results. Nil means no
	// checks: everything is forwarded as is.
	Guard Guard
	// SessionID is the MCP session id the gateway's server assigns to its
	// client in HTTP mode. Empty means the SDK's random id (stdio has none).
	SessionID string
	// Redact masks known secrets in text that reaches the client, such as an
	// upstream transport error that quotes a URL. Nil means no masking.
	Redact func(string) string
	// AllowEgressAfterInjection turns off the toxic-flow rule: by default,
	// once a tool result of the session was blocked for a prompt injection,
	// calls of tools that may reach the outside world (openWorldHint not
	// false) are refused for the rest of the session, so that injected
	// instructions cannot make the model send data out.
	AllowEgressAfterInjection bool
	// OnCall, if set, is told the outcome of every tool call (one of the
	// Outcome… constants) and its duration, for metrics. server is empty
	// when the tool is unknown. Nil means nothing is called.
	OnCall func(server, tool, outcome string, d time.Duration)
	// Observers receive one CallEvent per tool call (direct, or each call
	// forwarded by enkrypt_secure_call_tools), resources/read and
	// prompts/get (CallEvent.Method tells them apart), after its response
	// is decided. Nil means none.
	Observers []Observer
	// TraceContext places every request in a W3C trace: the client's
	// (params._meta.traceparent, else the HTTP traceparent header) or a new
	// one; each CallEvent carries the trace's and its spans' ids, and each
	// upstream request gets the gateway's forward span as its parent in
	// params._meta. False means no ids are made and nothing is added to
	// what upstreams receive.
	TraceContext bool
	// OnUnavailable, if set, is asked about a tool call that fails because
	// its upstream cannot be reached, with the calling client's session
	// (nil for meta-tool calls). A non-nil error it returns (such as a URL
	// elicitation to log in, -32042) is the call's JSON-RPC error instead
	// of the error result. Nil means the error result.
	OnUnavailable func(ctx context.Context, ss *mcp.ServerSession, server string, err error) error
	// OnClose, if set, is called once when the client session ends (stdio
	// EOF, HTTP DELETE or idle timeout), so that the caller can reap the
	// upstreams. Nil means nothing is called.
	OnClose func()
	// ToolCache answers tools/list from tool lists remembered across
	// processes, and revalidates them against the upstreams. Nil means no
	// cache: every new gateway lists its upstreams live.
	ToolCache ToolCache
	// ToolExposure is how upstream tools are shown: "direct" re-exports
	// them as <server>__<tool>; "meta" answers tools/list with the seven
	// enkrypt_* meta-tools instead (see meta.go). Empty means "direct".
	ToolExposure string
	// RelistInterval is how long a server's tool list is trusted while the
	// session is live without a list_changed: a tools/call or tools/list
	// after it lists the server again first, so that a definition changed
	// silently is caught by the guard and the pins before the call is
	// forwarded. Zero means DefaultRelistInterval; negative means never.
	RelistInterval time.Duration
	// Timeouts applies the per-kind budgets (timeout_settings) and keeps
	// their metrics; one tracker may serve every session of a process.
	// When set, its discovery and tool_execution budgets replace
	// DiscoveryTimeout and CallTimeout. Nil means a tracker of this gateway
	// alone, with DiscoveryTimeout, CallTimeout and the config defaults.
	Timeouts *TimeoutTracker
}

// Gateway is the MCP server for one principal: it lists the tools of the
// principal's upstream servers and forwards calls to them. It composes the
// parts that do the work, each with its own lock or none: the catalog
// (discovery, merge, pins, generations, cache; resources and prompts in its
// features), the call pipeline, the meta-tool surface, the checks of every
// other path, the timeouts, and the relays of what upstreams send besides
// responses (forward.go).
type Gateway struct {
	opts     Options
	log      zerolog.Logger
	servers  []*config.Server
	server   *mcp.Server
	timeouts *TimeoutTracker // budgets and metrics of every operation kind

	cat  *catalog
	pipe *pipeline
	meta *metaSurface
	chk  *checker

	closeOnce sync.Once     // arms OnClose once
	progress  progressRelay // gateway progress tokens -> the client's
	inflight  inflightCalls // client call contexts per server
	pending   pendingCalls  // calls waiting on a 2026-07-28 client's answer
	notes     notifier      // log relay: rate limits, drops, the bounded queue to the client
	toxic     toxicFlow     // prompt injections seen in this session; arms the toxic-flow rule
}

// New returns a Gateway for principal's servers, reaching them through
// sessions. It starts nothing: upstreams start on the first tools/list or
// call that needs them.
func New(principal *authn.Principal, sessions Sessions, opts *Options) *Gateway {
	g := &Gateway{}
	g.notes.g = g
	if opts != nil {
		g.opts = *opts
	}
	if g.opts.Logger != nil {
		g.log = *g.opts.Logger
	} else {
		g.log = zerolog.Nop()
	}
	if g.opts.Name == "" {
		g.opts.Name = DefaultName
	}
	if g.opts.Version == "" {
		g.opts.Version = "dev"
	}
	if g.opts.Instructions == "" {
		g.opts.Instructions = DefaultInstructions
	}
	if g.opts.DiscoveryTimeout <= 0 {
		g.opts.DiscoveryTimeout = DefaultDiscoveryTimeout
	}
	if g.opts.CallTimeout <= 0 {
		g.opts.CallTimeout = DefaultCallTimeout
	}
	if g.opts.RelistInterval == 0 {
		g.opts.RelistInterval = DefaultRelistInterval
	}
	g.timeouts = g.opts.Timeouts
	if g.timeouts == nil {
		b := BudgetsFromConfig(config.TimeoutSettings{})
		b.ByKind[KindDiscovery], b.ByKind[KindToolExecution] = g.opts.DiscoveryTimeout, g.opts.CallTimeout
		g.timeouts = NewTimeoutTracker(b, &g.log)
	}
	g.opts.DiscoveryTimeout = g.timeouts.Budgets().Budget(KindDiscovery)
	g.opts.CallTimeout = g.timeouts.Budgets().Budget(KindToolExecution)
	rawCache, cache := g.opts.ToolCache, g.opts.ToolCache
	if cache != nil {
		cache = timedCache{tc: cache, t: g.timeouts}
	}
	g.chk = &checker{guard: g.opts.Guard, timeouts: g.timeouts, toxic: &g.toxic, log: g.log, mask: g.opts.Redact}
	g.cat = newCatalog(principal, sessions, &g.opts, cache, g.timeouts, g.log)
	g.cat.changed = g.notifyToolListChanged
	g.servers = g.cat.servers
	g.cat.feat = &features{log: g.log, servers: g.servers, sessions: sessions, chk: g.chk, timeouts: g.timeouts, discoveryTimeout: g.opts.DiscoveryTimeout}
	g.pipe = &pipeline{log: g.log, cat: g.cat, chk: g.chk, guard: g.opts.Guard, sessions: sessions, timeouts: g.timeouts,
		callTimeout: g.opts.CallTimeout, allowEgress: g.opts.AllowEgressAfterInjection, toxic: &g.toxic,
		progress: &g.progress, inflight: &g.inflight, pending: &g.pending, onUnavailable: g.opts.OnUnavailable,
		observers: observersOf(&g.opts), who: principalIDs(principal), sessionID: g.opts.SessionID,
		traceContext: g.opts.TraceContext}
	g.meta = &metaSurface{servers: g.servers, cat: g.cat, pipe: g.pipe, guard: g.opts.Guard, rawCache: rawCache, timeouts: g.timeouts}
	var sessionID func() string
	if id := g.opts.SessionID; id != "" {
		sessionID = func() string { return id }
	}
	g.server = mcp.NewServer(&mcp.Implementation{Name: g.opts.Name, Version: g.opts.Version}, &mcp.ServerOptions{
		GetSessionID: sessionID,
		Instructions: g.opts.Instructions,
		// Upstreams start lazily, after initialize, so their capabilities
		// are not known yet: the gateway offers every feature it forwards
		// and answers empty lists where no upstream has any.
		Capabilities: &mcp.ServerCapabilities{
			Tools:       &mcp.ToolCapabilities{ListChanged: true},
			Resources:   &mcp.ResourceCapabilities{ListChanged: true, Subscribe: true},
			Prompts:     &mcp.PromptCapabilities{ListChanged: true},
			Logging:     &mcp.LoggingCapabilities{},
			Completions: &mcp.CompletionCapabilities{},
		},
		SubscribeHandler:          g.cat.feat.subscribe,
		UnsubscribeHandler:        g.cat.feat.unsubscribe,
		CompletionHandler:         g.cat.feat.complete,
		SupportedProtocolVersions: SupportedProtocolVersions,
		SetCacheable:              g.setCacheable,
		InitializedHandler:        g.initialized,
	})
	g.server.AddReceivingMiddleware(g.middleware)
	return g
}

// initialized watches the client session so that OnClose runs when it ends.
func (g *Gateway) initialized(_ context.Context, req *mcp.InitializedRequest) {
	if g.opts.OnClose == nil {
		return
	}
	g.closeOnce.Do(func() {
		go func() {
			_ = req.Session.Wait()
			g.opts.OnClose()
		}()
	})
}

// Server returns the underlying MCP server, for serving over HTTP.
func (g *Gateway) Server() *mcp.Server { return g.server }

// Run serves the client over t until the client disconnects or ctx ends.
func (g *Gateway) Run(ctx context.Context, t mcp.Transport) error {
	return g.server.Run(ctx, t)
}

// middleware answers tools/list and tools/call itself, so that no mirror of
// the upstream tools has to be kept in the SDK's registry; everything else
// goes to the SDK. Each answer is fitted to the client's protocol version
// (shape).
//
// A panic in the gateway's own code while it answers is caught here: the
// request gets an internal error saying so (see PanicError), and the
// process and its other requests go on.
func (g *Gateway) middleware(next mcp.MethodHandler) mcp.MethodHandler {
	answer := g.answer(next)
	return func(ctx context.Context, method string, req mcp.Request) (res mcp.Result, err error) {
		defer func() {
			if r := recover(); r != nil {
				res, err = nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "secure-mcp-gateway: " + caught(&g.log, method, r).Error()}
			}
		}()
		res, err = answer(ctx, method, req)
		if err != nil {
			return res, err
		}
		return g.shape(req, res), nil
	}
}

// answer is the handler of middleware, before the answer is fitted to the
// client's protocol version.
func (g *Gateway) answer(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		switch method {
		case "tools/list":
			if g.opts.ToolExposure == config.ToolExposureMeta {
				return &mcp.ListToolsResult{Tools: metaTools()}, nil
			}
			return g.listTools(ctx)
		case "tools/call":
			if r, ok := req.(*mcp.CallToolRequest); ok {
				if g.opts.ToolExposure == config.ToolExposureMeta {
					return g.meta.call(ctx, r)
				}
				return g.pipe.callTool(ctx, r)
			}
		case "resources/list":
			return g.cat.feat.listResources(ctx)
		case "resources/templates/list":
			return g.cat.feat.listResourceTemplates(ctx)
		case "resources/read":
			if r, ok := req.(*mcp.ReadResourceRequest); ok {
				return g.pipe.readResource(ctx, r)
			}
		case "prompts/list":
			return g.cat.feat.listPrompts(ctx)
		case "prompts/get":
			if r, ok := req.(*mcp.GetPromptRequest); ok {
				return g.pipe.getPrompt(ctx, r)
			}
		case "logging/setLevel":
			if r, ok := req.(*mcp.ServerRequest[*mcp.SetLoggingLevelParams]); ok {
				return g.cat.feat.setLevel(ctx, r, next)
			}
		}
		return next(ctx, method, req)
	}
}

// listTools answers tools/list: lists stale and new servers first.
func (g *Gateway) listTools(ctx context.Context) (*mcp.ListToolsResult, error) {
	g.cat.expire("")
	g.cat.discover(ctx)
	return &mcp.ListToolsResult{Tools: g.cat.tools()}, nil
}

// UpstreamToolsChanged tells the gateway that server announced a new tool
// list. The gateway lists it again and, if what the client sees changed,
// notifies the client.
func (g *Gateway) UpstreamToolsChanged(server string) {
	if !g.cat.upstreamChanged(server) {
		return
	}
	go func() {
		defer func() {
			if r := recover(); r != nil {
				caught(&g.log, fmt.Sprintf("the tool list change of server %q", server), r)
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), g.opts.DiscoveryTimeout)
		defer cancel()
		if g.cat.discover(ctx) {
			g.notifyToolListChanged()
		}
	}()
}

// listChangedSentinel is a tool name that never reaches a client: adding and
// removing it is how the gateway asks the SDK to send
// notifications/tools/list_changed (debounced) to its sessions.
const listChangedSentinel = "secure-mcp-gateway.internal.list-changed"

func (g *Gateway) notifyToolListChanged() {
	g.server.AddTool(&mcp.Tool{Name: listChangedSentinel, InputSchema: map[string]any{"type": "object"}},
		func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return nil, errors.New("unreachable")
		})
	g.server.RemoveTools(listChangedSentinel)
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
