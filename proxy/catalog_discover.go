package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/internal/config"
)

// Discovery: listing the upstreams' tools per server, in parallel, with no
// lock held across a round trip, and merging them into the exported set.

// discover lists the tools of every upstream that has not been listed yet,
// failed last time, or announced a change, in parallel and bounded by the
// discovery timeout. An upstream that fails costs only its own tools. It
// reports whether the exported tool set changed.
func (c *catalog) discover(ctx context.Context) bool { return c.discoverOnly(ctx, "") }

// discoverOnly is discover restricted to the server named only, or to every
// server when only is empty.
//
// Discovery is per server: a server whose discovery another round already
// runs is waited for, not listed again, and no lock is held across an
// upstream round trip, so a slow server delays only the rounds that need
// it, and a round for another server (the meta-tools', a list_changed
// one) never waits for it.
func (c *catalog) discoverOnly(ctx context.Context, only string) bool {
	changed := false
	for round := 0; round < maxDiscoveryRounds && ctx.Err() == nil; round++ {
		ch, again := c.discoverRound(ctx, only)
		changed = changed || ch
		if !again {
			break
		}
		// A change was announced while the round listed: its answers
		// may predate the change, so the round runs again.
		c.log.Debug().Str("server", only).Msg("tools changed during discovery; listing again")
	}
	return changed
}

// discoverRound is one round of discoverOnly. It reports whether the
// exported set changed, and whether a server listed in this round
// announced a change while it was listed.
func (c *catalog) discoverRound(ctx context.Context, only string) (changed, again bool) {
	var todo []*config.Server
	var others []chan struct{} // discoveries of todo's servers that other rounds run
	var waited []string        // their servers
	startGen := map[string]uint64{}
	c.discoverMu.Lock()
	c.mu.RLock()
	for _, s := range c.servers {
		if st := c.state[s.Name]; (!st.ok || st.dirty()) && (only == "" || s.Name == only) {
			if ch, ok := c.discovering[s.Name]; ok {
				others, waited = append(others, ch), append(waited, s.Name)
				continue
			}
			todo = append(todo, s)
			startGen[s.Name] = st.gen
		}
	}
	built := c.built
	c.mu.RUnlock()
	if c.discovering == nil {
		c.discovering = map[string]chan struct{}{}
	}
	mine := map[string]chan struct{}{} // this round's servers, until each is recorded
	for _, s := range todo {
		ch := make(chan struct{})
		mine[s.Name], c.discovering[s.Name] = ch, ch
	}
	c.discoverMu.Unlock()
	// done ends the discovery of one server of this round, waking the
	// rounds that wait for it.
	done := func(names ...string) {
		c.discoverMu.Lock()
		defer c.discoverMu.Unlock()
		for _, name := range names {
			if ch, ok := mine[name]; ok {
				delete(mine, name)
				delete(c.discovering, name)
				close(ch)
			}
		}
	}
	defer func() {
		var left []string
		c.discoverMu.Lock()
		for name := range mine {
			left = append(left, name)
		}
		c.discoverMu.Unlock()
		done(left...)
	}()
	if len(todo) == 0 && len(others) == 0 && built {
		return false, false
	}
	if len(todo) == 0 {
		ctx, cancel := context.WithTimeout(ctx, c.discoveryTimeout)
		defer cancel()
		waitAll(ctx, others)
		return c.rebuild(), c.anyDirty(waited)
	}
	all := todo
	todo, stale := c.dc.load(ctx, todo)
	defer c.dc.revalidateLater(stale)
	for _, s := range all {
		if !slices.Contains(todo, s) {
			done(s.Name) // served from the cache
		}
	}

	ctx, op := c.timeouts.Start(ctx, KindDiscovery, fmt.Sprintf("tool discovery of %d server(s)", len(todo)))
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
			defer func() {
				// A panic while listing or judging the server's tools
				// withholds them, as a failed discovery does.
				if r := recover(); r != nil {
					results <- found{name: s.Name, err: caught(&c.log, fmt.Sprintf("tool discovery of server %q", s.Name), r)}
				}
			}()
			tools, err := c.listUpstream(ctx, s.Name)
			if err == nil {
				c.dc.store(ctx, s, tools)
			}
			f := found{name: s.Name, tools: tools, err: undecodable(err)}
			if err == nil && c.guard != nil {
				f.tools, f.withheld = c.guard.FilterTools(ctx, s.Name, tools)
			}
			results <- f
		}()
	}
	for range todo {
		f := <-results
		c.mu.Lock()
		st := c.state[f.name]
		if f.err != nil {
			if op.TimedOut() {
				f.err = &TimeoutError{Kind: KindDiscovery, Operation: fmt.Sprintf("tool discovery of server %q", f.name), Budget: op.Budget()}
			}
			st.ok, st.err = false, f.err
			roundErr = f.err
			c.log.Warn().Str("server", f.name).Err(f.err).Msg("tool discovery failed; its tools are withheld until it recovers")
		} else {
			st.tools, st.withheld, st.ok = f.tools, f.withheld, true
			st.listed, st.listedAt = startGen[f.name], time.Now()
			if st.dirty() {
				again = true
			}
			c.log.Debug().Str("server", f.name).Int("tools", len(f.tools)).Msg("discovered tools")
		}
		c.mu.Unlock()
		done(f.name)
	}
	waitAll(ctx, others) // within the round's budget
	return c.rebuild(), again || c.anyDirty(waited)
}

// anyDirty reports whether one of servers announced a change since it was
// last listed: a round that waited for another round's listing of it runs
// again, as that round itself does.
func (c *catalog) anyDirty(servers []string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, name := range servers {
		if st := c.state[name]; st != nil && st.dirty() {
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

func (c *catalog) listUpstream(ctx context.Context, name string) ([]*mcp.Tool, error) {
	cs, err := c.sessions.Session(ctx, name)
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
	c.mu.Lock()
	if st := c.state[name]; st != nil {
		st.session = cs
	}
	c.mu.Unlock()
	return tools, nil
}

// claim is one server's offer of an item under key, for firstWins.
type claim[T any] struct {
	key  string
	item T
}

// firstWins merges per-server claims, indexed by the server's position in
// config order: the first server to claim a key keeps it; a later claimant
// is left out and passed to lost with the index of the server that kept it.
// It is the one merge of tools, resources and prompts.
func firstWins[T any](per [][]claim[T], lost func(i int, c claim[T], kept int)) (out []T, owner map[string]int) {
	owner = make(map[string]int)
	for i, cs := range per {
		for _, c := range cs {
			if k, taken := owner[c.key]; taken {
				if lost != nil {
					lost(i, c, k)
				}
				continue
			}
			owner[c.key] = i
			out = append(out, c.item)
		}
	}
	return out, owner
}

// exportedTool is a tool as the client sees it, with its route.
type exportedTool struct {
	tool   *mcp.Tool
	rt     route
	schema *jsonschema.Resolved // nil when the input schema does not resolve
}

// rebuild recomputes the exported tool set from the per-server state, in
// config order: the first server to claim a name keeps it, later claimants
// are withheld and logged. It reports whether the exported set changed.
func (c *catalog) rebuild() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	withheld := make(map[string]string)
	per := make([][]claim[exportedTool], len(c.servers))
	for i, s := range c.servers {
		st := c.state[s.Name]
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
			if e, ok := c.export(s, t); ok {
				per[i] = append(per[i], claim[exportedTool]{key: e.tool.Name, item: e})
			}
		}
	}
	merged, _ := firstWins(per, func(i int, cl claim[exportedTool], kept int) {
		c.log.Warn().Str("server", c.servers[i].Name).Str("tool", cl.item.rt.tool).Str("exported_as", cl.key).
			Str("kept_from", c.servers[kept].Name).Msg("tool name collision: withheld, the first server in config order keeps the name")
	})
	routes := make(map[string]route, len(merged))
	schemas := make(map[route]*jsonschema.Resolved, len(merged))
	var exported []*mcp.Tool
	for _, e := range merged {
		routes[e.tool.Name] = e.rt
		if e.schema != nil {
			schemas[e.rt] = e.schema
		}
		exported = append(exported, e.tool)
	}
	changed := !c.built || !sameTools(c.exported, exported)
	for name := range routes {
		delete(withheld, name)
	}
	c.exported, c.routes, c.schemas, c.withheld, c.built = exported, routes, schemas, withheld, true
	return changed
}

// export is t of server s as the client sees it: prefixed, sanitised, with
// a normalised input schema; false (logged) when its schema is unusable.
func (c *catalog) export(s *config.Server, t *mcp.Tool) (exportedTool, bool) {
	schema, err := normalizeSchema(t.InputSchema)
	if err != nil {
		c.log.Warn().Str("server", s.Name).Str("tool", t.Name).Err(err).Msg("tool withheld: unusable input schema")
		return exportedTool{}, false
	}
	out := *t
	out.Name = SanitizeName(s.Prefix() + t.Name)
	out.InputSchema = schema
	if t.OutputSchema != nil {
		if os, err := normalizeSchema(t.OutputSchema); err == nil {
			out.OutputSchema = os
		} else {
			out.OutputSchema = nil
		}
	}
	e := exportedTool{tool: &out, rt: route{server: s.Name, tool: t.Name}}
	if rs, err := resolveSchema(schema); err == nil {
		e.schema = rs
	} else {
		c.log.Debug().Str("server", s.Name).Str("tool", t.Name).Err(err).Msg("input schema does not resolve; arguments are not validated by the gateway")
	}
	return e, true
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
