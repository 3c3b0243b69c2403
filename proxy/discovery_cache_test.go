package proxy

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/internal/config"
)

// memSessions serves one in-memory upstream per name and counts starts.
type memSessions struct {
	tools  []string
	setup  func(*mcp.Server) // adds more to the upstream; nil means nothing
	starts atomic.Int32
	mu     sync.Mutex
	cs     *mcp.ClientSession
}

// close ends the upstream session, if one was started.
func (m *memSessions) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cs != nil {
		m.cs.Close()
	}
}

func (m *memSessions) Session(ctx context.Context, name string) (*mcp.ClientSession, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cs != nil {
		return m.cs, nil
	}
	m.starts.Add(1)
	srv := mcp.NewServer(&mcp.Implementation{Name: name, Version: "1"}, nil)
	for _, tn := range m.tools {
		mcp.AddTool(srv, &mcp.Tool{Name: tn}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: tn}}}, nil, nil
		})
	}
	if m.setup != nil {
		m.setup(srv)
	}
	ct, st := mcp.NewInMemoryTransports()
	if _, err := srv.Connect(ctx, st, nil); err != nil {
		return nil, err
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "gw", Version: "1"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		return nil, err
	}
	m.cs = cs
	return cs, nil
}

// mapCache is a ToolCache in a map.
type mapCache struct {
	mu    sync.Mutex
	tools map[string]json.RawMessage
	stale bool
}

func (c *mapCache) LoadTools(_ context.Context, configID string, s *config.Server) (json.RawMessage, bool, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.tools[configID+"/"+s.Name]
	return t, c.stale, ok
}

func (c *mapCache) StoreTools(_ context.Context, configID string, s *config.Server, tools json.RawMessage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tools[configID+"/"+s.Name] = tools
}

func (c *mapCache) get(key string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.tools[key])
}

// denyGuard withholds one tool name and records what it saw.
type denyGuard struct {
	deny string
	mu   sync.Mutex
	seen [][]string
}

func (g *denyGuard) FilterTools(_ context.Context, _ string, tools []*mcp.Tool) ([]*mcp.Tool, map[string]string) {
	var names []string
	var out []*mcp.Tool
	withheld := map[string]string{}
	for _, t := range tools {
		names = append(names, t.Name)
		if t.Name == g.deny {
			withheld[t.Name] = "denied by test"
			continue
		}
		out = append(out, t)
	}
	g.mu.Lock()
	g.seen = append(g.seen, names)
	g.mu.Unlock()
	return out, withheld
}

func (g *denyGuard) CheckCall(_ context.Context, _, _ string, args json.RawMessage) (json.RawMessage, func(context.Context, *mcp.CallToolResult) (*mcp.CallToolResult, error), error) {
	return args, nil, nil
}

func TestCachedToolsGuardedAndRevalidated(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	principal := &authn.Principal{MCPConfigID: "cfg", MCPConfig: &config.MCPConfig{Servers: []*config.Server{{Name: "up"}}}}
	tc := &mapCache{tools: map[string]json.RawMessage{
		"cfg/up": json.RawMessage(`[{"name":"a","inputSchema":{"type":"object"}},{"name":"evil","inputSchema":{"type":"object"}}]`),
	}}
	sessions := &memSessions{tools: []string{"a", "c", "evil"}}
	t.Cleanup(sessions.close)
	guard := &denyGuard{deny: "evil"}
	g := New(principal, sessions, &Options{ToolCache: tc, Guard: guard})

	changed := make(chan struct{}, 4)
	ct, st := mcp.NewInMemoryTransports()
	go g.Run(ctx, st)
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "client", Version: "1"}, &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed <- struct{}{} },
	}).Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	names := func() []string {
		res, err := cs.ListTools(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		var n []string
		for _, tool := range res.Tools {
			n = append(n, tool.Name)
		}
		slices.Sort(n)
		return n
	}

	// Answered from the cache, guarded, nothing started.
	if got := names(); !slices.Equal(got, []string{"up__a"}) {
		t.Fatalf("cached tools/list = %v, want [up__a] (evil withheld by the guard)", got)
	}
	if n := sessions.starts.Load(); n != 0 {
		t.Fatalf("a cached tools/list started %d upstreams", n)
	}
	if res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "up__evil"}); err != nil || !res.IsError {
		t.Errorf("call to a withheld cached tool: res=%+v err=%v, want a refusal", res, err)
	}

	// The first call starts the upstream; its real list differs.
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "up__a"})
	if err != nil || res.IsError {
		t.Fatalf("call: %+v %v", res, err)
	}
	select {
	case <-changed:
	case <-ctx.Done():
		t.Fatal("no tools/list_changed after the upstream's list differed from the cache")
	}
	if got := names(); !slices.Equal(got, []string{"up__a", "up__c"}) {
		t.Errorf("revalidated tools/list = %v, want [up__a up__c]", got)
	}
	guard.mu.Lock()
	runs := len(guard.seen)
	guard.mu.Unlock()
	if runs != 2 {
		t.Errorf("guard ran %d times, want once on the cached list and once on the live one", runs)
	}
	var stored []map[string]any
	if err := json.Unmarshal([]byte(tc.get("cfg/up")), &stored); err != nil || len(stored) != 3 {
		t.Errorf("cache after revalidation = %s, want the upstream's 3 tools", tc.get("cfg/up"))
	}
}

func TestStaleCachedToolsRevalidatedInBackground(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	principal := &authn.Principal{MCPConfigID: "cfg", MCPConfig: &config.MCPConfig{Servers: []*config.Server{{Name: "up"}}}}
	tc := &mapCache{stale: true, tools: map[string]json.RawMessage{"cfg/up": json.RawMessage(`[{"name":"old"}]`)}}
	sessions := &memSessions{tools: []string{"new"}}
	t.Cleanup(sessions.close)
	g := New(principal, sessions, &Options{ToolCache: tc})
	res, err := g.listTools(ctx)
	if err != nil || len(res.Tools) != 1 || res.Tools[0].Name != "up__old" {
		t.Fatalf("stale answer = %+v %v, want the cached tool", res, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, _ := g.listTools(ctx)
		if len(res.Tools) == 1 && res.Tools[0].Name == "up__new" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stale entry not revalidated: %+v", res.Tools)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
