package proxy

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/internal/config"
)

// withholdAll is a Guard that withholds every tool, as the pins do with a
// definition changed since it was approved.
type withholdAll struct{}

func (withholdAll) FilterTools(_ context.Context, _ string, tools []*mcp.Tool) ([]*mcp.Tool, map[string]string) {
	w := map[string]string{}
	for _, t := range tools {
		w[t.Name] = "its definition changed since it was pinned"
	}
	return nil, w
}

func (withholdAll) CheckCall(_ context.Context, _, _ string, args json.RawMessage) (json.RawMessage, func(context.Context, *mcp.CallToolResult) (*mcp.CallToolResult, error), error) {
	return args, nil, nil
}

// TestToolsFreshFor: the ttlMs of tools/list is the time to the next
// relisting of the server listed longest ago, and zero while a change is
// pending: nothing listed yet, a list_changed announced, the list expired,
// or a tool withheld (a rug pull or an unapproved pin).
func TestToolsFreshFor(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tests := []struct {
		name     string
		relist   time.Duration
		guard    Guard
		discover bool
		change   func(g *Gateway)
		after    time.Duration // since the listing
		want     time.Duration
	}{
		{name: "not listed yet", relist: time.Hour, after: time.Minute, want: 0},
		{name: "listed", relist: time.Hour, discover: true, after: 10 * time.Minute, want: 50 * time.Minute},
		{name: "expired", relist: time.Hour, discover: true, after: 2 * time.Hour, want: 0},
		{name: "never relisted", relist: -1, discover: true, after: 10 * time.Hour, want: DefaultRelistInterval},
		{name: "list_changed pending", relist: time.Hour, discover: true, change: func(g *Gateway) { g.cat.markChanged("up") }, after: time.Minute, want: 0},
		{name: "tool withheld", relist: time.Hour, guard: withholdAll{}, discover: true, after: time.Minute, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := &changingUpstream{}
			u.version.Store(1)
			t.Cleanup(u.restart)
			principal := &authn.Principal{MCPConfig: &config.MCPConfig{Servers: []*config.Server{{Name: "up"}}}}
			g := New(principal, u, &Options{RelistInterval: tt.relist, Guard: tt.guard})
			if tt.discover {
				g.cat.discover(ctx)
			}
			if tt.change != nil {
				tt.change(g)
			}
			g.cat.mu.RLock()
			listed := g.cat.state["up"].listedAt
			g.cat.mu.RUnlock()
			if listed.IsZero() {
				listed = time.Now()
			}
			if got := g.toolsFreshFor(listed.Add(tt.after)); got != tt.want {
				t.Errorf("fresh for %v, want %v", got, tt.want)
			}
		})
	}
}

// requestAt is a tools/call request at protocol version v ("" for a
// session of the initialize handshake).
func requestAt(v string) mcp.Request {
	p := &mcp.CallToolParamsRaw{Name: "t"}
	if v != "" {
		p.Meta = mcp.Meta{mcp.MetaKeyProtocolVersion: v}
	}
	return &mcp.CallToolRequest{Params: p}
}

// TestShapeByVersion: a client of 2026-07-28 gets resultType, the
// gateway's cache fields and no upstream serverInfo; an older client gets
// none of the 2026 fields, whatever the upstream sent; an input_required
// result passes through to a 2026 client as it came.
func TestShapeByVersion(t *testing.T) {
	upstream := func(s string) func() mcp.Result {
		return func() mcp.Result {
			var r mcp.CallToolResult
			if err := json.Unmarshal([]byte(s), &r); err != nil {
				t.Fatal(err)
			}
			return &r
		}
	}
	call := upstream(`{"resultType":"complete","_meta":{"io.modelcontextprotocol/serverInfo":{"name":"up","version":"1"},"trace":"x"},"content":[{"type":"text","text":"hi"}]}`)
	oldCall := upstream(`{"content":[{"type":"text","text":"hi"}]}`)
	asks := upstream(`{"resultType":"input_required","inputRequests":{"q":{"method":"elicitation/create","params":{"message":"Sure?","requestedSchema":{"type":"object"}}}},"requestState":"opaque"}`)
	list := func() mcp.Result { return &mcp.ListToolsResult{Tools: []*mcp.Tool{}} }
	tests := []struct {
		name    string
		version string
		res     func() mcp.Result
		has     []string // top-level keys that must be there
		hasNot  []string // top-level keys that must not
		want    string   // in the JSON
		wantNot string   // not in the JSON
	}{
		{"old client, 2026 upstream's call", "2025-11-25", call, []string{"content", "_meta"}, modernResultFields, `"trace":"x"`, "serverInfo"},
		{"old client, list", "", list, []string{"tools"}, modernResultFields, "", ""},
		{"2026 client, 2026 upstream's call", "2026-07-28", call, []string{"content", "resultType", "_meta"}, []string{"inputRequests"}, `"resultType":"complete"`, `"name":"up"`},
		{"2026 client, old upstream's call", "2026-07-28", oldCall, []string{"content", "resultType"}, nil, `"resultType":"complete"`, ""},
		{"2026 client, input_required", "2026-07-28", asks, []string{"resultType", "inputRequests", "requestState"}, nil, `"resultType":"input_required"`, ""},
		{"2026 client, list", "2026-07-28", list, []string{"tools", "ttlMs", "cacheScope", "resultType"}, nil, `"cacheScope":"private"`, ""},
	}
	g := New(nil, nil, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(g.shape(requestAt(tt.version), tt.res()))
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatalf("%s: %v", b, err)
			}
			for _, k := range tt.has {
				if _, ok := m[k]; !ok {
					t.Errorf("%s lacks %q", b, k)
				}
			}
			for _, k := range tt.hasNot {
				if _, ok := m[k]; ok {
					t.Errorf("%s has %q", b, k)
				}
			}
			if tt.want != "" && !strings.Contains(string(b), tt.want) {
				t.Errorf("%s lacks %s", b, tt.want)
			}
			if tt.wantNot != "" && strings.Contains(string(b), tt.wantNot) {
				t.Errorf("%s has %s", b, tt.wantNot)
			}
		})
	}
}
