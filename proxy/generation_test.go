package proxy

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/internal/config"
)

// changingUpstream is an in-memory upstream whose tool "t" has the
// description "v<version>", and which calls onList (if set) as each
// tools/list is answered, before the answer goes out.
type changingUpstream struct {
	version atomic.Int32
	lists   atomic.Int32
	onList  func(n int32) // n counts the listings, from 1

	mu sync.Mutex
	cs *mcp.ClientSession
}

func (u *changingUpstream) Session(ctx context.Context, name string) (*mcp.ClientSession, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.cs != nil {
		return u.cs, nil
	}
	srv := mcp.NewServer(&mcp.Implementation{Name: name, Version: "1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "t"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{}, nil, nil
	})
	srv.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			res, err := next(ctx, method, req)
			lr, ok := res.(*mcp.ListToolsResult)
			if method != "tools/list" || !ok {
				return res, err
			}
			v := u.version.Load()
			n := u.lists.Add(1)
			if u.onList != nil {
				u.onList(n)
			}
			out := *lr
			t := *lr.Tools[0]
			t.Description = "v" + string(rune('0'+v))
			out.Tools = []*mcp.Tool{&t}
			return &out, nil
		}
	})
	ct, st := mcp.NewInMemoryTransports()
	if _, err := srv.Connect(ctx, st, nil); err != nil {
		return nil, err
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "gw", Version: "1"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		return nil, err
	}
	u.cs = cs
	return cs, nil
}

func (u *changingUpstream) restart() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.cs != nil {
		u.cs.Close()
		u.cs = nil
	}
}

func exportedDescription(g *Gateway) string {
	g.cat.mu.RLock()
	defer g.cat.mu.RUnlock()
	for _, t := range g.cat.exported {
		if t.Name == "up__t" {
			return t.Description
		}
	}
	return ""
}

func newChangingGateway(t *testing.T, u *changingUpstream, relist time.Duration) *Gateway {
	t.Helper()
	t.Cleanup(u.restart)
	principal := &authn.Principal{MCPConfig: &config.MCPConfig{Servers: []*config.Server{{Name: "up"}}}}
	return New(principal, u, &Options{RelistInterval: relist})
}

// TestListChangedDuringDiscoveryListsAgain: a list_changed seen (in wire
// order) while the gateway's tools/list is in flight makes that listing's
// answer stale; the discovery lists again and ends with the new definition.
func TestListChangedDuringDiscoveryListsAgain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	u := &changingUpstream{}
	u.version.Store(1)
	g := newChangingGateway(t, u, -1)
	u.onList = func(n int32) {
		if n == 1 { // changes, announces, then answers with the old list
			u.version.Store(2)
			g.cat.markChanged("up")
		}
	}
	g.cat.discover(ctx)
	if got := exportedDescription(g); got != "v2" {
		t.Errorf("after a list_changed during discovery the gateway holds %q, want v2", got)
	}
	if n := u.lists.Load(); n != 2 {
		t.Errorf("listings = %d, want 2", n)
	}
	// The SDK's later dispatch of the same notification costs nothing more.
	g.cat.mu.Lock()
	st := g.cat.state["up"]
	if st.tapped > st.handled {
		st.handled++
	}
	dirty := st.dirty()
	g.cat.mu.Unlock()
	if dirty {
		t.Error("one notification, counted by the tap and dispatched by the SDK, left the server dirty")
	}
}

// TestCallListsAgainWhenStale: before a call, a server that announced a
// change, whose list is older than RelistInterval, or that restarted since
// it was listed is listed again; otherwise it is not.
func TestCallListsAgainWhenStale(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tests := []struct {
		name   string
		relist time.Duration
		change func(g *Gateway, u *changingUpstream)
		want   string
	}{
		{"current", time.Hour, func(*Gateway, *changingUpstream) {}, "v1"},
		{"list_changed", time.Hour, func(g *Gateway, _ *changingUpstream) { g.UpstreamToolsChanged("up") }, "v2"},
		{"list expired", time.Nanosecond, func(*Gateway, *changingUpstream) {}, "v2"},
		{"restarted", time.Hour, func(_ *Gateway, u *changingUpstream) { u.restart() }, "v2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := &changingUpstream{}
			u.version.Store(1)
			g := newChangingGateway(t, u, tt.relist)
			g.cat.discover(ctx)
			if got := exportedDescription(g); got != "v1" {
				t.Fatalf("first discovery: %q", got)
			}
			u.version.Store(2) // silently
			tt.change(g, u)
			cs, err := u.Session(ctx, "up")
			if err != nil {
				t.Fatal(err)
			}
			g.cat.confirm(ctx, "up", cs)
			if got := exportedDescription(g); got != tt.want {
				t.Errorf("before the call the gateway holds %q, want %q", got, tt.want)
			}
		})
	}
}
