package proxy

import (
	"context"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/internal/config"
)

// slowSessions serves one in-memory upstream per name; the one named slow
// answers tools/list only once release is closed, and says when it got it.
type slowSessions struct {
	slow     string
	entered  chan struct{}
	release  chan struct{}
	mu       sync.Mutex
	sessions map[string]*mcp.ClientSession
	closers  []func()
}

func (s *slowSessions) Session(ctx context.Context, name string) (*mcp.ClientSession, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cs := s.sessions[name]; cs != nil {
		return cs, nil
	}
	srv := mcp.NewServer(&mcp.Implementation{Name: name, Version: "1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "t"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{}, nil, nil
	})
	if name == s.slow {
		srv.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
			return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
				if method == "tools/list" {
					s.entered <- struct{}{}
					<-s.release
				}
				return next(ctx, method, req)
			}
		})
	}
	ct, st := mcp.NewInMemoryTransports()
	ss, err := srv.Connect(ctx, st, nil)
	if err != nil {
		return nil, err
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "gw", Version: "1"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		return nil, err
	}
	s.sessions[name] = cs
	s.closers = append(s.closers, func() { cs.Close(); ss.Wait() })
	return cs, nil
}

// TestDiscoveryPerServer: while the discovery of a slow server is in
// flight, a round for another server ends without waiting for it, and a
// round that needs the slow one waits for the discovery in flight rather
// than listing it again.
func TestDiscoveryPerServer(t *testing.T) {
	sess := &slowSessions{slow: "slow", entered: make(chan struct{}, 2), release: make(chan struct{}), sessions: map[string]*mcp.ClientSession{}}
	defer func() {
		for _, c := range sess.closers {
			c()
		}
	}()
	principal := &authn.Principal{MCPConfig: &config.MCPConfig{Servers: []*config.Server{{Name: "slow"}, {Name: "fast"}}}}
	g := New(principal, sess, nil)
	ctx := context.Background()

	first := make(chan bool, 1)
	go func() { first <- g.cat.discover(ctx) }() // both servers; stuck on slow
	<-sess.entered

	// Only fast: ends while slow is stuck (with one lock across the round
	// trip, this call would wait for the release below and never return).
	g.cat.discoverOnly(ctx, "fast")
	g.cat.mu.RLock()
	fastOK, slowOK := g.cat.state["fast"].ok, g.cat.state["slow"].ok
	g.cat.mu.RUnlock()
	if !fastOK || slowOK {
		t.Fatalf("after the fast round: fast ok=%v, slow ok=%v; want true, false", fastOK, slowOK)
	}

	second := make(chan bool, 1)
	go func() { second <- g.cat.discover(ctx) }() // waits for slow's discovery in flight
	close(sess.release)
	<-first
	<-second
	select {
	case <-sess.entered:
		t.Error("the slow server was listed twice")
	default:
	}
	res, err := g.listTools(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
	}
	if len(names) != 2 {
		t.Errorf("tools = %v, want both servers' tool", names)
	}
}
