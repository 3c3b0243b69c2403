package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/internal/config"
)

// TestE2EProtocolTypeScript drives resources, prompts, completion, progress,
// image and structured content, elicitation and sampling through the gateway
// to server-everything with the reference TypeScript client.
func TestE2EProtocolTypeScript(t *testing.T) {
	f := newFixture(t, everythingServer(t))
	r := runTSClient(t, f, f.key,
		map[string]any{"op": "resources"},
		map[string]any{"op": "templates"},
		map[string]any{"op": "read", "uri": "demo://resource/dynamic/text/1"},
		map[string]any{"op": "prompts"},
		map[string]any{"op": "prompt", "name": "everything__args-prompt", "arguments": map[string]any{"city": "Paris"}},
		map[string]any{"op": "complete", "ref": map[string]any{"type": "ref/prompt", "name": "everything__completable-prompt"}, "argument": map[string]any{"name": "department", "value": "E"}},
		map[string]any{"op": "call", "name": "everything__trigger-long-running-operation", "arguments": map[string]any{"duration": 0.5, "steps": 5}, "progress": true},
		map[string]any{"op": "call", "name": "everything__get-tiny-image"},
		map[string]any{"op": "call", "name": "everything__get-structured-content", "arguments": map[string]any{"location": "New York"}},
		map[string]any{"op": "waitTool", "name": "everything__trigger-elicitation-request"},
		map[string]any{"op": "call", "name": "everything__trigger-elicitation-request"},
		map[string]any{"op": "waitTool", "name": "everything__trigger-sampling-request"},
		map[string]any{"op": "call", "name": "everything__trigger-sampling-request", "arguments": map[string]any{"prompt": "say hi", "maxTokens": 10}},
	)
	if r.Error != "" {
		t.Fatalf("ts client: %s\nstderr:\n%s", r.Error, r.Stderr)
	}
	res := func(i int) string { return string(r.Results[i]) }
	for i, want := range map[int]string{
		0:  `demo://resource/static/document/`,
		1:  `demo://resource/dynamic/text/{`,
		2:  `"uri":"demo://resource/dynamic/text/1"`,
		3:  `"name":"everything__simple-prompt"`,
		4:  `Paris`,
		5:  `Engineering`,
		7:  `"type":"image"`,
		8:  `"structuredContent"`,
		9:  `"found":true`,
		10: `Test Client`,
		11: `"found":true`,
		12: `sampled by the test client`,
	} {
		if !strings.Contains(res(i), want) {
			t.Errorf("step %d = %s\nwant it to contain %s", i, res(i), want)
		}
		if strings.Contains(res(i), `"error"`) || strings.Contains(res(i), `"isError":true`) {
			t.Errorf("step %d failed: %s", i, res(i))
		}
	}
	// Progress: every notification, in order, none after the result.
	var progress []float64
	resultSeen := false
	for _, e := range eventsOf(t, r) {
		if e["call"] != "everything__trigger-long-running-operation" {
			continue
		}
		switch e["kind"] {
		case "progress":
			if resultSeen {
				t.Errorf("progress after the result: %v", e)
			}
			progress = append(progress, e["progress"].(float64))
		case "result":
			resultSeen = true
		}
	}
	// The TypeScript client dispatches notifications asynchronously and
	// drops those it handles after the response, so it may miss the last
	// one; TestE2EProgressAllInOrder checks the wire for all five.
	if len(progress) < 3 {
		t.Errorf("progress = %v, want the operation's notifications", progress)
	}
	for i := 1; i < len(progress); i++ {
		if progress[i] <= progress[i-1] {
			t.Errorf("progress out of order: %v", progress)
		}
	}
	kinds := map[string]bool{}
	for _, e := range eventsOf(t, r) {
		kinds[e["kind"].(string)] = true
	}
	if !kinds["elicitation"] || !kinds["sampling"] {
		t.Errorf("the test client did not see the upstream's elicitation and sampling requests: %v", kinds)
	}
}

func eventsOf(t *testing.T, r tsResult) []map[string]any {
	t.Helper()
	return r.Events
}

// TestE2EClientRequestsDenied checks the per-server deny policy: the
// upstream's sampling request is refused by the gateway, never answered by it.
func TestE2EClientRequestsDenied(t *testing.T) {
	s := everythingServer(t)
	s.ClientRequests = &config.ClientRequests{Sampling: "deny"}
	f := newFixture(t, s)
	r := runTSClient(t, f, f.key,
		map[string]any{"op": "list"},
		map[string]any{"op": "call", "name": "everything__trigger-sampling-request", "arguments": map[string]any{"prompt": "x", "maxTokens": 5}},
	)
	if r.Error != "" {
		t.Fatalf("ts client: %s", r.Error)
	}
	// With sampling denied the gateway does not advertise it upstream, so
	// the upstream offers no sampling tool at all.
	if strings.Contains(string(r.Results[0]), "trigger-sampling-request") {
		t.Errorf("sampling tool offered although the policy denies sampling")
	}
	for _, e := range r.Events {
		if e["kind"] == "sampling" {
			t.Errorf("the client was asked to sample despite the deny policy")
		}
	}
}

// rawClient speaks newline-delimited JSON-RPC to the gateway binary and keeps
// every stdout message in arrival order.
type rawClient struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	mu    sync.Mutex
	msgs  []map[string]any
	cond  *sync.Cond
}

func startRaw(t *testing.T, f *fixture) *rawClient {
	t.Helper()
	cmd := exec.Command(gatewayBin, "--config", f.path)
	cmd.Env = gatewayEnv(authn.EnvKey + "=" + f.key)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &rawClient{cmd: cmd, stdin: stdin}
	c.cond = sync.NewCond(&c.mu)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				m = map[string]any{"unparsable": sc.Text()}
			}
			c.mu.Lock()
			c.msgs = append(c.msgs, m)
			c.cond.Broadcast()
			c.mu.Unlock()
		}
		c.mu.Lock()
		c.msgs = append(c.msgs, map[string]any{"eof": true})
		c.cond.Broadcast()
		c.mu.Unlock()
	}()
	t.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
		if t.Failed() {
			t.Logf("gateway stderr:\n%s", stderr)
		}
	})
	c.send(t, `{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
	c.waitID(t, "init")
	c.send(t, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	return c
}

func (c *rawClient) send(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(c.stdin, line+"\n"); err != nil {
		t.Fatal(err)
	}
}

// waitID waits for the response with id and returns its index in arrival
// order.
func (c *rawClient) waitID(t *testing.T, id any) int {
	t.Helper()
	deadline := time.AfterFunc(30*time.Second, func() {
		c.mu.Lock()
		c.msgs = append(c.msgs, map[string]any{"timeout": true})
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer deadline.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := 0; ; i++ {
		for i >= len(c.msgs) {
			c.cond.Wait()
		}
		m := c.msgs[i]
		if m["timeout"] == true || m["eof"] == true {
			t.Fatalf("no response with id %v (got %v)", id, c.msgs)
		}
		if m["id"] == id && m["method"] == nil {
			return i
		}
	}
}

// TestE2EProgressSameTokenTwoUpstreams makes two concurrent calls with the
// same client progress token on two upstreams: each upstream gets its own
// token from the gateway, every notification reaches the client with the
// client's token, and each arrives before its own call's result.
func TestE2EProgressSameTokenTwoUpstreams(t *testing.T) {
	f := newFixture(t, exampleServer("p1", "probe", nil), exampleServer("p2", "probe", nil))
	c := startRaw(t, f)
	c.send(t, `{"jsonrpc":"2.0","id":"list","method":"tools/list"}`)
	c.waitID(t, "list")
	c.send(t, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"p1__sleep","arguments":{"ms":300},"_meta":{"progressToken":"T"}}}`)
	c.send(t, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"p2__sleep","arguments":{"ms":600},"_meta":{"progressToken":"T"}}}`)
	r1, r2 := c.waitID(t, 1.0), c.waitID(t, 2.0)
	c.mu.Lock()
	defer c.mu.Unlock()
	totals := map[float64]int{}
	for i, m := range c.msgs {
		if m["method"] != "notifications/progress" {
			continue
		}
		p := m["params"].(map[string]any)
		if p["progressToken"] != "T" {
			t.Errorf("progress with token %v, want the client's T", p["progressToken"])
		}
		total := p["total"].(float64)
		totals[total]++
		if (total == 300 && i > r1) || (total == 600 && i > r2) {
			t.Errorf("progress %v arrived after its call's result", p)
		}
	}
	if totals[300] != 1 || totals[600] != 1 || len(totals) != 2 {
		t.Errorf("progress totals = %v, want one each of 300 and 600", totals)
	}
}

// TestE2EResourcesAndPromptsGoClient checks the go-sdk client sees the
// upstream's resources unchanged and its prompts prefixed.
func TestE2EResourcesAndPromptsGoClient(t *testing.T) {
	f := newFixture(t, everythingServer(t), exampleServer("echo_server", "echo", nil))
	g := startGateway(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := g.cs.ListResources(ctx, nil)
	if err != nil || len(res.Resources) == 0 {
		t.Fatalf("resources/list = %v, %v", res, err)
	}
	uri := res.Resources[0].URI
	rr, err := g.cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: uri})
	if err != nil || len(rr.Contents) == 0 || rr.Contents[0].URI != uri {
		t.Fatalf("resources/read %s = %+v, %v", uri, rr, err)
	}
	if _, err := g.cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "demo://no/such/thing"}); err == nil {
		t.Error("reading an unknown URI succeeded")
	}
	ps, err := g.cs.ListPrompts(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range ps.Prompts {
		names = append(names, p.Name)
	}
	if !contains(names, "everything__simple-prompt") {
		t.Fatalf("prompts = %v", names)
	}
	gp, err := g.cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "everything__simple-prompt"})
	if err != nil || len(gp.Messages) == 0 {
		t.Fatalf("prompts/get = %+v, %v", gp, err)
	}
}

// TestE2EProgressAllInOrder reads the gateway's stdout: every progress
// notification of server-everything's long-running operation reaches the
// client, in order, with the client's token, before the result.
func TestE2EProgressAllInOrder(t *testing.T) {
	f := newFixture(t, everythingServer(t))
	c := startRaw(t, f)
	c.send(t, `{"jsonrpc":"2.0","id":"list","method":"tools/list"}`)
	c.waitID(t, "list")
	c.send(t, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"everything__trigger-long-running-operation","arguments":{"duration":0.5,"steps":5},"_meta":{"progressToken":42}}}`)
	result := c.waitID(t, 1.0)
	c.mu.Lock()
	defer c.mu.Unlock()
	var got []float64
	for i, m := range c.msgs {
		if m["method"] != "notifications/progress" {
			continue
		}
		p := m["params"].(map[string]any)
		if p["progressToken"] != 42.0 {
			t.Errorf("progress token %v, want the client's 42", p["progressToken"])
		}
		if i > result {
			t.Errorf("progress %v after the result", p)
		}
		got = append(got, p["progress"].(float64))
	}
	if len(got) != 5 || got[0] != 1 || got[4] != 5 {
		t.Errorf("progress = %v, want 1 2 3 4 5", got)
	}
}
