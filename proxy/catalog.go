package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/rs/zerolog"

	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/internal/config"
)

// catalog is what the gateway knows of its upstreams' tools: the per-server
// discovery state with its list_changed generations, the exported set
// merged first-wins in config order, the tools the guard or the pins
// withhold, each tool's resolved input schema, and the discovery cache. Its
// resources and prompts live in feat. It has its own locks and never holds
// one across an upstream round trip.
type catalog struct {
	log      zerolog.Logger
	servers  []*config.Server
	sessions Sessions
	guard    Guard // nil means no checks
	timeouts *TimeoutTracker
	// discoveryTimeout bounds a background listing; relist is how long a
	// list is trusted (Options.RelistInterval).
	discoveryTimeout, relist time.Duration
	// changed tells the client that the exported tool set changed.
	changed func()

	discoverMu  sync.Mutex               // guards discovering; never held across an upstream round trip
	discovering map[string]chan struct{} // server -> closed when the discovery of it in flight ends
	dc          discoveryCache

	feat *features // resources and prompts by upstream

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

// route says where an exported tool (or prompt) goes.
type route struct {
	server string
	tool   string // the upstream's own name
}

// serverStatus is a snapshot of one server's discovery, for the meta-tools.
type serverStatus struct {
	ok    bool
	err   error
	tools int
}

// newCatalog returns the catalog of principal's servers; tc (nil for none)
// is the discovery cache, already bounded by the cache budget.
func newCatalog(principal *authn.Principal, sessions Sessions, opts *Options, tc ToolCache, timeouts *TimeoutTracker, log zerolog.Logger) *catalog {
	c := &catalog{log: log, sessions: sessions, guard: opts.Guard, timeouts: timeouts,
		discoveryTimeout: opts.DiscoveryTimeout, relist: opts.RelistInterval,
		state: map[string]*serverState{}, routes: map[string]route{}}
	if principal != nil && principal.MCPConfig != nil {
		c.servers = principal.MCPConfig.Servers
	}
	for _, s := range c.servers {
		c.state[s.Name] = &serverState{}
	}
	c.dc.init(c, tc, principal)
	return c
}

// findServer returns the server named name of servers, or nil.
func findServer(servers []*config.Server, name string) *config.Server {
	for _, s := range servers {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// tools returns the exported tools, the tools/list answer.
func (c *catalog) tools() []*mcp.Tool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.exported == nil {
		return []*mcp.Tool{}
	}
	return c.exported
}

// lookup finds the route of an exported tool name, discovering first when
// no round has run yet; when there is none, why says whether the guard or
// the pins withhold the name ("" when not).
func (c *catalog) lookup(ctx context.Context, name string) (r route, why string, ok bool) {
	c.mu.RLock()
	r, ok = c.routes[name]
	built := c.built
	c.mu.RUnlock()
	if !ok && !built {
		// A client may call before listing (for example after a restart).
		c.discover(ctx)
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	r, ok = c.routes[name]
	return r, c.withheld[name], ok
}

// route finds the route of server's upstream tool, or why the guard or the
// pins withhold it ("" when the server has no such tool).
func (c *catalog) route(server, tool string) (rt route, exported, why string, ok bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for name, rt := range c.routes {
		if rt.server == server && rt.tool == tool {
			return rt, name, "", true
		}
	}
	if st := c.state[server]; st != nil {
		if why, ok := st.withheld[tool]; ok {
			return route{}, "", why, false
		}
	}
	return route{}, "", "", false
}

// validate checks a call's arguments against the tool's (pinned) input
// schema.
func (c *catalog) validate(rt route, args json.RawMessage) error {
	c.mu.RLock()
	rs := c.schemas[rt]
	c.mu.RUnlock()
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

// closedWorld reports whether rt's tool declares openWorldHint: false.
func (c *catalog) closedWorld(rt route) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, t := range c.state[rt.server].tools {
		if t != nil && t.Name == rt.tool && t.Annotations != nil && t.Annotations.OpenWorldHint != nil && !*t.Annotations.OpenWorldHint {
			return true
		}
	}
	return false
}

// stillExported reports whether rt's tool is still offered by its server
// after a revalidation, or why not.
func (c *catalog) stillExported(rt route) (string, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	st := c.state[rt.server]
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
func (c *catalog) failedServerFor(name string) (string, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, s := range c.servers {
		st := c.state[s.Name]
		if p := SanitizeName(s.Prefix()); s.Prefix() != "" && st.err != nil && !st.ok && strings.HasPrefix(name, p) {
			return s.Name, st.err
		}
	}
	return "", nil
}

// serverTools returns server's callable tools under their upstream names,
// and the tools guardrails or pins withhold, with why.
func (c *catalog) serverTools(server string) (tools []*mcp.Tool, blocked []map[string]any) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, t := range c.exported {
		if rt, ok := c.routes[t.Name]; ok && rt.server == server {
			cp := *t
			cp.Name = rt.tool
			tools = append(tools, &cp)
		}
	}
	if st := c.state[server]; st != nil {
		for tool, why := range st.withheld {
			blocked = append(blocked, map[string]any{"name": tool, "reasons": []string{why}})
		}
	}
	if tools == nil {
		tools = []*mcp.Tool{}
	}
	if blocked == nil {
		blocked = []map[string]any{}
	}
	return tools, blocked
}

// status returns what discovery knows of server.
func (c *catalog) status(server string) serverStatus {
	c.mu.RLock()
	defer c.mu.RUnlock()
	st := c.state[server]
	return serverStatus{ok: st.ok, err: st.err, tools: len(st.tools)}
}

// invalidate marks server's list stale, so that the next discovery lists
// it live again.
func (c *catalog) invalidate(server string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.state[server].gen++
}

// record stores a listing of server that began at generation listed.
func (c *catalog) record(server string, tools []*mcp.Tool, withheld map[string]string, listed uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.state[server]
	st.tools, st.withheld, st.ok = tools, withheld, true
	st.listed, st.listedAt = listed, time.Now()
}

// upstreamChanged records that server announced a new tool list, unless
// the connection tap counted the notification already (markChanged). It
// reports whether server is one of the catalog's.
func (c *catalog) upstreamChanged(server string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, ok := c.state[server]
	if ok {
		if st.tapped > st.handled {
			st.handled++ // the tap counted it already
		} else {
			st.gen++
		}
	}
	return ok
}

// markChanged records, as the notification is read from a stdio upstream
// and so in wire order, that server announced a change to its tools: the
// list the gateway holds, and any listing in flight whose reply has not been
// read yet, are stale. upstreamChanged, which runs later for the same
// notification, then only starts the re-list.
func (c *catalog) markChanged(server string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.state[server]; ok {
		st.gen++
		st.tapped++
	}
}

// expire marks stale the servers (only, or all when only is empty) whose
// tool list is older than the relist interval, so that the next discovery
// lists them again.
func (c *catalog) expire(only string) {
	if c.relist < 0 {
		return
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, st := range c.state {
		if (only == "" || name == only) && st.ok && !st.dirty() && !st.listedAt.IsZero() && now.Sub(st.listedAt) >= c.relist {
			st.gen++
		}
	}
}

// confirm is called once an upstream is running because a call needed it,
// before the call is forwarded on cs: tools answered from the cache are
// checked against the live list (see discoveryCache.confirm), and the
// server's list is made current: when the server announced a change, its
// list is older than the relist interval, or it was listed on another
// session (it restarted since), it is listed again first (once, however
// many calls wait), so that the guard and the pins judge the definition
// the call will run.
func (c *catalog) confirm(ctx context.Context, server string, cs *mcp.ClientSession) {
	c.dc.confirm(ctx, server)
	c.expire(server)
	c.mu.Lock()
	st := c.state[server]
	if st != nil && cs != nil && st.session != nil && st.session != cs && !st.dirty() {
		st.gen++ // the server restarted since it was listed
	}
	stale := st != nil && st.dirty()
	c.mu.Unlock()
	if stale && c.discoverOnly(ctx, server) {
		c.changed()
	}
}
