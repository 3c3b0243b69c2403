package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The gateway survives hostile and careless upstreams and clients: crashes,
// oversized replies, definitions changed mid-session and HTTP sessions that
// are never closed. See docs/SECURITY.md, "Faults and what the gateway
// guarantees".

// TestE2ESurviveCrashNextCallSucceeds: an upstream that exits during its
// k-th call; call k+1 restarts it and succeeds, with no wait and no retry by
// the client.
func TestE2ESurviveCrashNextCallSucceeds(t *testing.T) {
	t.Parallel()
	f := newFixture(t, exampleServer("probe", "probe", nil))
	g := startGateway(t, f)
	before := pidOf(t, g)
	pidOf(t, g)
	res := g.call(t, "probe__crash", map[string]any{"code": 3})
	if !res.IsError || !strings.Contains(resultText(res), `"probe"`) {
		t.Fatalf("crash result = %v %q; want a tool error naming the server", res.IsError, resultText(res))
	}
	for i := range 2 { // a second crash is still not a crash loop
		res := g.call(t, "probe__pid", nil)
		if res.IsError {
			t.Fatalf("call after crash %d: %q; want the restarted server's answer", i+1, resultText(res))
		}
		after := int(res.StructuredContent.(map[string]any)["pid"].(float64))
		if after == before {
			t.Errorf("pid after restart = %d, same as before", after)
		}
		before = after
		if i == 0 {
			g.call(t, "probe__crash", map[string]any{"code": 4})
		}
	}
}

// TestE2ESurviveChildExitingOnStart: a server whose process exits as soon
// as it starts gets a clear error within the call's budget: the server, the
// exit count, the exit status and its stderr tail.
func TestE2ESurviveChildExitingOnStart(t *testing.T) {
	t.Parallel()
	s := exampleServer("dies", "no-such-example", nil)
	f := newFixture(t, s, exampleServer("echo_server", "echo", nil))
	g := startGateway(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := g.cs.CallTool(ctx, &mcp.CallToolParams{Name: "dies__anything"})
	if err != nil {
		t.Fatalf("call of a server that exits on start: %v", err)
	}
	text := resultText(res)
	t.Logf("error result: %s", text)
	if !res.IsError {
		t.Fatalf("call of a server that exits on start succeeded: %q", text)
	}
	for _, want := range []string{`"dies"`, "exited 3 times", "exit status 1", "unknown example server"} {
		if !strings.Contains(text, want) {
			t.Errorf("error result lacks %q", want)
		}
	}
	if ctx.Err() != nil {
		t.Error("the call ran out its budget")
	}
	if got := resultText(g.call(t, "echo_server__echo", map[string]any{"message": "ok"})); got != "ok" {
		t.Errorf("echo beside the dying server = %q", got)
	}
}
