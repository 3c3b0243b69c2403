package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/internal/config"
)

// ToolCache remembers the tool lists upstreams returned, across gateway
// processes, so that tools/list can be answered without starting them.
// *cache.Store implements it.
//
// Tools are the JSON array of definitions exactly as the upstream listed
// them, before any guardrail: the gateway runs Guard.FilterTools on a cached
// list as it does on a live one. A cache may lose any entry; the gateway
// then asks the upstream.
type ToolCache interface {
	// LoadTools returns server s's cached tool list in the MCP config
	// configID, and whether it is stale (past its TTL: served, but to be
	// revalidated now).
	LoadTools(ctx context.Context, configID string, s *config.Server) (tools json.RawMessage, stale, ok bool)
	// StoreTools records the tool list server s just returned.
	StoreTools(ctx context.Context, configID string, s *config.Server, tools json.RawMessage)
}

// discoveryCache is the gateway's use of a ToolCache. Its zero value (no
// cache) makes every method a no-op.
type discoveryCache struct {
	tc       ToolCache
	configID string

	mu      sync.Mutex
	tried   map[string]bool            // servers already looked up in the cache
	cached  map[string]json.RawMessage // servers answered from the cache, not yet confirmed by their upstream
	running map[string]chan struct{}   // revalidations in flight, closed when done
}

func (d *discoveryCache) init(tc ToolCache, p *authn.Principal) {
	if tc == nil {
		return
	}
	d.tc = tc
	if p != nil {
		d.configID = p.MCPConfigID
	}
	d.tried, d.cached, d.running = map[string]bool{}, map[string]json.RawMessage{}, map[string]chan struct{}{}
}

// loadCached answers, from the cache, the servers of todo that have never
// been discovered in this process, running the guard on their tools. It
// returns the servers still to discover live, and those whose cached entry
// is stale and must be revalidated in the background.
func (g *Gateway) loadCached(ctx context.Context, todo []*config.Server) (rest, stale []*config.Server) {
	d := &g.dc
	if d.tc == nil {
		return todo, nil
	}
	for _, s := range todo {
		d.mu.Lock()
		first := !d.tried[s.Name]
		d.tried[s.Name] = true
		d.mu.Unlock()
		if !first {
			rest = append(rest, s)
			continue
		}
		raw, isStale, ok := d.tc.LoadTools(ctx, d.configID, s)
		var tools []*mcp.Tool
		if ok {
			if err := json.Unmarshal(raw, &tools); err != nil {
				g.log.Debug().Str("server", s.Name).Err(err).Msg("undecodable cached tool list; discovering live")
				ok = false
			}
		}
		if !ok {
			rest = append(rest, s)
			continue
		}
		var withheld map[string]string
		if g.opts.Guard != nil {
			tools, withheld = g.opts.Guard.FilterTools(ctx, s.Name, tools)
		}
		g.mu.Lock()
		st := g.state[s.Name]
		st.tools, st.withheld, st.ok = tools, withheld, true
		st.listed, st.listedAt = st.gen, time.Now()
		g.mu.Unlock()
		d.mu.Lock()
		d.cached[s.Name] = raw
		d.mu.Unlock()
		g.log.Debug().Str("server", s.Name).Int("tools", len(tools)).Bool("stale", isStale).Msg("tools answered from the discovery cache")
		if isStale {
			stale = append(stale, s)
		}
	}
	return rest, stale
}

// cacheDiscovered records a live tool list of s.
func (g *Gateway) cacheDiscovered(ctx context.Context, s *config.Server, tools []*mcp.Tool) {
	d := &g.dc
	if d.tc == nil {
		return
	}
	raw, err := json.Marshal(tools)
	if err != nil {
		return
	}
	d.tc.StoreTools(ctx, d.configID, s, raw)
	d.mu.Lock()
	delete(d.cached, s.Name)
	d.mu.Unlock()
}

// revalidateLater lists the servers in the background and, where the
// upstream's tools differ from the cached ones, updates the cache, re-runs
// the guard and tells the client.
func (g *Gateway) revalidateLater(servers []*config.Server) {
	for _, s := range servers {
		g.revalidate(s.Name)
	}
}

// confirmCached is called once an upstream is running because a call needed
// it: if its tools were answered from the cache, they are checked against
// the live list before the call goes on, so that a definition that changed
// since it was cached (a rug pull, even a quiet one without list_changed) is
// caught by the guard and the pins before the upstream runs it.
//
// It then makes sure the server's list is current (see ensureCurrent): a
// list_changed since it was listed, a list older than RelistInterval, or a
// restart of the server (cs is not the session it was listed on) re-lists
// it before the call goes on.
func (g *Gateway) confirmCached(ctx context.Context, server string, cs *mcp.ClientSession) {
	if g.dc.tc != nil {
		g.dc.mu.Lock()
		_, pending := g.dc.cached[server]
		g.dc.mu.Unlock()
		if pending {
			g.revalidateNow(ctx, server)
		}
	}
	g.ensureCurrent(ctx, server, cs)
}

// revalidate lists server's tools again in the background; see
// revalidateNow.
func (g *Gateway) revalidate(name string) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), g.opts.DiscoveryTimeout)
		defer cancel()
		g.revalidateNow(ctx, name)
	}()
}

// revalidateNow lists the upstream's tools and, where they differ from the
// cached ones, updates the cache, re-runs the guard and tells the client. A
// revalidation already in flight for the server is waited for, not repeated.
func (g *Gateway) revalidateNow(ctx context.Context, name string) {
	d := &g.dc
	var s *config.Server
	for _, c := range g.servers {
		if c.Name == name {
			s = c
		}
	}
	d.mu.Lock()
	old, pending := d.cached[name]
	if s == nil || !pending {
		d.mu.Unlock()
		return
	}
	if done, ok := d.running[name]; ok {
		d.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
		}
		return
	}
	done := make(chan struct{})
	d.running[name] = done
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.running, name)
		d.mu.Unlock()
		close(done)
	}()
	ctx, cancel := context.WithTimeout(ctx, g.opts.DiscoveryTimeout)
	defer cancel()
	g.mu.RLock()
	gen := g.state[name].gen
	g.mu.RUnlock()
	tools, err := g.listUpstream(ctx, name)
	if err != nil {
		// The cached tools stay in this process; the stored entry ages
		// out, so a dead upstream is not advertised forever.
		g.log.Warn().Str("server", name).Err(err).Msg("could not revalidate cached tools")
		return
	}
	raw, err := json.Marshal(tools)
	if err != nil {
		return
	}
	g.cacheDiscovered(ctx, s, tools) // refreshes the entry's TTL either way
	if bytes.Equal(raw, old) {
		g.mu.Lock()
		if st := g.state[name]; st.listed == gen {
			st.listedAt = time.Now()
		}
		g.mu.Unlock()
		g.log.Debug().Str("server", name).Msg("cached tools confirmed by the upstream")
		return
	}
	var withheld map[string]string
	if g.opts.Guard != nil {
		tools, withheld = g.opts.Guard.FilterTools(ctx, name, tools)
	}
	g.discoverMu.Lock()
	g.mu.Lock()
	st := g.state[name]
	st.tools, st.withheld, st.ok = tools, withheld, true
	st.listed, st.listedAt = gen, time.Now()
	g.mu.Unlock()
	changed := g.rebuild()
	g.discoverMu.Unlock()
	g.log.Info().Str("server", name).Bool("client_notified", changed).Msg("upstream tools differ from the cached ones; cache updated")
	if changed {
		g.notifyToolListChanged()
	}
}
