package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"secure-mcp-gateway/examples"
)

// The security case catalogue (docs/SECURITY.md), one TestCaseNN per row.
// Rows whose scenario an earlier end-to-end test already drives call it, so
// `go test -run Case` lists the whole catalogue.

// response waits for the response with id and returns it.
func (c *rawClient) response(t *testing.T, id any) map[string]any {
	t.Helper()
	i := c.waitID(t, id)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.msgs[i]
}

// errorCode returns the JSON-RPC error code of a response, or 0.
func errorCode(m map[string]any) float64 {
	e, _ := m["error"].(map[string]any)
	code, _ := e["code"].(float64)
	return code
}

// recorderFixture is a config with two recorder servers, a and b, each
// storing the arguments it receives in its own file.
func recorderFixture(t *testing.T) (f *fixture, recA, recB string) {
	t.Helper()
	dir := t.TempDir()
	recA, recB = filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl")
	f = newFixture(t,
		exampleServer("a", "recorder", map[string]string{examples.EnvRecordFile: recA}),
		exampleServer("b", "recorder", map[string]string{examples.EnvRecordFile: recB}))
	return f, recA, recB
}

func records(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// pingOK checks the gateway still answers after a bad line.
func (c *rawClient) pingOK(t *testing.T, id string) {
	t.Helper()
	c.send(t, `{"jsonrpc":"2.0","id":"`+id+`","method":"ping"}`)
	if m := c.response(t, id); m["error"] != nil {
		t.Fatalf("ping after a bad line: %v", m)
	}
}

func TestCase05NonJSONLine(t *testing.T) {
	c := startRaw(t, newFixture(t, exampleServer("echo_server", "echo", nil)))
	c.send(t, `this is not JSON {`)
	c.mu.Lock()
	n := len(c.msgs)
	c.mu.Unlock()
	c.pingOK(t, "after")
	c.mu.Lock()
	defer c.mu.Unlock()
	var parseErr bool
	for _, m := range c.msgs[n-1:] {
		if errorCode(m) == -32700 && m["id"] == nil {
			parseErr = true
		}
	}
	if !parseErr {
		t.Errorf("no -32700 with id null in %v", c.msgs)
	}
}

func TestCase06InvalidJSONRPC(t *testing.T) {
	f, recA, _ := recorderFixture(t)
	c := startRaw(t, f)
	for _, tc := range []struct{ line, id string }{
		{`{"id":"nover","method":"tools/call","params":{"name":"a__store","arguments":{"text":"x"}}}`, "nover"},
		{`{"jsonrpc":"2.0","id":"badm","method":7}`, "badm"},
	} {
		c.send(t, tc.line)
		if m := c.response(t, tc.id); errorCode(m) != -32600 {
			t.Errorf("%s: response %v, want -32600", tc.line, m)
		}
	}
	for _, line := range []string{
		`{"jsonrpc":"2.0","id":{"x":1},"method":"tools/call","params":{"name":"a__store","arguments":{"text":"x"}}}`,
		`{"jsonrpc":"2.0","id":true,"method":"tools/call","params":{"name":"a__store","arguments":{"text":"x"}}}`,
	} {
		c.send(t, line)
	}
	c.pingOK(t, "after")
	c.mu.Lock()
	var nullErrors int
	for _, m := range c.msgs {
		if errorCode(m) == -32600 && m["id"] == nil {
			nullErrors++
		}
	}
	c.mu.Unlock()
	if nullErrors != 2 {
		t.Errorf("%d -32600 answers with id null for object and bool ids, want 2", nullErrors)
	}
	if r := records(t, recA); len(r) != 0 {
		t.Errorf("the upstream was contacted: %v", r)
	}
}

func TestCase07BatchRefused(t *testing.T) {
	f, recA, _ := recorderFixture(t)
	c := startRaw(t, f)
	c.send(t, `[{"jsonrpc":"2.0","id":"b1","method":"tools/call","params":{"name":"a__store","arguments":{"text":"x"}}},{"jsonrpc":"2.0","id":"b2","method":"ping"}]`)
	c.pingOK(t, "after")
	c.mu.Lock()
	var refused bool
	for _, m := range c.msgs {
		if m["id"] == "b1" || m["id"] == "b2" {
			t.Errorf("a batch member was answered: %v", m)
		}
		if errorCode(m) == -32600 && m["id"] == nil {
			refused = true
		}
	}
	c.mu.Unlock()
	if !refused {
		t.Error("the batch got no -32600")
	}
	if r := records(t, recA); len(r) != 0 {
		t.Errorf("a batch member was forwarded: %v", r)
	}
}

func TestCase08CaseVariantAndDuplicateKeys(t *testing.T) {
	f, recA, recB := recorderFixture(t)
	c := startRaw(t, f)
	c.send(t, `{"jsonrpc":"2.0","id":"list","method":"tools/list"}`)
	c.response(t, "list")
	// Case variants: "name" is case-sensitive; "Name" is an unknown field.
	c.send(t, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a__store","Name":"b__store","arguments":{"text":"variant"}}}`)
	if m := c.response(t, 1.0); m["error"] != nil {
		t.Fatalf("case-variant call: %v", m)
	}
	// Duplicate keys: refused whole, whichever value a parser would keep.
	c.send(t, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"a__store","name":"b__store","arguments":{"text":"dup"}}}`)
	if m := c.response(t, 2.0); errorCode(m) != -32600 {
		t.Errorf("duplicate name: %v, want -32600", m)
	}
	c.send(t, `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"a__store","arguments":{"text":"dup-arg","text":"other"}}}`)
	if m := c.response(t, 3.0); errorCode(m) != -32600 {
		t.Errorf("duplicate argument: %v, want -32600", m)
	}
	if r := records(t, recA); len(r) != 1 || !strings.Contains(r[0], "variant") {
		t.Errorf("a received %v, want only the case-variant call", r)
	}
	if r := records(t, recB); len(r) != 0 {
		t.Errorf("b received %v, want nothing", r)
	}
}

func TestCase09InvalidUTF8AndLoneSurrogate(t *testing.T) {
	f, recA, _ := recorderFixture(t)
	c := startRaw(t, f)
	c.send(t, `{"jsonrpc":"2.0","id":"list","method":"tools/list"}`)
	c.response(t, "list")
	c.send(t, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a__store","arguments":{"text":"x\ud800y"}}}`)
	c.send(t, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"a__store\",\"arguments\":{\"text\":\"x\xffy\"}}}")
	c.send(t, `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"a__store","arguments":{"text":"ok \ud83d\ude00"}}}`)
	for _, id := range []float64{1, 2} {
		if m := c.response(t, id); errorCode(m) != -32700 {
			t.Errorf("id %v: %v, want -32700", id, m)
		}
	}
	if m := c.response(t, 3.0); m["error"] != nil {
		t.Errorf("a valid surrogate pair was refused: %v", m)
	}
	r := records(t, recA)
	if len(r) != 1 {
		t.Fatalf("upstream received %v, want only the valid call", r)
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(r[0]), &got); err != nil || got["text"] != "ok \U0001F600" {
		t.Errorf("upstream received %q", r[0])
	}
}

func TestCase10OversizedMessage(t *testing.T) {
	f, recA, _ := recorderFixture(t)
	c := startRaw(t, f)
	big := `{"jsonrpc":"2.0","id":"big","method":"tools/call","params":{"name":"a__store","arguments":{"text":"` + strings.Repeat("a", 17<<20) + `"}}}`
	c.send(t, big)
	c.pingOK(t, "after")
	c.mu.Lock()
	var refused bool
	for _, m := range c.msgs {
		if errorCode(m) == -32600 && m["id"] == nil {
			refused = true
		}
	}
	c.mu.Unlock()
	if !refused {
		t.Error("no -32600 for the oversized message")
	}
	if r := records(t, recA); len(r) != 0 {
		t.Error("the oversized message reached the upstream")
	}
}

func TestCase11DeepNesting(t *testing.T) {
	c := startRaw(t, newFixture(t, exampleServer("echo_server", "echo", nil)))
	c.send(t, `{"jsonrpc":"2.0","id":"deep","method":"tools/call","params":{"name":"echo_server__echo","arguments":{"message":`+strings.Repeat("[", 100_000)+strings.Repeat("]", 100_000)+`}}}`)
	if m := c.response(t, "deep"); errorCode(m) != -32600 {
		t.Errorf("deep nesting: %v, want -32600", m)
	}
	var b strings.Builder
	b.WriteString(`{"jsonrpc":"2.0","id":"wide","method":"tools/call","params":{"name":"echo_server__echo","arguments":{"message":"m"`)
	for i := range 1_000_000 {
		b.WriteString(`,"k` + itoa(i) + `":0`)
	}
	b.WriteString(`}}}`)
	c.send(t, b.String())
	if m := c.response(t, "wide"); errorCode(m) != -32600 {
		t.Errorf("1M-key object: %v, want -32600", m)
	}
	c.pingOK(t, "after")
}

func TestCase12Framing(t *testing.T) {
	c := startRaw(t, newFixture(t, exampleServer("echo_server", "echo", nil)))
	call := func(id string) string {
		return `{"jsonrpc":"2.0","id":"` + id + `","method":"tools/call","params":{"name":"echo_server__echo","arguments":{"message":"same"}}}`
	}
	// One message in 1-byte writes.
	for _, b := range []byte(call("bytes") + "\n") {
		if _, err := c.stdin.Write([]byte{b}); err != nil {
			t.Fatal(err)
		}
	}
	// Two messages in one write, CRLF, trailing spaces.
	if _, err := c.stdin.Write([]byte(call("two1") + "\n" + call("two2") + "\r\n" + call("spaces") + "   \n")); err != nil {
		t.Fatal(err)
	}
	var want any
	for i, id := range []string{"bytes", "two1", "two2", "spaces"} {
		m := c.response(t, id)
		if i == 0 {
			want = m["result"]
			continue
		}
		if got, _ := json.Marshal(m["result"]); string(got) != mustJSON(want) {
			t.Errorf("%s: result %s, want %s", id, got, mustJSON(want))
		}
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestCase13UnknownMethod(t *testing.T) {
	c := startRaw(t, newFixture(t, exampleServer("echo_server", "echo", nil)))
	c.send(t, `{"jsonrpc":"2.0","method":"notifications/no_such_thing"}`)
	c.send(t, `{"jsonrpc":"2.0","id":"u","method":"no/such/method"}`)
	if m := c.response(t, "u"); errorCode(m) != -32601 {
		t.Errorf("unknown method: %v, want -32601", m)
	}
	c.pingOK(t, "after")
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.msgs {
		if m["id"] == nil && m["error"] != nil {
			t.Errorf("the unknown notification was answered: %v", m)
		}
	}
}

// TestCase14IDHandling: numeric 1 and string "1" are different ids. Two
// overlapping calls with them, to two probes that answer with their own
// label, each get exactly one answer, and it is their own server's: an
// answer delivered to the other id would carry the other label.
func TestCase14IDHandling(t *testing.T) {
	f := newFixture(t, exampleServer("p1", "probe", map[string]string{examples.ProbeLabelEnv: "from-p1"}),
		exampleServer("p2", "probe", map[string]string{examples.ProbeLabelEnv: "from-p2"}))
	c := startRaw(t, f)
	c.send(t, `{"jsonrpc":"2.0","id":"list","method":"tools/list"}`)
	c.response(t, "list")
	// Both upstreams see their own id spaces: the gateway's request to
	// each may well carry the same upstream id.
	c.send(t, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"p1__sleep","arguments":{"ms":200}}}`)
	c.send(t, `{"jsonrpc":"2.0","id":"1","method":"tools/call","params":{"name":"p2__sleep","arguments":{"ms":100}}}`)
	for id, want := range map[any]string{1.0: "slept (from-p1)", "1": "slept (from-p2)"} {
		var res struct {
			Content []struct{ Text string } `json:"content"`
		}
		b, _ := json.Marshal(c.response(t, id)["result"])
		if err := json.Unmarshal(b, &res); err != nil || len(res.Content) != 1 || res.Content[0].Text != want {
			t.Errorf("answer to id %#v = %s, want the text %q", id, b, want)
		}
	}
	c.pingOK(t, "after")
	c.mu.Lock()
	defer c.mu.Unlock()
	count := map[string]int{}
	for _, m := range c.msgs {
		if m["method"] == nil && m["id"] != nil {
			b, _ := json.Marshal(m["id"])
			count[string(b)]++
		}
	}
	if count["1"] != 1 || count[`"1"`] != 1 {
		t.Errorf("responses per id = %v, want exactly one for 1 and one for \"1\"", count)
	}
}

// waitGone waits until pid has exited.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	waitFor(t, 10*time.Second, "process "+itoa(pid)+" to exit", func() bool { return !alive(pid) })
}

// TestCase14ReusedInFlightID: a client that reuses the id of a request still
// in flight gets exactly one answer for that id — the first request's — and
// the second request is never executed. (The go-sdk drops the duplicate
// without a response rather than answer with an id the client would take for
// the first request's; docs/SECURITY.md row 14.)
func TestCase14ReusedInFlightID(t *testing.T) {
	f := newFixture(t, exampleServer("p", "probe", nil), exampleServer("echo_server", "echo", nil))
	c := startRaw(t, f)
	c.send(t, `{"jsonrpc":"2.0","id":"list","method":"tools/list"}`)
	c.response(t, "list")
	c.send(t, `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"p__sleep","arguments":{"ms":300}}}`)
	c.send(t, `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"echo_server__echo","arguments":{"message":"second"}}}`)
	c.send(t, `{"jsonrpc":"2.0","id":"done","method":"tools/call","params":{"name":"p__sleep","arguments":{"ms":400}}}`)
	c.response(t, "done") // after the id-9 answer has had time to arrive
	c.mu.Lock()
	defer c.mu.Unlock()
	var answers []string
	for _, m := range c.msgs {
		if s := fmt.Sprint(m["result"]); strings.Contains(s, "text:second") {
			t.Errorf("the request with the reused id was executed: %v", m)
		}
		if m["id"] == 9.0 {
			answers = append(answers, fmt.Sprint(m["result"]))
		}
	}
	if len(answers) != 1 || !strings.Contains(answers[0], "slept") {
		t.Errorf("answers with id 9 = %q, want exactly the first request's", answers)
	}
}
