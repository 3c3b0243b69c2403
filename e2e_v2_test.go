package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/internal/config"
)

// nodeV2Peers holds the MCP TypeScript SDK v2 (2026-07-28) peers.
var nodeV2Peers = &npmDir{dir: "testdata/node-v2", probe: "node_modules/@modelcontextprotocol/server"}

// v2Server is the TypeScript SDK v2 server of testdata/node-v2 over stdio,
// refusing the 2025 initialize handshake: an upstream that speaks only
// 2026-07-28.
func v2Server(t *testing.T) *config.Server {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed; `.ci/run` installs the npm peers")
	}
	dir := nodeV2Peers.require(t)
	return &config.Server{
		Name: "v2",
		Config: config.ServerConfig{
			Command: node,
			Args:    []string{filepath.Join(dir, "server.mjs"), "--modern-only"},
		},
	}
}

// v2RemoteServer starts the TypeScript SDK v2 server of testdata/node-v2
// over streamable HTTP, refusing the 2025 era, and returns it as a remote
// upstream named name.
func v2RemoteServer(t *testing.T, name string) *config.Server {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed; `.ci/run` installs the npm peers")
	}
	dir := nodeV2Peers.require(t)
	cmd := exec.Command(node, filepath.Join(dir, "server.mjs"), "--http", "0", "--modern-only")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stderr).ReadString('\n')
	port, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if err != nil || !ok {
		t.Fatalf("v2 server did not start: %q %v", line, err)
	}
	go func() { _, _ = io.Copy(io.Discard, stderr) }()
	return &config.Server{Name: name, Config: config.ServerConfig{URL: "http://127.0.0.1:" + port + "/mcp"}}
}

// TestE2EV2OldClientModernUpstream: a 2025-11-25 client reaches, through
// the gateway over stdio, upstreams that speak only 2026-07-28 (over stdio
// and streamable HTTP): the pool retries the refused 2025 handshake with
// server/discover, and the tool list and calls pass through. An upstream's
// input_required question reaches the old client as elicitation/create,
// and its answer goes back as the retry's inputResponses; a question
// carrying a credential is blocked by the output guardrails before the
// client sees it.
func TestE2EV2OldClientModernUpstream(t *testing.T) {
	f := newFixture(t, guarded(v2Server(t)), v2RemoteServer(t, "v2http"))
	cmd := exec.Command(gatewayBin, "--config", f.path, "--log-level", "debug")
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	cmd.Env = gatewayEnv(authn.EnvKey + "=" + f.key)
	asked := make(chan string, 4)
	client := mcp.NewClient(&mcp.Implementation{Name: "old", Version: "1"}, &mcp.ClientOptions{
		ElicitationHandler: func(_ context.Context, r *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			asked <- r.Params.Message
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"ok": true}}, nil
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd, TerminateDuration: 5 * time.Second},
		&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatalf("connect: %v\nstderr:\n%s", err, stderr)
	}
	defer cs.Close()
	if got := cs.InitializeResult().ProtocolVersion; got != "2025-11-25" {
		t.Errorf("the client negotiated %q with the gateway, want 2025-11-25", got)
	}

	lt, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatalf("tools/list: %v\nstderr:\n%s", err, stderr)
	}
	var names []string
	for _, tool := range lt.Tools {
		names = append(names, tool.Name)
	}
	for _, want := range []string{"v2__echo", "v2__confirm", "v2http__echo"} {
		if !contains(names, want) {
			t.Errorf("tools/list = %v, missing %s", names, want)
		}
	}

	tests := []struct {
		name string
		tool string
		args map[string]any
		want string
	}{
		{"plain call", "v2__echo", map[string]any{"text": "hello"}, "echo: hello"},
		{"another call", "v2__echo", map[string]any{"text": "again"}, "echo: again"},
		{"remote upstream", "v2http__echo", map[string]any{"text": "remote"}, "echo: remote"},
		{"elicitation round trip", "v2__confirm", map[string]any{"action": "deploy"}, "confirmed deploy: true"},
		{"elicitation round trip, remote", "v2http__confirm", map[string]any{"action": "ship"}, "confirmed ship: true"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tc.tool, Arguments: tc.args})
			if err != nil {
				t.Fatalf("call %s: %v\nstderr:\n%s", tc.tool, err, stderr)
			}
			if res.IsError || resultText(res) != tc.want {
				t.Fatalf("call %s = %q (isError %v), want %q\nstderr:\n%s", tc.tool, resultText(res), res.IsError, tc.want, stderr)
			}
		})
	}
	t.Run("question with a credential", func(t *testing.T) {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "v2__confirm", Arguments: map[string]any{"action": "leak"}})
		var text string
		if err != nil {
			text = err.Error()
		} else {
			text = resultText(res)
			if !res.IsError {
				t.Errorf("call v2__confirm leak = %q, want an error", text)
			}
		}
		if !strings.Contains(text, "output guardrails") || strings.Contains(text, plantedToken) {
			t.Errorf("call v2__confirm leak: %q, want a refusal naming the output guardrails", text)
		}
	})
	var questions []string
	for len(asked) > 0 {
		questions = append(questions, <-asked)
	}
	if want := []string{"Confirm deploy?", "Confirm ship?"}; strings.Join(questions, "|") != strings.Join(want, "|") {
		t.Errorf("the client was asked %q, want %q", questions, want)
	}
	if !strings.Contains(stderr.String(), "2026-07-28") {
		t.Errorf("the gateway log does not mention the stateless protocol retry:\n%s", stderr)
	}
}

// v2Result is what testdata/node-v2/client.mjs prints.
type v2Result struct {
	Protocol     string            `json:"protocol"`
	Results      []json.RawMessage `json:"results"`
	Elicitations []string          `json:"elicitations"`
	Error        string            `json:"error"`
}

// TestE2EV2TypeScriptClientModernUpstream: the TypeScript SDK v2 client,
// negotiating as it does by default for 2026-07-28 (server/discover, then
// initialize), reaches through the gateway over stdio an upstream that
// speaks only 2026-07-28.
func TestE2EV2TypeScriptClientModernUpstream(t *testing.T) {
	f := newFixture(t, v2Server(t))
	dir := nodeV2Peers.require(t)
	ops, _ := json.Marshal([]map[string]any{
		{"op": "list"},
		{"op": "call", "name": "v2__echo", "arguments": map[string]any{"text": "from v2"}},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(dir, "client.mjs"),
		"--stdio", gatewayBin, "--config", f.path, "--", string(ops))
	cmd.Env = gatewayEnv(authn.EnvKey+"="+f.key, "V2_MODE=auto")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("v2 client: %v\n%s", err, out)
	}
	var r v2Result
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("v2 client output %q: %v", out, err)
	}
	if r.Error != "" || len(r.Results) != 2 {
		t.Fatalf("v2 client: error %q, %d results:\n%s", r.Error, len(r.Results), out)
	}
	t.Logf("the v2 client negotiated %s with the gateway", r.Protocol)
	var list mcp.ListToolsResult
	if err := json.Unmarshal(r.Results[0], &list); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range list.Tools {
		names = append(names, tool.Name)
	}
	if !contains(names, "v2__echo") {
		t.Errorf("tools/list = %v, missing v2__echo", names)
	}
	var call mcp.CallToolResult
	if err := json.Unmarshal(r.Results[1], &call); err != nil {
		t.Fatal(err)
	}
	if got := resultText(&call); got != "echo: from v2" {
		t.Errorf("call v2__echo = %q, want %q", got, "echo: from v2")
	}
}
