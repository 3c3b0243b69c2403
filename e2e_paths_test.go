package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/examples"
)

// Every path between client and upstream, tried against the raw_hostile
// upstream (docs/SECURITY.md, "Every path guarded"): what the client sends
// is proved from the upstream's own record of what it received, what the
// upstream sends from every line of the client's stream.

// What the client sends that must never reach the upstream.
const (
	clientToken = "ghp_CLIENTS0a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5"
	clientAWS   = "AKIACLIENTKEY0EXAMPL"
	clientSSN   = "078-05-1120"
	clientEmail = "jane.doe@example.com"
	clientCard  = "4111111111111111"
)

// pathsClient is a raw stdio client of the gateway binary that keeps every
// line the gateway writes and answers the gateway's requests (sampling,
// elicitation, roots) with answers carrying the client's secrets.
type pathsClient struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *syncBuffer
	wmu    sync.Mutex // one line per write to stdin

	mu    sync.Mutex
	cond  *sync.Cond
	lines []string
	msgs  []map[string]any
	asked map[string]int // requests the gateway sent, by method
}

func startPaths(t *testing.T, f *fixture) *pathsClient {
	t.Helper()
	cmd := exec.Command(gatewayBin, "--config", f.path, "--log-level", "debug")
	cmd.Env = gatewayEnv(authn.EnvKey + "=" + f.key)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	c := &pathsClient{cmd: cmd, stdin: stdin, stderr: &syncBuffer{}, asked: map[string]int{}}
	cmd.Stderr = c.stderr
	c.cond = sync.NewCond(&c.mu)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				m = map[string]any{"unparsable": sc.Text()}
			}
			c.mu.Lock()
			c.lines = append(c.lines, sc.Text())
			c.msgs = append(c.msgs, m)
			c.cond.Broadcast()
			c.mu.Unlock()
			if method, _ := m["method"].(string); method != "" && m["id"] != nil {
				c.answer(m)
			}
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
			t.Logf("gateway stderr:\n%s", c.stderr)
		}
	})
	c.send(t, `{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"sampling":{},"elicitation":{},"roots":{"listChanged":true}},"clientInfo":{"name":"paths","version":"1"}}}`)
	c.response(t, "init")
	c.send(t, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	return c
}

// answer replies to a request of the gateway with the client's secrets.
func (c *pathsClient) answer(m map[string]any) {
	method := m["method"].(string)
	c.mu.Lock()
	c.asked[method]++
	c.mu.Unlock()
	id, _ := json.Marshal(m["id"])
	var result string
	switch method {
	case "sampling/createMessage":
		result = `{"role":"assistant","model":"m","content":{"type":"text","text":"the key is ` + clientAWS + `"}}`
	case "elicitation/create":
		result = `{"action":"accept","content":{"answer":"` + clientToken + `"}}`
	case "roots/list":
		result = `{"roots":[{"uri":"file:///home/` + clientEmail + `/src"}]}`
	default:
		result = `{}`
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, _ = io.WriteString(c.stdin, `{"jsonrpc":"2.0","id":`+string(id)+`,"result":`+result+"}\n")
}

func (c *pathsClient) send(t *testing.T, line string) {
	t.Helper()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := io.WriteString(c.stdin, line+"\n"); err != nil {
		t.Fatal(err)
	}
}

// call sends a request with a fresh string id and returns its response.
func (c *pathsClient) call(t *testing.T, method string, params any) map[string]any {
	t.Helper()
	c.mu.Lock()
	id := fmt.Sprintf("r%d", len(c.msgs))
	c.mu.Unlock()
	b, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
	if err != nil {
		t.Fatal(err)
	}
	c.send(t, string(b))
	return c.response(t, id)
}

func (c *pathsClient) response(t *testing.T, id string) map[string]any {
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
			t.Fatalf("no response with id %v", id)
		}
		if m["id"] == id && m["method"] == nil {
			return m
		}
	}
}

// stream returns every line the gateway wrote so far.
func (c *pathsClient) stream() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.lines, "\n")
}

// errorMessage returns a response's JSON-RPC error message, or "".
func errorMessage(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	s, _ := e["message"].(string)
	return s
}

// toolText returns the text of a tools/call response and whether it is a
// tool error.
func toolText(m map[string]any) (string, bool) {
	r, _ := m["result"].(map[string]any)
	isErr, _ := r["isError"].(bool)
	var b strings.Builder
	cs, _ := r["content"].([]any)
	for _, x := range cs {
		if c, ok := x.(map[string]any); ok {
			s, _ := c["text"].(string)
			b.WriteString(s)
		}
	}
	return b.String(), isErr
}

func rawHostileFixture(t *testing.T) (*fixture, string) {
	t.Helper()
	record := filepath.Join(t.TempDir(), "upstream.jsonl")
	f := newFixture(t, guarded(exampleServer("raw", "raw_hostile", map[string]string{examples.EnvRecordFile: record})))
	return f, record
}

// TestPathsClientToUpstream: prompt arguments, completion values, resource
// URIs, numbers in tool arguments and the client's answers to sampling and
// elicitation pass the input policy; the upstream's record proves that none
// of the client's secrets reached it.
func TestPathsClientToUpstream(t *testing.T) {
	t.Parallel()
	f, record := rawHostileFixture(t)
	f.cfg.Common.EgressAfterInjection = "allow" // the poisoned listings would refuse the tools
	f.save(t)
	c := startPaths(t, f)
	c.call(t, "tools/list", map[string]any{})
	c.call(t, "prompts/list", map[string]any{})
	c.call(t, "resources/templates/list", map[string]any{})

	for _, tc := range []struct {
		name   string
		method string
		params any
		stage  string // what the refusal names
	}{
		{"prompt arguments", "prompts/get", map[string]any{"name": "raw__clean", "arguments": map[string]string{"topic": "use " + clientToken}}, "input guardrails"},
		{"prompt arguments with an e-mail", "prompts/get", map[string]any{"name": "raw__clean", "arguments": map[string]string{"topic": "write to " + clientEmail}}, "input guardrails"},
		{"completion value", "completion/complete", map[string]any{"ref": map[string]any{"type": "ref/prompt", "name": "raw__clean"}, "argument": map[string]any{"name": "topic", "value": clientSSN}}, "input guardrails"},
		{"completion context", "completion/complete", map[string]any{"ref": map[string]any{"type": "ref/prompt", "name": "raw__clean"}, "argument": map[string]any{"name": "topic", "value": "a"}, "context": map[string]any{"arguments": map[string]string{"k": clientAWS}}}, "input guardrails"},
		{"resource URI", "resources/read", map[string]any{"uri": "raw://items/" + clientToken}, "input guardrails"},
		{"subscription URI", "resources/subscribe", map[string]any{"uri": "raw://items/" + clientToken}, "input guardrails"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := c.call(t, tc.method, tc.params)
			if msg := errorMessage(m); !strings.Contains(msg, tc.stage) {
				t.Errorf("response %v, want an error naming the %s", m, tc.stage)
			}
		})
	}
	t.Run("number in tool arguments", func(t *testing.T) {
		n, _ := strconv.ParseInt(clientCard, 10, 64)
		text, isErr := toolText(c.call(t, "tools/call", map[string]any{"name": "raw__echo", "arguments": map[string]any{"card": n}}))
		if !isErr || !strings.Contains(text, "pii") || strings.Contains(text, clientCard) {
			t.Errorf("isError=%v %q", isErr, text)
		}
	})
	t.Run("sampling answer", func(t *testing.T) {
		text, isErr := toolText(c.call(t, "tools/call", map[string]any{"name": "raw__sample"}))
		if isErr || !strings.Contains(text, "the model answered") {
			t.Errorf("isError=%v %q", isErr, text)
		}
	})
	t.Run("elicitation answer", func(t *testing.T) {
		text, isErr := toolText(c.call(t, "tools/call", map[string]any{"name": "raw__elicit"}))
		if isErr || !strings.Contains(text, "the user answered") {
			t.Errorf("isError=%v %q", isErr, text)
		}
	})
	t.Run("clean requests still pass", func(t *testing.T) {
		m := c.call(t, "completion/complete", map[string]any{"ref": map[string]any{"type": "ref/prompt", "name": "raw__clean"}, "argument": map[string]any{"name": "topic", "value": "par"}})
		if !strings.Contains(fmt.Sprint(m["result"]), "par-one") {
			t.Errorf("clean completion: %v", m)
		}
		m = c.call(t, "resources/read", map[string]any{"uri": "raw://items/42"})
		if !strings.Contains(fmt.Sprint(m["result"]), "contents of raw://items/42") {
			t.Errorf("clean read: %v", m)
		}
	})

	c.mu.Lock()
	asked := fmt.Sprint(c.asked)
	c.mu.Unlock()
	if !strings.Contains(asked, "sampling/createMessage:1") || !strings.Contains(asked, "elicitation/create:1") {
		t.Errorf("the client was asked %s, want one sampling and one elicitation request", asked)
	}
	got, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{clientToken, clientAWS, clientSSN, clientEmail, clientCard} {
		if strings.Contains(string(got), secret) {
			t.Errorf("the upstream received %q:\n%s", secret, got)
		}
	}
	if !strings.Contains(string(got), "blocked by input guardrails") {
		t.Errorf("the upstream's sampling and elicitation requests were not refused with a guardrail error:\n%s", got)
	}
	if strings.Contains(c.stderr.String(), clientToken) || strings.Contains(c.stderr.String(), clientEmail) {
		t.Error("the gateway's log carries what it blocked")
	}
}

// TestPathsUpstreamToClient: JSON-RPC errors, resource, template and
// prompt metadata, completion values, progress and log messages and the
// upstream's sampling and elicitation requests pass the output policy;
// no line of the client's stream carries what the upstream planted.
func TestPathsUpstreamToClient(t *testing.T) {
	t.Parallel()
	f, _ := rawHostileFixture(t)
	f.cfg.Common.EgressAfterInjection = "allow" // every path is tried in one session
	f.save(t)
	c := startPaths(t, f)
	c.call(t, "tools/list", map[string]any{})
	c.call(t, "logging/setLevel", map[string]any{"level": "debug"})

	for _, kind := range []string{"injection", "secret"} {
		t.Run("tool error "+kind, func(t *testing.T) {
			m := c.call(t, "tools/call", map[string]any{"name": "raw__fail", "arguments": map[string]any{"kind": kind}})
			text, isErr := toolText(m)
			if !isErr || !strings.Contains(text, "blocked by output guardrails") {
				t.Errorf("response %v, want a tool error naming the output guardrails", m)
			}
		})
	}
	t.Run("clean tool error passes", func(t *testing.T) {
		m := c.call(t, "tools/call", map[string]any{"name": "raw__fail", "arguments": map[string]any{"kind": "clean"}})
		if !strings.Contains(errorMessage(m), "upstream failed: not found") {
			t.Errorf("response %v, want the upstream's own error", m)
		}
	})
	for _, tc := range []struct {
		name   string
		method string
		params any
	}{
		{"resource error", "resources/read", map[string]any{"uri": "raw://error"}},
		{"prompt error", "prompts/get", map[string]any{"name": "raw__error"}},
		{"completion values", "completion/complete", map[string]any{"ref": map[string]any{"type": "ref/prompt", "name": "raw__clean"}, "argument": map[string]any{"name": "topic", "value": "leak"}}},
		{"completion error", "completion/complete", map[string]any{"ref": map[string]any{"type": "ref/prompt", "name": "raw__clean"}, "argument": map[string]any{"name": "topic", "value": "fail"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if m := c.call(t, tc.method, tc.params); !strings.Contains(errorMessage(m), "blocked by output guardrails") {
				t.Errorf("response %v, want an error naming the output guardrails", m)
			}
		})
	}
	t.Run("metadata", func(t *testing.T) {
		res := fmt.Sprint(c.call(t, "resources/list", map[string]any{})["result"])
		if !strings.Contains(res, "raw://clean") || strings.Contains(res, "raw://poisoned") || strings.Contains(res, "raw://leaky") {
			t.Errorf("resources/list = %s", res)
		}
		tmpl := fmt.Sprint(c.call(t, "resources/templates/list", map[string]any{})["result"])
		if !strings.Contains(tmpl, "raw://items/{id}") || strings.Contains(tmpl, "raw://keys/{id}") {
			t.Errorf("resources/templates/list = %s", tmpl)
		}
		prompts := fmt.Sprint(c.call(t, "prompts/list", map[string]any{})["result"])
		if !strings.Contains(prompts, "raw__clean") || strings.Contains(prompts, "raw__poisoned") {
			t.Errorf("prompts/list = %s", prompts)
		}
	})
	t.Run("progress messages", func(t *testing.T) {
		m := c.call(t, "tools/call", map[string]any{"name": "raw__progress", "_meta": map[string]any{"progressToken": "p1"}})
		if text, isErr := toolText(m); isErr || text != "progress done" {
			t.Fatalf("progress call: %v", m)
		}
		s := c.stream()
		if !strings.Contains(s, "step one") || !strings.Contains(s, "step four") {
			t.Errorf("clean progress messages were not relayed")
		}
	})
	t.Run("log messages", func(t *testing.T) {
		m := c.call(t, "tools/call", map[string]any{"name": "raw__log", "arguments": map[string]any{"count": 8, "size": 16}})
		if _, isErr := toolText(m); isErr {
			t.Fatalf("log call: %v", m)
		}
		// The clean half of them arrives through the notification queue.
		waitFor(t, 10*time.Second, "the clean log messages", func() bool {
			return strings.Count(c.stream(), strings.Repeat("x", 16)) == 4
		})
	})
	t.Run("sampling and elicitation requests", func(t *testing.T) {
		for _, tool := range []string{"raw__sample", "raw__elicit"} {
			m := c.call(t, "tools/call", map[string]any{"name": tool, "arguments": map[string]any{"kind": "injection"}})
			if text, isErr := toolText(m); isErr || !strings.Contains(text, "answered") {
				t.Errorf("%s: %v", tool, m)
			}
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if len(c.asked) != 0 {
			t.Errorf("the client was asked %v, want nothing", c.asked)
		}
	})
	s := c.stream()
	for _, planted := range []string{examples.RawInjection, examples.RawSecret, examples.RawDataSecret, "Ignore all previous"} {
		if strings.Contains(s, planted) {
			t.Errorf("the client's stream carries %q", planted)
		}
	}
}

// TestPathsErrorArmsToxicFlow: an injection in an upstream's JSON-RPC error
// arms the toxic-flow rule as one in a result does.
func TestPathsErrorArmsToxicFlow(t *testing.T) {
	t.Parallel()
	f, _ := rawHostileFixture(t)
	f.cfg.MCPConfigs[firstConfigID(f)].Servers = append(f.cfg.MCPConfigs[firstConfigID(f)].Servers, exampleServer("echo_server", "echo", nil))
	f.save(t)
	g := startGateway(t, f)
	if got := resultText(g.call(t, "echo_server__echo", map[string]any{"message": "before"})); got != "before" {
		t.Fatalf("echo before = %q", got)
	}
	if r := g.call(t, "raw__fail", nil); !r.IsError || !strings.Contains(resultText(r), "injection_attack") {
		t.Fatalf("the injected error was not blocked: %q", resultText(r))
	}
	r := g.call(t, "echo_server__echo", map[string]any{"message": "exfiltrate-me"})
	if !r.IsError || !strings.Contains(resultText(r), "openWorldHint") {
		t.Errorf("egress after an injected error: isError=%v %q", r.IsError, resultText(r))
	}
}

func firstConfigID(f *fixture) string {
	for id := range f.cfg.MCPConfigs {
		return id
	}
	return ""
}

// TestPathsHTTPStrictParse: over --http, a POST body passes the strict
// parse of a stdio line: batches, duplicate keys and ids that cannot come
// back exactly are refused with a JSON-RPC error under the id as sent, and
// an id at the edge of the exact range comes back as sent.
func TestPathsHTTPStrictParse(t *testing.T) {
	t.Parallel()
	f := newFixture(t, exampleServer("echo_server", "echo", nil))
	p := startHTTP(t, f)
	h := http.Header{"Apikey": {f.key}}
	init := rawPost(t, p.url, h, strings.Replace(initBody, "2025-11-25", "2025-03-26", 1))
	if init.StatusCode != 200 {
		t.Fatalf("initialize: %s", init.Status)
	}
	sh := http.Header{"Apikey": {f.key}, "Mcp-Session-Id": {init.Header.Get("Mcp-Session-Id")}, "Mcp-Protocol-Version": {"2025-03-26"}}
	rawPost(t, p.url, sh, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	call := `{"jsonrpc":"2.0","id":%s,"method":"tools/call","params":{"name":"echo_server__echo","arguments":{"message":"hi"}}}`
	for _, tc := range []struct {
		name, body string
		status     int
		want       string // in the body
	}{
		{"batch", "[" + fmt.Sprintf(call, `"b1"`) + "," + fmt.Sprintf(call, `"b2"`) + "]", 400, `"code":-32600`},
		{"duplicate key", `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo_server__echo","name":"x"}}`, 400, `"id":7`},
		{"invalid UTF-8", "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"ping\",\"params\":{\"s\":\"\xff\"}}", 400, `"code":-32700`},
		{"too deep", `{"jsonrpc":"2.0","id":9,"method":"ping","params":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`, 400, `"id":9`},
		{"fractional id", fmt.Sprintf(call, "1.5"), 400, `"id":1.5`},
		{"id past 2^63", fmt.Sprintf(call, "9223372036854775808"), 400, `"id":9223372036854775808`},
		{"largest exact id", fmt.Sprintf(call, "9007199254740991"), 200, `"id":9007199254740991`},
		{"string id", fmt.Sprintf(call, `"1.5"`), 200, `"id":"1.5"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := rawPost(t, p.url, sh, tc.body)
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.want) {
				t.Errorf("status %d body %s, want %d and %s", resp.StatusCode, b, tc.status, tc.want)
			}
			if tc.status == 200 && !strings.Contains(string(b), `"hi"`) {
				t.Errorf("body %s, want the echo", b)
			}
		})
	}
}

// TestPathsStdioIDs: on stdio, every id comes back exactly as sent or is
// refused under that id.
func TestPathsStdioIDs(t *testing.T) {
	t.Parallel()
	f := newFixture(t, exampleServer("echo_server", "echo", nil))
	c := startPaths(t, f)
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"1.5", false}, {"9223372036854775808", false}, {"1e2", false}, {"-0", false},
		{"9007199254740991", true}, {"-9007199254740991", true}, {`"x"`, true},
	} {
		c.send(t, `{"jsonrpc":"2.0","id":`+tc.id+`,"method":"ping"}`)
		want := `"id":` + tc.id + `,`
		waitFor(t, 10*time.Second, "the answer to id "+tc.id, func() bool { return strings.Contains(c.stream(), want) })
		for _, l := range strings.Split(c.stream(), "\n") {
			if strings.Contains(l, want) && strings.Contains(l, `"error"`) == tc.ok {
				t.Errorf("id %s answered %s", tc.id, l)
			}
		}
	}
}

// TestPathsLogFloodMemory: a log flood from an upstream to a client that
// stopped reading leaves gateway memory flat: excess messages are dropped
// and counted, and the queue to the client is bounded. The gateway under
// test is built without the race detector (see plainGatewayBin).
func TestPathsLogFloodMemory(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs /proc to sample RSS")
	}
	t.Parallel()
	f, record := rawHostileFixture(t)
	cmd := exec.Command(plainGatewayBin(t), "--config", f.path)
	cmd.Env = gatewayEnv(authn.EnvKey + "=" + f.key)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("gateway stderr:\n%s", stderr)
		}
	})
	send := func(s string) {
		if _, err := io.WriteString(stdin, s+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	rd := bufio.NewReader(stdout)
	readID := func(id string) {
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				t.Fatalf("no answer %s: %v", id, err)
			}
			if strings.Contains(line, `"id":"`+id+`"`) {
				return
			}
		}
	}
	send(`{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"flood","version":"1"}}}`)
	readID("init")
	send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	send(`{"jsonrpc":"2.0","id":"list","method":"tools/list"}`)
	readID("list")
	send(`{"jsonrpc":"2.0","id":"lvl","method":"logging/setLevel","params":{"level":"debug"}}`)
	readID("lvl")
	before := rssKB(t, cmd.Process.Pid)
	// From here on the client reads nothing.
	const count = 100000
	send(`{"jsonrpc":"2.0","id":"flood","method":"tools/call","params":{"name":"raw__log","arguments":{"count":` + itoa(count) + `,"size":1024}}}`)
	// Memory that grows with the flood grows as much in its second half
	// as in its first; flat memory stops growing once the first messages
	// have warmed the heap.
	half, peak := before, before
	waitFor(t, 5*time.Minute, "the upstream to send its flood", func() bool {
		rec := strings.Join(records(t, record), "\n")
		rss := rssKB(t, cmd.Process.Pid)
		if !strings.Contains(rec, "# log sent "+itoa(count/2)) {
			half = max(half, rss)
		}
		peak = max(peak, rss)
		return strings.Contains(rec, "# log done")
	})
	peak = max(peak, rssKB(t, cmd.Process.Pid))
	t.Logf("gateway RSS during %d × 1 KiB log messages to a client that does not read: %d KiB before, %d KiB at the peak of the first half, %d KiB at the end", count, before, half, peak)
	if first, second := half-before, peak-half; second > first/2+8<<10 {
		t.Errorf("gateway RSS grew by %d KiB in the first half of the flood and %d KiB in the second: it grows with the flood", first, second)
	}
	if !strings.Contains(stderr.String(), "upstream notifications dropped") {
		t.Error("the drops were not logged")
	}
}

var plainBin struct {
	once sync.Once
	path string
	err  error
}

// plainGatewayBin is the gateway binary built without the race detector,
// whose shadow memory grows with the heap's address range rather than its
// live size and so hides what an RSS sample should show; without -race it
// is gatewayBin itself.
func plainGatewayBin(t *testing.T) string {
	t.Helper()
	if !raceEnabled {
		return gatewayBin
	}
	plainBin.once.Do(func() {
		plainBin.path = gatewayBin + "-plain"
		if out, err := exec.Command("go", "build", "-o", plainBin.path, ".").CombinedOutput(); err != nil {
			plainBin.err = fmt.Errorf("build gateway without -race: %v\n%s", err, out)
		}
	})
	if plainBin.err != nil {
		t.Fatal(plainBin.err)
	}
	return plainBin.path
}

// rssKB reads a process's resident set size from /proc.
func rssKB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}
