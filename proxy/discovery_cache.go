package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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

// discoveryCache is the catalog's use of a ToolCache. Its zero value (no
// cache) makes every method a no-op.
type discoveryCache struct {
	c        *catalog
	tc       ToolCache
	configID string

	mu      sync.Mutex
	tried   map[string]bool            // servers already looked up in the cache
	cached  map[string]json.RawMessage // servers answered from the cache, not yet confirmed by their upstream
	running map[string]chan struct{}   // revalidations in flight, closed when done
}

func (d *discoveryCache) init(c *catalog, tc ToolCache, p *authn.Principal) {
	d.c = c
	if tc == nil {
		return
	}
	d.tc = tc
	if p != nil {
		d.configID = p.MCPConfigID
	}
	d.tried, d.cached, d.running = map[string]bool{}, map[string]json.RawMessage{}, map[string]chan struct{}{}
}

// fromCache reports whether server's tools were answered from the cache and
// not yet confirmed by the upstream.
func (d *discoveryCache) fromCache(server string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.cached[server]
	return ok
}

// load answers, from the cache, the servers of todo that have never
// been discovered in this process, running the guard on their tools. It
// returns the servers still to discover live, and those whose cached entry
// is stale and must be revalidated in the background.
func (d *discoveryCache) load(ctx context.Context, todo []*config.Server) (rest, stale []*config.Server) {
	if d.tc == nil {
		return todo, nil
	}
	c := d.c
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
				c.log.Debug().Str("server", s.Name).Err(err).Msg("undecodable cached tool list; discovering live")
				ok = false
			}
		}
		if !ok {
			rest = append(rest, s)
			continue
		}
		var withheld map[string]string
		if c.guard != nil {
			tools, withheld = c.guard.FilterTools(ctx, s.Name, tools)
		}
		c.mu.Lock()
		st := c.state[s.Name]
		st.tools, st.withheld, st.ok = tools, withheld, true
		st.listed, st.listedAt = st.gen, time.Now()
		c.mu.Unlock()
		d.mu.Lock()
		d.cached[s.Name] = raw
		d.mu.Unlock()
		c.log.Debug().Str("server", s.Name).Int("tools", len(tools)).Bool("stale", isStale).Msg("tools answered from the discovery cache")
		if isStale {
			stale = append(stale, s)
		}
	}
	return rest, stale
}

// store records a live tool list of s.
func (d *discoveryCache) store(ctx context.Context, s *config.Server, tools []*mcp.Tool) {
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
func (d *discoveryCache) revalidateLater(servers []*config.Server) {
	for _, s := range servers {
		go func() {
			defer func() {
				if r := recover(); r != nil {
					caught(&d.c.log, fmt.Sprintf("revalidation of the cached tools of server %q", s.Name), r)
				}
			}()
			ctx, cancel := context.WithTimeout(context.Background(), d.c.discoveryTimeout)
			defer cancel()
			d.revalidate(ctx, s.Name)
		}()
	}
}

// confirm checks server's tools, if they were answered from the cache,
// against the live list before a call goes on, so that a definition that
// changed since it was cached (a rug pull, even a quiet one without
// list_changed) is caught by the guard and the pins before the upstream
// runs it.
func (d *discoveryCache) confirm(ctx context.Context, server string) {
	if d.tc != nil && d.fromCache(server) {
		d.revalidate(ctx, server)
	}
}

// revalidate lists the upstream's tools and, where they differ from the
// cached ones, updates the cache, re-runs the guard and tells the client. A
// revalidation already in flight for the server is waited for, not repeated.
func (d *discoveryCache) revalidate(ctx context.Context, name string) {
	c := d.c
	s := findServer(c.servers, name)
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
	ctx, cancel := context.WithTimeout(ctx, c.discoveryTimeout)
	defer cancel()
	c.mu.RLock()
	gen := c.state[name].gen
	c.mu.RUnlock()
	tools, err := c.listUpstream(ctx, name)
	if err != nil {
		// The cached tools stay in this process; the stored entry ages
		// out, so a dead upstream is not advertised forever.
		c.log.Warn().Str("server", name).Err(err).Msg("could not revalidate cached tools")
		return
	}
	raw, err := json.Marshal(tools)
	if err != nil {
		return
	}
	d.store(ctx, s, tools) // refreshes the entry's TTL either way
	if bytes.Equal(raw, old) {
		c.mu.Lock()
		if st := c.state[name]; st.listed == gen {
			st.listedAt = time.Now()
		}
		c.mu.Unlock()
		c.log.Debug().Str("server", name).Msg("cached tools confirmed by the upstream")
		return
	}
	var withheld map[string]string
	if c.guard != nil {
		tools, withheld = c.guard.FilterTools(ctx, name, tools)
	}
	c.discoverMu.Lock()
	c.record(name, tools, withheld, gen)
	changed := c.rebuild()
	c.discoverMu.Unlock()
	c.log.Info().Str("server", name).Bool("client_notified", changed).Msg("upstream tools differ from the cached ones; cache updated")
	if changed {
		c.changed()
	}
}
