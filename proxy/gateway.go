package proxy

//lint:file-ignore SA1019 The gateway forwards sampling, roots and logging, which clients of protocol 2025-11-25 use; only the draft 2026-07-28 deprecates them.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/rs/zerolog"

	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/guard"
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
// clients, newest first.
var SupportedProtocolVersions = []string{"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"}

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
	// forwarded by enkrypt_secure_call_tools), after its response is
	// decided. Nil means none.
	Observers []Observer
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
// principal's upstream servers and forwards calls to them.
type Gateway struct {
	opts     Options
	log      zerolog.Logger
	servers  []*config.Server
	sessions Sessions
	server   *mcp.Server
	timeouts *TimeoutTracker // budgets and metrics of every operation kind
	rawCache ToolCache       // Options.ToolCache unwrapped, for the meta-tools' cache status and clear

	discoverMu  sync.Mutex               // guards discovering; never held across an upstream round trip
	discovering map[string]chan struct{} // server -> closed when the discovery of it in flight ends
	closeOnce   sync.Once                // arms OnClose once
	dc          discoveryCache

	features featureRoutes // resources and prompts by upstream
	progress progressRelay // gateway progress tokens -> the client's
	inflight inflightCalls // client call contexts per server
	notes    notifier      // log relay: rate limits, drops, the bounded queue to the client
	toxic    toxicFlow     // prompt injections seen in this session; arms the toxic-flow rule

	observers []Observer // Options.Observers and OnCall's adapter
	who       CallEvent  // the principal's ids, the template of every CallEvent

	mu       sync.RWMutex
	state    map[string]*serverState        // by server name
	exported []*mcp.Tool                    // the tools/list answer, in config order
	routes   map[string]route               // exported name -> upstream
	schemas  map[route]*jsonschema.Resolved // a tool's input schema, when it resolves
	withheld map[string]string              // exported name -> why the guard withheld it
	built    bool                           // exported/routes reflect at least one discovery round
}

// serverState is what discovery knows about one upstream.
type serverState struct {
	tools    []*mcp.Tool       // as the upstream listed them and the guard let through; nil until discovered
	withheld map[string]string // upstream tool name -> why the guard withheld it
	ok       bool              // the last discovery succeeded
	err      error             // why the last discovery failed
	// gen counts the upstream's announced changes (list_changed) and the
	// expiries of its list; listed is the gen the tools reflect: the gen
	// when the listing that produced them began. A change announced while
	// a listing runs leaves listed behind gen, so that listing's answer is
	// stale and another one follows: no notification is lost.
	gen, listed uint64
	listedAt    time.Time // when the tools were last listed live (or loaded)
	// tapped counts the list_changed notifications seen in wire order (by
	// the stdio connection tap), handled those of them the SDK has since
	// dispatched, so that one notification bumps gen once.
	tapped, handled uint64
	// session is the upstream session the tools were listed from; a call
	// on another one (the server restarted) lists it again first, since a
	// new process may offer other definitions without announcing them.
	session *mcp.ClientSession
}

// dirty reports whether the upstream announced a change, or its list
// expired, since the tools were listed.
func (st *serverState) dirty() bool { return st.gen != st.listed }

// route says where an exported tool goes.
type route struct {
	server string
	tool   string // the upstream's own name
}

// New returns a Gateway for principal's servers, reaching them through
// sessions. It starts nothing: upstreams start on the first tools/list or
// call that needs them.
func New(principal *authn.Principal, sessions Sessions, opts *Options) *Gateway {
	g := &Gateway{sessions: sessions, state: map[string]*serverState{}, routes: map[string]route{}}
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
	if g.opts.ToolCache != nil {
		g.rawCache = g.opts.ToolCache
		g.opts.ToolCache = timedCache{tc: g.opts.ToolCache, t: g.timeouts}
	}
	if principal != nil && principal.MCPConfig != nil {
		g.servers = principal.MCPConfig.Servers
	}
	for _, s := range g.servers {
		g.state[s.Name] = &serverState{}
	}
	g.dc.init(g.opts.ToolCache, principal)
	g.observers, g.who = observersOf(&g.opts), principalIDs(principal)
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
		SubscribeHandler:   g.subscribe,
		UnsubscribeHandler: g.unsubscribe,
		CompletionHandler:  g.complete,
		// The draft 2026-07-28 protocol (stateless discover, result caching)
		// is left out until the gateway forwards its semantics; clients that
		// ask for it fall back to the 2025-11-25 handshake.
		SupportedProtocolVersions: SupportedProtocolVersions,
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
// goes to the SDK.
func (g *Gateway) middleware(next mcp.MethodHandler) mcp.MethodHandler {
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
					return g.callMeta(ctx, r)
				}
				return g.callTool(ctx, r)
			}
		case "resources/list":
			return g.listResources(ctx)
		case "resources/templates/list":
			return g.listResourceTemplates(ctx)
		case "resources/read":
			if r, ok := req.(*mcp.ReadResourceRequest); ok {
				return g.readResource(ctx, r)
			}
		case "prompts/list":
			return g.listPrompts(ctx)
		case "prompts/get":
			if r, ok := req.(*mcp.GetPromptRequest); ok {
				return g.getPrompt(ctx, r)
			}
		case "logging/setLevel":
			if r, ok := req.(*mcp.ServerRequest[*mcp.SetLoggingLevelParams]); ok {
				return g.setLevel(ctx, r, next)
			}
		}
		return next(ctx, method, req)
	}
}

func (g *Gateway) listTools(ctx context.Context) (*mcp.ListToolsResult, error) {
	g.expire("")
	g.discover(ctx)
	g.mu.RLock()
	defer g.mu.RUnlock()
	tools := g.exported
	if tools == nil {
		tools = []*mcp.Tool{}
	}
	return &mcp.ListToolsResult{Tools: tools}, nil
}

// UpstreamToolsChanged tells the gateway that server announced a new tool
// list. The gateway lists it again and, if what the client sees changed,
// notifies the client.
func (g *Gateway) UpstreamToolsChanged(server string) {
	g.mu.Lock()
	st, ok := g.state[server]
	if ok {
		if st.tapped > st.handled {
			st.handled++ // the tap counted it already
		} else {
			st.gen++
		}
	}
	g.mu.Unlock()
	if !ok {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), g.opts.DiscoveryTimeout)
		defer cancel()
		if g.discover(ctx) {
			g.notifyToolListChanged()
		}
	}()
}

// markChanged records, as the notification is read from a stdio upstream
// and so in wire order, that server announced a change to its tools: the
// list the gateway holds, and any listing in flight whose reply has not been
// read yet, are stale. UpstreamToolsChanged, which the SDK calls later for
// the same notification, then only starts the re-list.
func (g *Gateway) markChanged(server string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if st, ok := g.state[server]; ok {
		st.gen++
		st.tapped++
	}
}

// expire marks stale the servers (only, or all when only is empty) whose
// tool list is older than RelistInterval, so that the next discovery lists
// them again.
func (g *Gateway) expire(only string) {
	if g.opts.RelistInterval < 0 {
		return
	}
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	for name, st := range g.state {
		if (only == "" || name == only) && st.ok && !st.dirty() && !st.listedAt.IsZero() && now.Sub(st.listedAt) >= g.opts.RelistInterval {
			st.gen++
		}
	}
}

// ensureCurrent makes sure, before a call of server's tool is forwarded on
// cs, that the gateway's view of the server's tools is current: when the
// server announced a change, its list is older than RelistInterval, or it
// was listed on another session (it restarted since), it is listed again
// first (once, however many calls wait), so that the guard and
// the pins judge the definition the call will run.
func (g *Gateway) ensureCurrent(ctx context.Context, server string, cs *mcp.ClientSession) {
	g.expire(server)
	g.mu.Lock()
	st := g.state[server]
	if st != nil && cs != nil && st.session != nil && st.session != cs && !st.dirty() {
		st.gen++ // the server restarted since it was listed
	}
	stale := st != nil && st.dirty()
	g.mu.Unlock()
	if stale && g.discoverOnly(ctx, server) {
		g.notifyToolListChanged()
	}
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

// discover lists the tools of every upstream that has not been listed yet,
// failed last time, or announced a change, in parallel and bounded by the
// discovery timeout. An upstream that fails costs only its own tools. It
// reports whether the exported tool set changed.
func (g *Gateway) discover(ctx context.Context) bool { return g.discoverOnly(ctx, "") }

// discoverOnly is discover restricted to the server named only, or to every
// server when only is empty.
//
// Discovery is per server: a server whose discovery another round already
// runs is waited for, not listed again, and no lock is held across an
// upstream round trip, so a slow server delays only the rounds that need
// it, and a round for another server (the meta-tools', a list_changed
// one) never waits for it.
func (g *Gateway) discoverOnly(ctx context.Context, only string) bool {
	changed := false
	for round := 0; round < maxDiscoveryRounds && ctx.Err() == nil; round++ {
		c, again := g.discoverRound(ctx, only)
		changed = changed || c
		if !again {
			break
		}
		// A change was announced while the round listed: its answers
		// may predate the change, so the round runs again.
		g.log.Debug().Str("server", only).Msg("tools changed during discovery; listing again")
	}
	return changed
}

// discoverRound is one round of discoverOnly. It reports whether the
// exported set changed, and whether a server listed in this round
// announced a change while it was listed.
func (g *Gateway) discoverRound(ctx context.Context, only string) (changed, again bool) {
	var todo []*config.Server
	var others []chan struct{} // discoveries of todo's servers that other rounds run
	var waited []string        // their servers
	startGen := map[string]uint64{}
	g.discoverMu.Lock()
	g.mu.RLock()
	for _, s := range g.servers {
		if st := g.state[s.Name]; (!st.ok || st.dirty()) && (only == "" || s.Name == only) {
			if ch, ok := g.discovering[s.Name]; ok {
				others, waited = append(others, ch), append(waited, s.Name)
				continue
			}
			todo = append(todo, s)
			startGen[s.Name] = st.gen
		}
	}
	built := g.built
	g.mu.RUnlock()
	if g.discovering == nil {
		g.discovering = map[string]chan struct{}{}
	}
	mine := map[string]chan struct{}{} // this round's servers, until each is recorded
	for _, s := range todo {
		ch := make(chan struct{})
		mine[s.Name], g.discovering[s.Name] = ch, ch
	}
	g.discoverMu.Unlock()
	// done ends the discovery of one server of this round, waking the
	// rounds that wait for it.
	done := func(names ...string) {
		g.discoverMu.Lock()
		defer g.discoverMu.Unlock()
		for _, name := range names {
			if ch, ok := mine[name]; ok {
				delete(mine, name)
				delete(g.discovering, name)
				close(ch)
			}
		}
	}
	defer func() {
		var left []string
		g.discoverMu.Lock()
		for name := range mine {
			left = append(left, name)
		}
		g.discoverMu.Unlock()
		done(left...)
	}()
	if len(todo) == 0 && len(others) == 0 && built {
		return false, false
	}
	if len(todo) == 0 {
		ctx, cancel := context.WithTimeout(ctx, g.opts.DiscoveryTimeout)
		defer cancel()
		waitAll(ctx, others)
		return g.rebuild(), g.anyDirty(waited)
	}
	all := todo
	todo, stale := g.loadCached(ctx, todo)
	defer g.revalidateLater(stale)
	for _, s := range all {
		if !slices.Contains(todo, s) {
			done(s.Name) // served from the cache
		}
	}

	ctx, op := g.timeouts.Start(ctx, KindDiscovery, fmt.Sprintf("tool discovery of %d server(s)", len(todo)))
	var roundErr error
	defer func() { op.End(roundErr) }()
	type found struct {
		name     string
		tools    []*mcp.Tool
		withheld map[string]string
		err      error
	}
	results := make(chan found, len(todo))
	for _, s := range todo {
		go func() {
			tools, err := g.listUpstream(ctx, s.Name)
			if err == nil {
				g.cacheDiscovered(ctx, s, tools)
			}
			f := found{name: s.Name, tools: tools, err: undecodable(err)}
			if err == nil && g.opts.Guard != nil {
				f.tools, f.withheld = g.opts.Guard.FilterTools(ctx, s.Name, tools)
			}
			results <- f
		}()
	}
	for range todo {
		f := <-results
		g.mu.Lock()
		st := g.state[f.name]
		if f.err != nil {
			if op.TimedOut() {
				f.err = &TimeoutError{Kind: KindDiscovery, Operation: fmt.Sprintf("tool discovery of server %q", f.name), Budget: op.Budget()}
			}
			st.ok, st.err = false, f.err
			roundErr = f.err
			g.log.Warn().Str("server", f.name).Err(f.err).Msg("tool discovery failed; its tools are withheld until it recovers")
		} else {
			st.tools, st.withheld, st.ok = f.tools, f.withheld, true
			st.listed, st.listedAt = startGen[f.name], time.Now()
			if st.dirty() {
				again = true
			}
			g.log.Debug().Str("server", f.name).Int("tools", len(f.tools)).Msg("discovered tools")
		}
		g.mu.Unlock()
		done(f.name)
	}
	waitAll(ctx, others) // within the round's budget
	return g.rebuild(), again || g.anyDirty(waited)
}

// anyDirty reports whether one of servers announced a change since it was
// last listed: a round that waited for another round's listing of it runs
// again, as that round itself does.
func (g *Gateway) anyDirty(servers []string) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	for _, name := range servers {
		if st := g.state[name]; st != nil && st.dirty() {
			return true
		}
	}
	return false
}

// waitAll waits until every channel is closed or ctx ends.
func waitAll(ctx context.Context, chans []chan struct{}) {
	for _, ch := range chans {
		select {
		case <-ch:
		case <-ctx.Done():
			return
		}
	}
}

func (g *Gateway) listUpstream(ctx context.Context, name string) ([]*mcp.Tool, error) {
	cs, err := g.sessions.Session(ctx, name)
	if err != nil {
		return nil, err
	}
	var tools []*mcp.Tool
	for t, err := range cs.Tools(ctx, nil) {
		if err != nil {
			return nil, fmt.Errorf("list tools of %q: %w", name, err)
		}
		tools = append(tools, t)
	}
	g.mu.Lock()
	if st := g.state[name]; st != nil {
		st.session = cs
	}
	g.mu.Unlock()
	return tools, nil
}

// rebuild recomputes the exported tool set from the per-server state, in
// config order: the first server to claim a name keeps it, later claimants
// are withheld and logged. It reports whether the exported set changed.
func (g *Gateway) rebuild() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	routes := make(map[string]route)
	schemas := make(map[route]*jsonschema.Resolved)
	withheld := make(map[string]string)
	var exported []*mcp.Tool
	for _, s := range g.servers {
		st := g.state[s.Name]
		prefix := s.Prefix()
		for tool, why := range st.withheld {
			if name := SanitizeName(prefix + tool); withheld[name] == "" {
				withheld[name] = fmt.Sprintf("Tool %q of server %q is withheld: %s", name, s.Name, why)
			}
		}
		for _, t := range st.tools {
			if t == nil || !s.ToolAllowed(t.Name) {
				continue
			}
			name := SanitizeName(prefix + t.Name)
			if prev, taken := routes[name]; taken {
				g.log.Warn().Str("server", s.Name).Str("tool", t.Name).Str("exported_as", name).
					Str("kept_from", prev.server).Msg("tool name collision: withheld, the first server in config order keeps the name")
				continue
			}
			schema, err := normalizeSchema(t.InputSchema)
			if err != nil {
				g.log.Warn().Str("server", s.Name).Str("tool", t.Name).Err(err).Msg("tool withheld: unusable input schema")
				continue
			}
			out := *t
			out.Name = name
			out.InputSchema = schema
			if t.OutputSchema != nil {
				if os, err := normalizeSchema(t.OutputSchema); err == nil {
					out.OutputSchema = os
				} else {
					out.OutputSchema = nil
				}
			}
			routes[name] = route{server: s.Name, tool: t.Name}
			if rs, err := resolveSchema(schema); err == nil {
				schemas[route{server: s.Name, tool: t.Name}] = rs
			} else {
				g.log.Debug().Str("server", s.Name).Str("tool", t.Name).Err(err).Msg("input schema does not resolve; arguments are not validated by the gateway")
			}
			exported = append(exported, &out)
		}
	}
	changed := !g.built || !sameTools(g.exported, exported)
	for name := range routes {
		delete(withheld, name)
	}
	g.exported, g.routes, g.schemas, g.withheld, g.built = exported, routes, schemas, withheld, true
	return changed
}

func sameTools(a, b []*mcp.Tool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, err1 := json.Marshal(a[i])
		y, err2 := json.Marshal(b[i])
		if err1 != nil || err2 != nil || string(x) != string(y) {
			return false
		}
	}
	return true
}

// normalizeSchema turns an untrusted upstream schema into a JSON object
// schema: a missing schema becomes {"type":"object"}; a schema that is not a
// JSON object, or whose type is not "object", is refused.
func normalizeSchema(s any) (map[string]any, error) {
	switch v := s.(type) {
	case nil:
		return map[string]any{"type": "object"}, nil
	case map[string]any:
		switch t := v["type"].(type) {
		case nil:
			c := make(map[string]any, len(v)+1)
			for k, x := range v {
				c[k] = x
			}
			c["type"] = "object"
			return c, nil
		case string:
			if t != "object" {
				return nil, fmt.Errorf("schema type is %q, want \"object\"", t)
			}
			return v, nil
		default:
			return nil, fmt.Errorf("schema type is %T, want the string \"object\"", t)
		}
	default:
		// Re-decode other shapes (json.RawMessage, structs) once.
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("encode schema: %w", err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("schema is not a JSON object")
		}
		return normalizeSchema(m)
	}
}

func (g *Gateway) lookup(ctx context.Context, name string) (route, bool) {
	g.mu.RLock()
	r, ok := g.routes[name]
	built := g.built
	g.mu.RUnlock()
	if ok || built {
		return r, ok
	}
	// A client may call before listing (for example after a restart).
	g.discover(ctx)
	g.mu.RLock()
	defer g.mu.RUnlock()
	r, ok = g.routes[name]
	return r, ok
}

func (g *Gateway) callTool(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	start := time.Now()
	name := req.Params.Name
	var rt route
	res, oc, err := g.routeCall(ctx, req, &rt)
	g.emitCall(req, rt.server, name, start, req.Params.Arguments, res, oc, err)
	return res, err
}

// routeCall finds the route of a direct call (into *rt; its server stays
// empty when the tool is unknown) and forwards it.
func (g *Gateway) routeCall(ctx context.Context, req *mcp.CallToolRequest, rt *route) (*mcp.CallToolResult, callOutcome, error) {
	name := req.Params.Name
	r, ok := g.lookup(ctx, name)
	if !ok {
		g.mu.RLock()
		why := g.withheld[name]
		g.mu.RUnlock()
		if why != "" {
			g.log.Warn().Str("tool", guard.Mask(name)).Msg("call to a withheld tool refused")
			return errorResult(why), callOutcome{OutcomeWithheld, "", callFailure(why)}, nil
		}
		if server, err := g.failedServerFor(name); err != nil {
			// The tool belongs to a server that could not be reached: say
			// so, rather than that the tool does not exist.
			if rpcErr := g.onUnavailable(ctx, req, server, err); rpcErr != nil {
				return nil, callOutcome{OutcomeUnavailable, "", rpcErr}, rpcErr
			}
			msg := fmt.Sprintf("Tool %q is unavailable: upstream server %q could not be reached: %v", name, server, err)
			return errorResult(msg), callOutcome{OutcomeUnavailable, "", callFailure(msg)}, nil
		}
		e := &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("unknown tool %q", name)}
		return nil, callOutcome{OutcomeUnknownTool, "", e}, e
	}
	*rt = r
	return g.forward(ctx, r, name, req.Params.Arguments, req)
}

// callOutcome is how a call through forward ended, beyond its result.
type callOutcome struct {
	outcome string // one of the Outcome… constants
	stage   string // "input" or "output" when outcome is OutcomeBlocked
	err     error  // why it was blocked or failed; its text is safe for the client
}

// forward is the one path every tool call takes, direct or through the
// meta-tools: guardrail verdict on the arguments (before the upstream sees
// anything), the upstream call within tool_execution_timeout, then the
// guardrail check of the result. name is the tool's name as the client
// knows it, for messages. req carries the client's progress token and
// session; nil means none.
func (g *Gateway) forward(ctx context.Context, rt route, name string, args json.RawMessage, req *mcp.CallToolRequest) (*mcp.CallToolResult, callOutcome, error) {
	if err := g.validateArgs(rt, args); err != nil {
		// Arguments that break the tool's (pinned) schema never reach the
		// guardrails or the upstream, on either surface.
		e := &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("invalid arguments for tool %q: %v", name, err)}
		return nil, callOutcome{OutcomeRPCError, "", e}, e
	}
	if why := g.egressRefused(rt); why != "" {
		g.log.Warn().Str("server", rt.server).Str("tool", guard.Mask(name)).Msg("egress call refused after a prompt injection in this session")
		err := callFailure(why)
		return errorResult(why), callOutcome{OutcomeBlocked, "input", err}, nil
	}
	var checkResult func(context.Context, *mcp.CallToolResult) (*mcp.CallToolResult, error)
	if g.opts.Guard != nil {
		// The verdict comes before the upstream sees anything, within the
		// guardrail budget; no verdict in time blocks the call.
		type verdict struct {
			args  json.RawMessage
			check func(context.Context, *mcp.CallToolResult) (*mcp.CallToolResult, error)
		}
		gctx, op := g.timeouts.Start(ctx, KindGuardrail, fmt.Sprintf("input guardrails of tool %q on server %q", rt.tool, rt.server))
		run := within[verdict]
		if len(args) <= g.promptBytes() {
			run = inline[verdict]
		}
		v, err := run(gctx, op, func(ctx context.Context) (verdict, error) {
			a, c, err := g.opts.Guard.CheckCall(ctx, rt.server, rt.tool, args)
			return verdict{a, c}, err
		})
		op.End(err)
		if err != nil {
			g.log.Warn().Str("server", rt.server).Str("tool", guard.Mask(name)).Err(err).Msg("call blocked")
			return errorResult(blockedText(err, name, rt.server, "input")), callOutcome{OutcomeBlocked, "input", err}, nil
		}
		args, checkResult = v.args, v.check
	}
	sctx, endWait := context.WithTimeout(ctx, g.opts.CallTimeout) // a restart is waited for within the call's budget
	cs, err := g.sessions.Session(sctx, rt.server)
	endWait()
	if err != nil {
		if rpcErr := g.onUnavailable(ctx, req, rt.server, err); rpcErr != nil {
			return nil, callOutcome{OutcomeUnavailable, "", rpcErr}, rpcErr
		}
		g.log.Warn().Str("server", rt.server).Str("tool", name).Err(err).Msg("call failed: upstream unavailable")
		err = callFailure(fmt.Sprintf("Tool %q failed: upstream server %q is unavailable: %v", name, rt.server, err))
		return errorResult(err.Error()), callOutcome{OutcomeUnavailable, "", err}, nil
	}
	g.confirmCached(ctx, rt.server, cs)
	if why, ok := g.stillExported(rt); !ok {
		// The live definition differs from the cached one it was listed
		// under, and the guard or the pins withheld it.
		g.log.Warn().Str("server", rt.server).Str("tool", name).Msg("call refused: the tool changed since it was listed")
		err := callFailure(why)
		return errorResult(why), callOutcome{OutcomeWithheld, "", err}, nil
	}
	ctx, op := g.timeouts.Start(ctx, KindToolExecution, fmt.Sprintf("tool %q on server %q", rt.tool, rt.server))
	var callErr error
	defer func() { op.End(callErr) }()
	params := &mcp.CallToolParams{Name: rt.tool}
	if len(args) > 0 {
		params.Arguments = args
	}
	defer g.inflight.push(rt.server, ctx)()
	if token := progressToken(req); token != nil {
		// The upstream gets a token of the gateway's own, so that calls
		// with the same client token on two upstreams never cross.
		t, done := g.progress.track(req.Session, rt.server, token)
		defer done()
		params.SetProgressToken(t)
	}
	res, err := cs.CallTool(ctx, params)
	callErr = err
	if err != nil {
		var rpcErr *jsonrpc.Error
		var httpErr *url.Error
		switch {
		case errors.As(err, &httpErr) && ctx.Err() == nil:
			// The HTTP request to a remote upstream failed before it was
			// answered (no usable token: the cause names the login
			// command); the SDK reports that as a JSON-RPC error.
			if rpcErr := g.onUnavailable(ctx, req, rt.server, httpErr.Err); rpcErr != nil {
				callErr = nil
				return nil, callOutcome{OutcomeUnavailable, "", rpcErr}, rpcErr
			}
			err = callFailure(g.redact(fmt.Sprintf("Tool %q on server %q failed: %v", name, rt.server, httpErr.Err)))
			return errorResult(err.Error()), callOutcome{OutcomeUnavailable, "", err}, nil
		case errors.As(err, &rpcErr):
			callErr = nil // the upstream answered
			// An upstream's error is output like a result: its message and
			// data pass the output policy, and a blocked one reaches the
			// client as a text naming the guardrail, never the upstream's.
			if berr := g.checkOut(ctx, rt.server, fmt.Sprintf("The error of tool %q", rt.tool), rpcErr); berr != nil {
				g.log.Warn().Str("server", rt.server).Str("tool", guard.Mask(name)).Err(berr).Msg("error blocked")
				g.noteInjectionIn(berr, rt.server, fmt.Sprintf("tool %q of server %q", rt.tool, rt.server))
				return errorResult(blockedText(berr, name, rt.server, "output")), callOutcome{OutcomeBlocked, "output", berr}, nil
			}
			return nil, callOutcome{OutcomeRPCError, "", rpcErr}, rpcErr
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			g.log.Warn().Str("server", rt.server).Str("tool", name).Dur("timeout", g.opts.CallTimeout).Msg("call timed out")
			err = callFailure(fmt.Sprintf("Tool %q on server %q timed out after %s (tool_execution_timeout).", name, rt.server, g.opts.CallTimeout))
			return errorResult(err.Error()), callOutcome{OutcomeTimeout, "", err}, nil
		case ctx.Err() != nil:
			return nil, callOutcome{OutcomeCancelled, "", ctx.Err()}, ctx.Err()
		case errors.Is(err, mcp.ErrConnectionClosed), errors.Is(err, io.EOF):
			// In-flight calls see EOF when the child dies; later ones see
			// ErrConnectionClosed.
			g.log.Warn().Str("server", rt.server).Str("tool", name).Msg("upstream closed the connection during a call")
			err = callFailure(fmt.Sprintf("Tool %q failed: upstream server %q closed the connection during the call (it may have crashed); the next call restarts it.", name, rt.server))
			return errorResult(err.Error()), callOutcome{OutcomeUnavailable, "", err}, nil
		default:
			err = undecodable(err)
			g.log.Warn().Str("server", rt.server).Str("tool", name).Err(err).Msg("call failed")
			err = callFailure(g.redact(fmt.Sprintf("Tool %q on server %q failed: %v", name, rt.server, err)))
			return errorResult(err.Error()), callOutcome{OutcomeUnavailable, "", err}, nil
		}
	}
	if checkResult != nil {
		gctx, gop := g.timeouts.Start(context.WithoutCancel(ctx), KindGuardrail, fmt.Sprintf("output guardrails of tool %q on server %q", rt.tool, rt.server))
		run := within[*mcp.CallToolResult]
		if limit := g.promptBytes(); resultBytes(res, limit) <= limit {
			run = inline[*mcp.CallToolResult]
		}
		checked, err := run(gctx, gop, func(ctx context.Context) (*mcp.CallToolResult, error) { return checkResult(ctx, res) })
		gop.End(err)
		if err != nil {
			g.log.Warn().Str("server", rt.server).Str("tool", guard.Mask(name)).Err(err).Msg("result blocked")
			g.noteInjection(err, rt)
			return errorResult(blockedText(err, name, rt.server, "output")), callOutcome{OutcomeBlocked, "output", err}, nil
		}
		res = checked
	}
	if res.IsError {
		return res, callOutcome{outcome: OutcomeToolError}, nil
	}
	return res, callOutcome{outcome: OutcomeOK}, nil
}

// promptBytes is the input size up to which the guard's checks run on the
// calling goroutine; -1 when the guard makes no such promise.
func (g *Gateway) promptBytes() int {
	if pg, ok := g.opts.Guard.(promptGuard); ok {
		return pg.PromptCheckBytes()
	}
	return -1
}

// resultBytes adds up the sizes of the strings and data of res (every
// content item with its annotations and _meta, structured content, _meta),
// stopping once the sum passes limit; a part of a kind it does not know
// counts as over the limit.
func resultBytes(res *mcp.CallToolResult, limit int) int {
	n := 0
	for _, c := range res.Content {
		switch c := c.(type) {
		case *mcp.TextContent:
			n += len(c.Text) + annotationBytes(c.Annotations) + valueBytes(map[string]any(c.Meta), 0, limit)
		case *mcp.ImageContent:
			n += len(c.Data) + len(c.MIMEType) + annotationBytes(c.Annotations) + valueBytes(map[string]any(c.Meta), 0, limit)
		case *mcp.AudioContent:
			n += len(c.Data) + len(c.MIMEType) + annotationBytes(c.Annotations) + valueBytes(map[string]any(c.Meta), 0, limit)
		case *mcp.ResourceLink:
			n += len(c.URI) + len(c.Name) + len(c.Title) + len(c.Description) + len(c.MIMEType) +
				annotationBytes(c.Annotations) + valueBytes(map[string]any(c.Meta), 0, limit)
			for _, ic := range c.Icons {
				n += len(ic.Source) + len(ic.MIMEType) + len(ic.Theme) + 8*len(ic.Sizes)
				for _, sz := range ic.Sizes {
					n += len(sz)
				}
			}
		case *mcp.EmbeddedResource:
			n += annotationBytes(c.Annotations) + valueBytes(map[string]any(c.Meta), 0, limit)
			if r := c.Resource; r != nil {
				n += len(r.URI) + len(r.MIMEType) + len(r.Text) + len(r.Blob) + valueBytes(map[string]any(r.Meta), 0, limit)
			}
		default:
			return limit + 1
		}
		if n > limit {
			return n
		}
	}
	n = valueBytes(res.StructuredContent, n, limit)
	if n > limit {
		return n
	}
	return valueBytes(map[string]any(res.Meta), n, limit)
}

// annotationBytes is the size of a content item's annotations.
func annotationBytes(a *mcp.Annotations) int {
	if a == nil {
		return 0
	}
	n := len(a.LastModified) + 16
	for _, r := range a.Audience {
		n += len(r) + 3
	}
	return n
}

// valueBytes adds the sizes of the strings, keys and raw JSON in v to n,
// stopping once n passes limit.
func valueBytes(v any, n, limit int) int {
	switch v := v.(type) {
	case nil, bool, float64, int, int64, json.Number:
		return n + 8
	case string:
		return n + len(v)
	case json.RawMessage:
		return n + len(v)
	case []any:
		for _, x := range v {
			if n = valueBytes(x, n, limit); n > limit {
				return n
			}
		}
		return n
	case map[string]any:
		for k, x := range v {
			if n = valueBytes(x, n+len(k), limit); n > limit {
				return n
			}
		}
		return n
	default:
		return limit + 1
	}
}

// blockedText is the client's message for a call a guardrail stopped at
// stage: the guard's own text, or, when no verdict came in time, a text
// naming the timeout.
func blockedText(err error, name, server, stage string) string {
	var te *TimeoutError
	if errors.As(err, &te) {
		what := map[string]string{"input": "the arguments were not forwarded to the server", "output": "the result was withheld"}[stage]
		return fmt.Sprintf("Tool %q on server %q blocked: the %s guardrails gave no verdict within %s (guardrail_timeout); %s.", name, server, stage, te.Budget, what)
	}
	return err.Error()
}

// undecodable replaces an error from decoding an upstream's reply, whose
// text quotes the reply, with one that says what happened and quotes
// nothing; other errors are returned as they are.
func undecodable(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	if errors.As(err, &se) || errors.As(err, &te) {
		return errors.New("the server's reply does not decode as a tool result")
	}
	return err
}

// callFailure is a failure text meant for the client.
type callFailure string

func (c callFailure) Error() string { return string(c) }

// progressToken returns the client's progress token of req, or nil.
func progressToken(req *mcp.CallToolRequest) any {
	if req == nil || req.Params == nil {
		return nil
	}
	return req.Params.GetProgressToken()
}

// resolveSchema prepares an exported input schema for validation.
func resolveSchema(schema map[string]any) (*jsonschema.Resolved, error) {
	b, err := json.Marshal(schema)
	if err != nil {
		return nil, err
	}
	var js jsonschema.Schema
	if err := json.Unmarshal(b, &js); err != nil {
		return nil, err
	}
	return js.Resolve(nil)
}

// validateArgs checks a call's arguments against the tool's input schema.
func (g *Gateway) validateArgs(rt route, args json.RawMessage) error {
	g.mu.RLock()
	rs := g.schemas[rt]
	g.mu.RUnlock()
	if rs == nil {
		return nil
	}
	var v any = map[string]any{}
	if a := bytes.TrimSpace(args); len(a) > 0 && !bytes.Equal(a, []byte("null")) {
		if err := json.Unmarshal(args, &v); err != nil {
			return fmt.Errorf("arguments are not JSON: %w", err)
		}
	}
	return rs.Validate(v)
}

// redact applies Options.Redact.
func (g *Gateway) redact(s string) string {
	if g.opts.Redact == nil {
		return s
	}
	return g.opts.Redact(s)
}

// noteInjection remembers that a result of rt was blocked for a prompt
// injection, which arms the toxic-flow rule (see egressRefused).
func (g *Gateway) noteInjection(err error, rt route) {
	g.noteInjectionIn(err, rt.server, fmt.Sprintf("tool %q of server %q", rt.tool, rt.server))
}

// noteInjectionIn is noteInjection for anything server sent (a result, an
// error, a resource, a prompt, a notification); call names it for the
// refusal texts.
func (g *Gateway) noteInjectionIn(err error, server, call string) { g.toxic.note(err, server, call) }

// egressRefused returns why a call of rt's tool is refused by the toxic-flow
// rule, or "" (see toxicFlow.refused).
func (g *Gateway) egressRefused(rt route) string {
	if g.opts.AllowEgressAfterInjection {
		return ""
	}
	return g.toxic.refused(rt, g.closedWorld)
}

// closedWorld reports whether rt's tool declares openWorldHint: false.
func (g *Gateway) closedWorld(rt route) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	for _, t := range g.state[rt.server].tools {
		if t != nil && t.Name == rt.tool && t.Annotations != nil && t.Annotations.OpenWorldHint != nil && !*t.Annotations.OpenWorldHint {
			return true
		}
	}
	return false
}

// stillExported reports whether rt's tool is still offered by its server
// after a revalidation, or why not.
func (g *Gateway) stillExported(rt route) (string, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	st := g.state[rt.server]
	if why, ok := st.withheld[rt.tool]; ok {
		return fmt.Sprintf("Tool %q of server %q is withheld: %s", rt.tool, rt.server, why), false
	}
	for _, t := range st.tools {
		if t != nil && t.Name == rt.tool {
			return "", true
		}
	}
	return fmt.Sprintf("Tool %q of server %q is no longer offered by the server.", rt.tool, rt.server), false
}

// failedServerFor returns the server whose prefix name carries and whose
// last discovery failed, with that failure.
func (g *Gateway) failedServerFor(name string) (string, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	for _, s := range g.servers {
		st := g.state[s.Name]
		if p := SanitizeName(s.Prefix()); s.Prefix() != "" && st.err != nil && !st.ok && strings.HasPrefix(name, p) {
			return s.Name, st.err
		}
	}
	return "", nil
}

// onUnavailable asks Options.OnUnavailable about a call that failed
// because server is unavailable; nil means the usual error result.
func (g *Gateway) onUnavailable(ctx context.Context, req *mcp.CallToolRequest, server string, err error) error {
	if g.opts.OnUnavailable == nil || req == nil || req.Session == nil {
		return nil
	}
	return g.opts.OnUnavailable(ctx, req.Session, server, err)
}

func errorResult(text string) *mcp.CallToolResult {
	return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: text}}}
}
