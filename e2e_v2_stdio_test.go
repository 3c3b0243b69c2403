package main

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/examples"
)

// Clients of MCP 2026-07-28 in front of the gateway over stdio, and what
// older clients still get (docs/PROTOCOL-2026-07-28.md).

// plantedToken is the credential testdata/node-v2/server.mjs plants in the
// question of confirm {"action":"leak"}.
const plantedToken = "ghp_SERVERS0a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5"

// runV2ClientStdio runs testdata/node-v2/client.mjs against the gateway of f
// over stdio with mode (V2_MODE) and ops, and returns what it printed.
func runV2ClientStdio(t *testing.T, f *fixture, mode string, ops []map[string]any) v2Result {
	t.Helper()
	dir := nodeV2Peers.require(t)
	b, err := json.Marshal(ops)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(dir, "client.mjs"),
		"--stdio", gatewayBin, "--config", f.path, "--", string(b))
	cmd.Env = gatewayEnv(authn.EnvKey+"="+f.key, "V2_MODE="+mode)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("v2 client: %v\n%s\nstderr:\n%s", err, out, stderr)
	}
	var r v2Result
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("v2 client output %q: %v", out, err)
	}
	if r.Error != "" || len(r.Results) != len(ops) {
		t.Fatalf("v2 client: error %q, %d results for %d ops:\n%s\nstderr:\n%s", r.Error, len(r.Results), len(ops), out, stderr)
	}
	return r
}

// TestE2EV2ModernClientStdio: the TypeScript SDK v2 client pinned to
// 2026-07-28 (no fallback) is served by the gateway over stdio: the tool
// list comes with the gateway's ttlMs, private to the caller; calls reach
// an old upstream (the echo example) and a 2026-07-28-only one; the
// 2026-07-28 upstream's input_required passes through to the client and
// its retry back (an elicitation round trip); an old upstream's
// server-initiated elicitation, which a 2026-07-28 client cannot take,
// reaches it as the gateway's own input_required, and the answer in the
// retry goes to the waiting upstream; a question carrying a credential (of
// the 2026 upstream) or an injection (of the old one), and an answer
// carrying a credential, are blocked by the guardrails.
func TestE2EV2ModernClientStdio(t *testing.T) {
	f := newFixture(t, exampleServer("echo", "echo", nil), guarded(v2Server(t)), guarded(exampleServer("raw", "raw_hostile", nil)))
	f.cfg.Common.EgressAfterInjection = "allow" // raw_hostile's poisoned listings would refuse its tools
	f.save(t)
	clientToken := "ghp_CLIENTS0a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5"
	tests := []struct {
		name       string
		op         map[string]any
		want       string // in the result's text
		isError    bool
		elicited   string // the question the client was asked, if any
		notInReply string // never in the result
	}{
		{name: "old upstream", op: map[string]any{"op": "call", "name": "echo__echo", "arguments": map[string]any{"message": "hi"}}, want: "hi"},
		{name: "2026 upstream", op: map[string]any{"op": "call", "name": "v2__echo", "arguments": map[string]any{"text": "from v2"}}, want: "echo: from v2"},
		{name: "input_required round trip", op: map[string]any{"op": "call", "name": "v2__confirm", "arguments": map[string]any{"action": "deploy"}},
			want: "confirmed deploy: true", elicited: "Confirm deploy?"},
		{name: "old upstream elicits", op: map[string]any{"op": "call", "name": "raw__elicit", "arguments": map[string]any{}, "answer": map[string]any{"answer": "Ada"}},
			want: "the user answered", elicited: "Please enter your name."},
		{name: "old upstream's question with an injection", op: map[string]any{"op": "call", "name": "raw__elicit", "arguments": map[string]any{"kind": "injection"}},
			want: "the user answered"}, // the upstream got a refusal, and says so its way
		{name: "question with a credential", op: map[string]any{"op": "call", "name": "v2__confirm", "arguments": map[string]any{"action": "leak"}},
			want: "output guardrails", isError: true, notInReply: plantedToken},
		{name: "answer with a credential", op: map[string]any{"op": "call", "name": "v2__confirm", "arguments": map[string]any{"action": "publish"},
			"answer": map[string]any{"ok": true, "note": clientToken}},
			want: "input guardrails", isError: true, elicited: "Confirm publish?", notInReply: clientToken},
	}
	ops := []map[string]any{{"op": "list"}}
	for _, tc := range tests {
		ops = append(ops, tc.op)
	}
	r := runV2ClientStdio(t, f, "pin", ops)
	if r.Protocol != "2026-07-28" {
		t.Errorf("the client negotiated %q, want 2026-07-28", r.Protocol)
	}

	var list struct {
		Tools      []mcp.Tool `json:"tools"`
		TTLMs      *int       `json:"ttlMs"`
		CacheScope string     `json:"cacheScope"`
	}
	if err := json.Unmarshal(r.Results[0], &list); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range list.Tools {
		names = append(names, tool.Name)
	}
	for _, want := range []string{"echo__echo", "v2__confirm", "raw__elicit"} {
		if !contains(names, want) {
			t.Errorf("tools/list = %v, missing %s", names, want)
		}
	}
	if list.TTLMs == nil || list.CacheScope != "private" {
		t.Errorf("tools/list ttlMs %v, cacheScope %q; want a ttlMs and \"private\":\n%s", list.TTLMs, list.CacheScope, r.Results[0])
	}

	elicited := strings.Join(r.Elicitations, "|")
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := r.Results[i+1]
			var res mcp.CallToolResult
			if err := json.Unmarshal(raw, &res); err != nil {
				t.Fatal(err)
			}
			if got := resultText(&res); !strings.Contains(got, tc.want) || res.IsError != tc.isError {
				t.Errorf("%s = %q (isError %v), want %q (isError %v)", tc.op["name"], got, res.IsError, tc.want, tc.isError)
			}
			if tc.notInReply != "" && strings.Contains(string(raw), tc.notInReply) {
				t.Errorf("the result carries %q: %s", tc.notInReply, raw)
			}
			if tc.elicited != "" && !strings.Contains(elicited, tc.elicited) {
				t.Errorf("the client was asked %q, want %q among them", r.Elicitations, tc.elicited)
			}
		})
	}
	if strings.Contains(elicited, plantedToken) || strings.Contains(elicited, examples.RawInjection) {
		t.Errorf("the client was asked %q: a blocked question passed", r.Elicitations)
	}
	if n := len(r.Elicitations); n != 3 {
		t.Errorf("the client was asked %d questions (%q), want 3", n, r.Elicitations)
	}
}

// TestE2EV2GoClientStdio: the go-sdk client at its default protocol
// (2026-07-28: server/discover, no initialize) reaches through the gateway
// over stdio an old upstream and a 2026-07-28-only one; the SDK answers the
// 2026 upstream's input_required, and the gateway's for the old upstream's
// elicitation/create, through its elicitation handler, and retries through
// the gateway.
func TestE2EV2GoClientStdio(t *testing.T) {
	f := newFixture(t, exampleServer("echo", "echo", nil), v2Server(t), exampleServer("raw", "raw_hostile", nil))
	cmd := exec.Command(gatewayBin, "--config", f.path)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	cmd.Env = gatewayEnv(authn.EnvKey + "=" + f.key)
	asked := make(chan string, 2)
	client := mcp.NewClient(&mcp.Implementation{Name: "go-2026", Version: "1"}, &mcp.ClientOptions{
		ElicitationHandler: func(_ context.Context, r *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			asked <- r.Params.Message
			if strings.Contains(r.Params.Message, "name") {
				return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"answer": "Ada"}}, nil
			}
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"ok": true}}, nil
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd, TerminateDuration: 5 * time.Second}, nil)
	if err != nil {
		t.Fatalf("connect: %v\nstderr:\n%s", err, stderr)
	}
	defer cs.Close()
	if got := cs.InitializeResult().ProtocolVersion; got != "2026-07-28" {
		t.Errorf("the client negotiated %q with the gateway, want 2026-07-28", got)
	}
	lt, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatalf("tools/list: %v\nstderr:\n%s", err, stderr)
	}
	if lt.CacheScope != "private" {
		t.Errorf("tools/list cacheScope %q, want private", lt.CacheScope)
	}
	for _, tc := range []struct {
		tool string
		args map[string]any
		want string
	}{
		{"echo__echo", map[string]any{"message": "old upstream"}, "old upstream"},
		{"v2__echo", map[string]any{"text": "modern"}, "echo: modern"},
		{"v2__confirm", map[string]any{"action": "deploy"}, "confirmed deploy: true"},
		{"raw__elicit", map[string]any{}, "the user answered "},
	} {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tc.tool, Arguments: tc.args})
		if err != nil {
			t.Fatalf("call %s: %v\nstderr:\n%s", tc.tool, err, stderr)
		}
		if res.IsError || !strings.HasPrefix(resultText(res), tc.want) {
			t.Errorf("call %s = %q (isError %v), want %q…", tc.tool, resultText(res), res.IsError, tc.want)
		}
	}
	var questions []string
	for len(asked) > 0 {
		questions = append(questions, <-asked)
	}
	if want := []string{"Confirm deploy?", "Please enter your name."}; strings.Join(questions, "|") != strings.Join(want, "|") {
		t.Errorf("the client was asked %q, want %q", questions, want)
	}
}

// TestE2EV2OldClientNoModernFields: a raw 2025-11-25 client gets, from a
// 2026-07-28 upstream through the gateway, results without the fields
// that version added (resultType, ttlMs, cacheScope, the upstream's
// serverInfo in _meta).
func TestE2EV2OldClientNoModernFields(t *testing.T) {
	f := newFixture(t, v2Server(t))
	c := startPaths(t, f)
	list := c.call(t, "tools/list", map[string]any{})
	call := c.call(t, "tools/call", map[string]any{"name": "v2__echo", "arguments": map[string]any{"text": "plain"}})
	for name, m := range map[string]map[string]any{"tools/list": list, "tools/call": call} {
		res, ok := m["result"].(map[string]any)
		if !ok {
			t.Fatalf("%s: %v", name, m)
		}
		for _, k := range []string{"resultType", "ttlMs", "cacheScope", "inputRequests", "requestState"} {
			if _, ok := res[k]; ok {
				t.Errorf("%s result has %q: %v", name, k, res)
			}
		}
		if meta, ok := res["_meta"].(map[string]any); ok {
			if _, ok := meta["io.modelcontextprotocol/serverInfo"]; ok {
				t.Errorf("%s result names a server in _meta: %v", name, res)
			}
		}
	}
	if text, isErr := toolText(call); isErr || text != "echo: plain" {
		t.Errorf("tools/call = %q (isError %v)", text, isErr)
	}
}
