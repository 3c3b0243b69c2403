package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/internal/config"
)

// runV2ClientHTTP runs testdata/node-v2/client.mjs pinned to 2026-07-28 over
// HTTP at url with the gateway key key and returns what it printed.
func runV2ClientHTTP(t *testing.T, url, key string, ops []map[string]any) v2Result {
	t.Helper()
	dir := nodeV2Peers.require(t)
	b, _ := json.Marshal(ops)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(dir, "client.mjs"), "--http", url, "--header", "apikey="+key, string(b))
	cmd.Env = gatewayEnv("V2_MODE=pin")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("v2 client: %v\n%s", err, out)
	}
	var r v2Result
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("v2 client output %q: %v", out, err)
	}
	return r
}

// toolNamesOf returns the names in a tools/list result the v2 client printed.
func toolNamesOf(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	var list mcp.ListToolsResult
	if err := json.Unmarshal(raw, &list); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range list.Tools {
		names = append(names, tool.Name)
	}
	return names
}

// TestE2EV2HTTPTypeScriptClient: the TypeScript SDK v2 client pinned to
// 2026-07-28 (no initialize, no session) lists and calls, over --http,
// tools of an old upstream (the bundled Go echo server, 2025-11-25) and of
// upstreams that speak only 2026-07-28 (over stdio and streamable HTTP); a
// wrong key is refused.
func TestE2EV2HTTPTypeScriptClient(t *testing.T) {
	f := newFixture(t, exampleServer("echo_server", "echo", nil), v2Server(t), v2RemoteServer(t, "v2http"))
	p := startHTTP(t, f)
	r := runV2ClientHTTP(t, p.url, f.key, []map[string]any{
		{"op": "list"},
		{"op": "call", "name": "echo_server__echo", "arguments": map[string]any{"message": "to the old upstream"}},
		{"op": "call", "name": "v2__echo", "arguments": map[string]any{"text": "to the new upstream"}},
		{"op": "call", "name": "v2http__echo", "arguments": map[string]any{"text": "to the remote one"}},
	})
	if r.Error != "" || len(r.Results) != 4 {
		t.Fatalf("v2 client: error %q, %d results\ngateway:\n%s", r.Error, len(r.Results), p.stderr)
	}
	if r.Protocol != "2026-07-28" {
		t.Errorf("negotiated %q, want 2026-07-28", r.Protocol)
	}
	names := toolNamesOf(t, r.Results[0])
	for _, want := range []string{"echo_server__echo", "v2__echo", "v2http__echo"} {
		if !contains(names, want) {
			t.Errorf("tools/list = %v, missing %s", names, want)
		}
	}
	for i, want := range []string{"to the old upstream", "echo: to the new upstream", "echo: to the remote one"} {
		var call mcp.CallToolResult
		if err := json.Unmarshal(r.Results[i+1], &call); err != nil {
			t.Fatal(err)
		}
		if got := resultText(&call); got != want || call.IsError {
			t.Errorf("call %d = %q (isError %v), want %q", i+1, got, call.IsError, want)
		}
	}

	bad := runV2ClientHTTP(t, p.url, "sk-not-a-gateway-key", []map[string]any{{"op": "list"}})
	if bad.Error == "" || len(bad.Results) != 0 {
		t.Errorf("a wrong key got %d results (error %q), want a refusal", len(bad.Results), bad.Error)
	}
}

// TestE2EV2HTTPPrincipalsIsolated: two keys of different projects, each
// with its own servers, use the stateless protocol against one gateway;
// each sees and calls only its own project's tools, and a call of the
// other's tool is refused as unknown.
func TestE2EV2HTTPPrincipalsIsolated(t *testing.T) {
	f := newFixture(t, exampleServer("alpha", "echo", nil))
	keyB := addKey(t, f, "b@example.com")
	// Key B's project gets its own MCP config, with another server.
	for _, pr := range f.cfg.Projects {
		if pr.Name == "project-b@example.com" {
			pr.MCPConfigID = "cfg-b"
		}
	}
	f.cfg.MCPConfigs["cfg-b"] = &config.MCPConfig{Name: "b", Servers: []*config.Server{exampleServer("beta", "echo", nil)}}
	f.save(t)
	p := startHTTP(t, f)

	ops := func(own, other string) []map[string]any {
		return []map[string]any{
			{"op": "list"},
			{"op": "call", "name": own + "__echo", "arguments": map[string]any{"message": "mine"}},
			{"op": "call", "name": other + "__echo", "arguments": map[string]any{"message": "theirs"}},
		}
	}
	for _, tc := range []struct{ name, key, own, other string }{
		{"key A", f.key, "alpha", "beta"},
		{"key B", keyB, "beta", "alpha"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runV2ClientHTTP(t, p.url, tc.key, ops(tc.own, tc.other))
			if len(r.Results) < 2 {
				t.Fatalf("v2 client: error %q, %d results\ngateway:\n%s", r.Error, len(r.Results), p.stderr)
			}
			names := toolNamesOf(t, r.Results[0])
			if !contains(names, tc.own+"__echo") || contains(names, tc.other+"__echo") {
				t.Errorf("tools/list = %v, want %s__echo and not %s__echo", names, tc.own, tc.other)
			}
			var call mcp.CallToolResult
			if err := json.Unmarshal(r.Results[1], &call); err != nil {
				t.Fatal(err)
			}
			if resultText(&call) != "mine" {
				t.Errorf("own call = %q", resultText(&call))
			}
			if len(r.Results) == 3 {
				var other mcp.CallToolResult
				if err := json.Unmarshal(r.Results[2], &other); err != nil {
					t.Fatal(err)
				}
				if !other.IsError || resultText(&other) == "theirs" {
					t.Errorf("the other project's tool answered %q (isError %v)", resultText(&other), other.IsError)
				}
			} else if r.Error == "" {
				t.Errorf("the other project's tool: no result and no error")
			}
		})
	}
}

// modernHeaders are the stateless protocol's headers for method (and name).
func modernHeaders(key, method, name string) http.Header {
	h := http.Header{"Apikey": {key}, "Mcp-Protocol-Version": {"2026-07-28"}, "Mcp-Method": {method}}
	if name != "" {
		h.Set("Mcp-Name", name)
	}
	return h
}

// modernCall is a 2026-07-28 tools/call body of tool with the _meta triple.
func modernCall(tool string) string {
	return `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"` + tool +
		`","arguments":{"message":"hi"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",` +
		`"io.modelcontextprotocol/clientInfo":{"name":"raw","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}}}`
}

// TestE2EV2HTTPHeaderChecks: through the gateway, a 2026-07-28 request
// whose Mcp-Method or Mcp-Name disagrees with its body is refused 400 with
// the header-mismatch error before any upstream sees it, a body over the
// cap (an oversized _meta) is refused 413, and the matching request is
// served.
func TestE2EV2HTTPHeaderChecks(t *testing.T) {
	f := newFixture(t, exampleServer("echo_server", "echo", nil))
	p := startHTTP(t, f, "--max-body-bytes", "65536")
	bigMeta := strings.Replace(modernCall("echo_server__echo"), `"_meta":{`, `"_meta":{"pad":"`+strings.Repeat("m", 70000)+`",`, 1)
	tests := []struct {
		name   string
		h      http.Header
		body   string
		status int
		want   string
	}{
		{"matching", modernHeaders(f.key, "tools/call", "echo_server__echo"), modernCall("echo_server__echo"), 200, `"text":"hi"`},
		{"Mcp-Name names another tool", modernHeaders(f.key, "tools/call", "echo_server__add"), modernCall("echo_server__echo"), 400, "-32020"},
		{"Mcp-Method names another method", modernHeaders(f.key, "tools/list", ""), modernCall("echo_server__echo"), 400, "-32020"},
		{"Mcp-Name missing", modernHeaders(f.key, "tools/call", ""), modernCall("echo_server__echo"), 400, "Mcp-Name"},
		{"oversized _meta", modernHeaders(f.key, "tools/call", "echo_server__echo"), bigMeta, 413, "Too Large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := rawPost(t, p.url, tc.h, tc.body)
			b := new(strings.Builder)
			_, _ = bufio.NewReader(resp.Body).WriteTo(b)
			if resp.StatusCode != tc.status || !strings.Contains(b.String(), tc.want) {
				t.Fatalf("%s %q; want %d with %q", resp.Status, b.String(), tc.status, tc.want)
			}
		})
	}
}

// TestE2EV2HTTPSubscriptionsListen: a 2026-07-28 client's
// subscriptions/listen through the gateway is acknowledged on its stream
// with the list_changed subscriptions the gateway offers, and a change of
// the upstream's tool list (the go-sdk everything-server's
// test_trigger_tool_change, called statelessly by the same key) arrives on
// it as notifications/tools/list_changed.
func TestE2EV2HTTPSubscriptionsListen(t *testing.T) {
	empty := ""
	f := newFixture(t, &config.Server{Name: "everything", ToolPrefix: &empty, Config: config.ServerConfig{Command: buildEverythingServer(t)}})
	p := startHTTP(t, f, "--log-level", "debug")
	meta := `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"raw","version":"1"},` +
		`"io.modelcontextprotocol/clientCapabilities":{}}`
	// The upstream is started (and its tools listed) before listening.
	if resp := rawPost(t, p.url, modernHeaders(f.key, "tools/list", ""), `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{`+meta+`}}`); resp.StatusCode != 200 {
		t.Fatalf("tools/list: %s", resp.Status)
	}
	body := `{"jsonrpc":"2.0","id":9,"method":"subscriptions/listen","params":{"notifications":{"toolsListChanged":true,"promptsListChanged":true},` + meta + `}}`
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.url, strings.NewReader(body))
	req.Header = modernHeaders(f.key, "subscriptions/listen", "")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("subscriptions/listen: %s", resp.Status)
	}
	frames := make(chan string)
	go func() {
		defer close(frames)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				frames <- data
			}
		}
	}()
	method := func(data string) (string, map[string]any) {
		var m struct {
			Method string `json:"method"`
			Params struct {
				Notifications map[string]any `json:"notifications"`
			} `json:"params"`
		}
		_ = json.Unmarshal([]byte(data), &m)
		return m.Method, m.Params.Notifications
	}
	ack, ok := <-frames
	if m, n := method(ack); !ok || m != "notifications/subscriptions/acknowledged" || n["toolsListChanged"] != true || n["promptsListChanged"] != true {
		t.Fatalf("first frame on the listen stream: %q, want an acknowledgement of tools and prompts list_changed\ngateway:\n%s", ack, p.stderr)
	}
	start := time.Now()
	trigger := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"test_trigger_tool_change","arguments":{},` + meta + `}}`
	if resp := rawPost(t, p.url, modernHeaders(f.key, "tools/call", "test_trigger_tool_change"), trigger); resp.StatusCode != 200 {
		t.Fatalf("trigger: %s", resp.Status)
	}
	for data := range frames {
		if m, _ := method(data); m == "notifications/tools/list_changed" {
			t.Logf("list_changed %v after the trigger was sent", time.Since(start).Round(time.Millisecond))
			return
		}
		t.Logf("listen frame: %s", data)
	}
	t.Fatalf("the listen stream ended without notifications/tools/list_changed\ngateway:\n%s", p.stderr)
}

// TestE2EV2HTTPGoClientProgress: the go-sdk client in its default (which
// negotiates 2026-07-28 with the gateway over --http) gets the upstream's
// progress notification for its call on the call's own response stream,
// though the stateless request has no other stream.
func TestE2EV2HTTPGoClientProgress(t *testing.T) {
	f := newFixture(t, exampleServer("probe", "probe", nil))
	p := startHTTP(t, f)
	progress := make(chan *mcp.ProgressNotificationParams, 8)
	client := mcp.NewClient(&mcp.Implementation{Name: "go-default", Version: "1"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
			select {
			case progress <- r.Params:
			default:
			}
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: p.url,
		HTTPClient: &http.Client{Transport: headerRT{http.Header{"Apikey": {f.key}}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if got := cs.InitializeResult().ProtocolVersion; got != "2026-07-28" {
		t.Fatalf("negotiated %q, want 2026-07-28", got)
	}
	params := &mcp.CallToolParams{Name: "probe__sleep", Arguments: map[string]any{"ms": 50}}
	params.SetProgressToken("mine")
	res, err := cs.CallTool(ctx, params)
	if err != nil || res.IsError || resultText(res) != "slept" {
		t.Fatalf("call: %v %+v", err, res)
	}
	select {
	case pr := <-progress:
		if pr.ProgressToken != "mine" {
			t.Errorf("progress token %v, want the client's own", pr.ProgressToken)
		}
	default:
		t.Fatalf("no progress notification reached the client before the answer\ngateway:\n%s", p.stderr)
	}
}

// TestE2EV2HTTPRoundTrips: over --http, where each 2026-07-28 request is on
// its own, the TypeScript SDK v2 client does an input_required round trip
// with a 2026-only upstream (passed through), and with an old upstream
// whose mid-call elicitation/create becomes the gateway's own
// input_required (the upstream call waits in the principal's gateway for
// the retry, which is another HTTP request); a question carrying a
// credential never reaches the client.
func TestE2EV2HTTPRoundTrips(t *testing.T) {
	t.Parallel()
	f := newFixture(t, guarded(v2Server(t)), guarded(exampleServer("raw", "raw_hostile", nil)))
	f.cfg.Common.EgressAfterInjection = "allow" // raw_hostile's poisoned listings would refuse its tools
	f.save(t)
	p := startHTTP(t, f)
	r := runV2ClientHTTP(t, p.url, f.key, []map[string]any{
		{"op": "call", "name": "v2__confirm", "arguments": map[string]any{"action": "deploy"}},
		{"op": "call", "name": "raw__elicit", "arguments": map[string]any{}, "answer": map[string]any{"answer": "Ada"}},
		{"op": "call", "name": "v2__confirm", "arguments": map[string]any{"action": "leak"}},
	})
	if r.Error != "" || len(r.Results) != 3 {
		t.Fatalf("v2 client: error %q, %d results\ngateway:\n%s", r.Error, len(r.Results), p.stderr)
	}
	for i, tc := range []struct {
		want    string
		isError bool
	}{{"confirmed deploy: true", false}, {"the user answered", false}, {"output guardrails", true}} {
		var res mcp.CallToolResult
		if err := json.Unmarshal(r.Results[i], &res); err != nil {
			t.Fatal(err)
		}
		if got := resultText(&res); !strings.Contains(got, tc.want) || res.IsError != tc.isError {
			t.Errorf("call %d = %q (isError %v), want %q (isError %v)", i, got, res.IsError, tc.want, tc.isError)
		}
	}
	asked := strings.Join(r.Elicitations, "|")
	if !strings.Contains(asked, "Confirm deploy?") || !strings.Contains(asked, "Please enter your name.") {
		t.Errorf("the client was asked %q; want both questions", r.Elicitations)
	}
	if strings.Contains(asked, plantedToken) {
		t.Errorf("the client was asked %q: the question with a credential passed", r.Elicitations)
	}
}

// TestE2EV2HTTPOldClientModernUpstream: a 2025-11-25 session client over
// --http calls a 2026-only upstream; the upstream's input_required reaches
// the client as elicitation/create on its session, and the answer goes
// back in the upstream's retry.
func TestE2EV2HTTPOldClientModernUpstream(t *testing.T) {
	t.Parallel()
	f := newFixture(t, guarded(v2Server(t)))
	p := startHTTP(t, f)
	asked := make(chan string, 4)
	cs, err := connectHTTPWith(t, p.url, http.Header{"Apikey": {f.key}}, &mcp.ClientOptions{
		ElicitationHandler: func(_ context.Context, r *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			asked <- r.Params.Message
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"ok": true}}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if got := cs.InitializeResult().ProtocolVersion; got != "2025-11-25" {
		t.Errorf("negotiated %q, want a 2025-11-25 session", got)
	}
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "v2__confirm", Arguments: map[string]any{"action": "deploy"}})
	if err != nil || res.IsError || resultText(res) != "confirmed deploy: true" {
		t.Fatalf("call: %v %+v\ngateway:\n%s", err, res, p.stderr)
	}
	if len(asked) != 1 || <-asked != "Confirm deploy?" {
		t.Errorf("the client was not asked the upstream's question once")
	}
}
