package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/internal/config"
)

// panicGuard panics in what its fields name: the secret in the panic
// value must reach neither the client nor the error.
type panicGuard struct{ inFilter, inCheck bool }

const panicSecret = "CANARY-panic-value-3f9a"

func (p panicGuard) FilterTools(_ context.Context, _ string, tools []*mcp.Tool) ([]*mcp.Tool, map[string]string) {
	if p.inFilter {
		panic("filter saw " + panicSecret)
	}
	return tools, nil
}

func (p panicGuard) CheckCall(_ context.Context, _, _ string, args json.RawMessage) (json.RawMessage, func(context.Context, *mcp.CallToolResult) (*mcp.CallToolResult, error), error) {
	if p.inCheck {
		_ = args[len(args)+5] // a runtime error: index out of range
	}
	return nil, nil, nil
}

// TestPanicsFailClosed: a panic in the gateway's own code fails the one
// request closed, names what panicked without the panic's value, and
// leaves the gateway serving. A guard panicking on a call blocks it before
// any upstream; one panicking on a tool list withholds that server's
// tools; a panic anywhere under the middleware is an internal error.
func TestPanicsFailClosed(t *testing.T) {
	t.Run("call check", func(t *testing.T) {
		g := New(nil, noSessions{t}, &Options{Guard: panicGuard{inCheck: true}})
		for range 2 { // the second call is served as the first: nothing broke
			c := g.pipe.callRouted(context.Background(), route{server: "s", tool: "x"}, "s__x", json.RawMessage(`{}`), nil)
			if c.oc.outcome != OutcomeBlocked {
				t.Fatalf("outcome %+v, err %v; want blocked", c.oc, c.err)
			}
			msg := contentText(c.res)
			if c.err != nil {
				msg = c.err.Error()
			}
			if !strings.Contains(msg, "index out of range") || !strings.Contains(msg, "failed closed") {
				t.Errorf("the client is told %q", msg)
			}
		}
	})
	t.Run("tool list", func(t *testing.T) {
		sess := &slowSessions{sessions: map[string]*mcp.ClientSession{}}
		defer func() {
			for _, c := range sess.closers {
				c()
			}
		}()
		principal := &authn.Principal{MCPConfig: &config.MCPConfig{Servers: []*config.Server{{Name: "s"}}}}
		g := New(principal, sess, &Options{Guard: panicGuard{inFilter: true}})
		res, err := g.listTools(context.Background())
		if err != nil || len(res.Tools) != 0 {
			t.Fatalf("tools %v, err %v; want the server's tools withheld", res, err)
		}
		g.cat.mu.RLock()
		st := g.cat.state["s"]
		ok, serr := st.ok, st.err
		g.cat.mu.RUnlock()
		var pe *PanicError
		if ok || !errors.As(serr, &pe) {
			t.Fatalf("server state ok=%v err=%v; want a failed discovery with a *PanicError", ok, serr)
		}
		if strings.Contains(pe.Error(), panicSecret) || !strings.Contains(pe.Cause, "string") {
			t.Errorf("panic error %q", pe.Error())
		}
	})
	t.Run("middleware", func(t *testing.T) {
		g := New(nil, noSessions{t}, nil)
		h := g.middleware(func(context.Context, string, mcp.Request) (mcp.Result, error) { panic(errors.New(panicSecret)) })
		res, err := h(context.Background(), "ping", &mcp.ServerRequest[*mcp.PingParams]{})
		var rpcErr *jsonrpc.Error
		if res != nil || !errors.As(err, &rpcErr) || rpcErr.Code != jsonrpc.CodeInternalError {
			t.Fatalf("res %v, err %v; want an internal error", res, err)
		}
		if strings.Contains(rpcErr.Message, panicSecret) || !strings.Contains(rpcErr.Message, "ping") {
			t.Errorf("message %q", rpcErr.Message)
		}
	})
}
