package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/examples"
)

// Section C of the catalogue: upstream processes and faults, injected by the
// bundled faults and probe examples.

func TestCase16UpstreamMissingOrDiesAtStart(t *testing.T) { TestE2EMissingCommandCostsOnlyItsTools(t) }

func TestCase17UpstreamStdoutGarbage(t *testing.T) {
	f := newFixture(t, exampleServer("faults", "faults", nil), exampleServer("echo_server", "echo", nil))
	c := startRaw(t, f)
	c.send(t, `{"jsonrpc":"2.0","id":"list","method":"tools/list"}`)
	c.response(t, "list")
	c.send(t, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"faults__stdout_garbage","arguments":{}}}`)
	c.response(t, 1.0) // a tool error or the result: either way an answer
	c.send(t, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo_server__echo","arguments":{"message":"fine"}}}`)
	if m := c.response(t, 2.0); m["error"] != nil || strings.Contains(mustJSON(m), "isError\":true") {
		t.Errorf("the other upstream after garbage: %v", m)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.msgs {
		if _, bad := m["unparsable"]; bad || strings.Contains(mustJSON(m), "garbage: this line") {
			t.Errorf("the upstream's garbage reached the client: %v", m)
		}
	}
}

func TestCase18UpstreamStderrFlood(t *testing.T) {
	f := newFixture(t, exampleServer("faults", "faults", nil))
	g := startGateway(t, f)
	res := g.call(t, "faults__stderr_flood", map[string]any{"mb": 100})
	if res.IsError || !strings.Contains(resultText(res), "100 MiB") {
		t.Fatalf("stderr_flood = %q", resultText(res))
	}
	if n := len(g.stderr.String()); n > 4<<20 {
		t.Errorf("the gateway logged %d bytes of a 100 MiB flood; want it capped", n)
	}
	if got := resultText(g.call(t, "faults__huge_result", map[string]any{"mb": 0})); got != "" {
		t.Errorf("call after the flood = %q", got)
	}
}

func TestCase19SIGKILLWith50InFlight(t *testing.T) {
	marks := filepath.Join(t.TempDir(), "marks")
	f := newFixture(t, exampleServer("probe", "probe", map[string]string{examples.ProbeCancelFileEnv: marks}))
	g := startGateway(t, f)
	child := pidOf(t, g)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var answered []time.Time
	started := make(chan struct{}, 50)
	for range 50 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			started <- struct{}{}
			res, err := g.cs.CallTool(ctx, &mcp.CallToolParams{Name: "probe__sleep", Arguments: map[string]any{"ms": 60000}})
			mu.Lock()
			defer mu.Unlock()
			answered = append(answered, time.Now())
			if err == nil && !res.IsError {
				t.Errorf("a call survived its upstream's death: %q", resultText(res))
			}
		})
	}
	for range 50 {
		<-started
	}
	// Let the calls reach the upstream: its sleep tool is slow, so they wait there.
	waitFor(t, 30*time.Second, "50 calls in flight", func() bool {
		b, _ := os.ReadFile(marks)
		return strings.Count(string(b), "started") >= 50
	})
	killed := time.Now()
	if err := syscall.Kill(child, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	var worst time.Duration
	for _, at := range answered {
		worst = max(worst, at.Sub(killed))
	}
	t.Logf("all 50 in-flight calls answered %s after SIGKILL", worst)
	if worst > 5*time.Second {
		t.Errorf("in-flight calls answered %s after the upstream died", worst)
	}
	waitGone(t, child)
	waitFor(t, 10*time.Second, "a restarted upstream", func() bool {
		res := g.call(t, "probe__pid", nil)
		return !res.IsError
	})
}

func TestCase20UpstreamNeverAnswers(t *testing.T) { TestE2ECancellationReachesUpstream(t) }

func TestCase21StubbornProcessTree(t *testing.T) {
	f := newFixture(t, exampleServer("faults", "faults", nil))
	g := startGateway(t, f)
	res := g.call(t, "faults__stubborn", nil)
	m, ok := res.StructuredContent.(map[string]any)
	if !ok || res.IsError {
		t.Fatalf("stubborn = %q", resultText(res))
	}
	grandchild := int(m["pid"].(float64))
	if err := g.cs.Close(); err != nil {
		t.Logf("close: %v", err)
	}
	waitFor(t, 30*time.Second, "the gateway to exit", func() bool { return g.cmd.ProcessState != nil })
	waitGone(t, grandchild)
}

func TestCase22ClientClosesStdin(t *testing.T) { TestE2EStdinEOFReapsChildren(t) }

func TestCase23GatewaySIGKILLed(t *testing.T) { TestE2ESIGKILLLeavesNoOrphans(t) }

func TestCase24HugeResultAndProgressFlood(t *testing.T) {
	f := newFixture(t, exampleServer("faults", "faults", nil), exampleServer("echo_server", "echo", nil))
	t.Run("progress", func(t *testing.T) {
		c := startRaw(t, f)
		c.send(t, `{"jsonrpc":"2.0","id":"list","method":"tools/list"}`)
		c.response(t, "list")
		c.send(t, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"faults__progress_flood","arguments":{"count":20000},"_meta":{"progressToken":"p"}}}`)
		// Other calls stay answered during the flood.
		c.send(t, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo_server__echo","arguments":{"message":"meanwhile"}}}`)
		c.response(t, 2.0)
		res := c.response(t, 1.0)
		if !strings.Contains(mustJSON(res), "sent 20000") {
			t.Fatalf("progress_flood = %v", res)
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		var relayed int
		for _, m := range c.msgs {
			if m["method"] == "notifications/progress" {
				relayed++
			}
		}
		t.Logf("relayed %d of 20000 progress notifications", relayed)
		if relayed == 0 || relayed > 2000 {
			t.Errorf("relayed %d of 20000 progress notifications; want some, rate-limited", relayed)
		}
	})
	t.Run("huge result", func(t *testing.T) {
		g := startGateway(t, f)
		// The race-built child needs a while to marshal 24 MiB; the
		// gateway discards the frame past its 16 MiB cap and the call
		// gets a tool error, while the upstream stays up.
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		res, err := g.cs.CallTool(ctx, &mcp.CallToolParams{Name: "faults__huge_result", Arguments: map[string]any{"mb": 24}})
		if err != nil {
			t.Fatalf("huge_result: %v", err)
		}
		if !res.IsError {
			t.Fatalf("a 24 MiB result reached the client (%d bytes)", len(resultText(res)))
		}
		t.Logf("24 MiB result refused: %q", resultText(res))
		if got := resultText(g.call(t, "echo_server__echo", map[string]any{"message": "ok"})); got != "ok" {
			t.Errorf("echo after the huge result = %q", got)
		}
		waitFor(t, 60*time.Second, "the faults upstream answering", func() bool {
			return !g.call(t, "faults__huge_result", map[string]any{"mb": 1}).IsError
		})
	})
}
