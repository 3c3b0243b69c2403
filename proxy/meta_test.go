package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/internal/config"
)

func TestBudgetsLevel(t *testing.T) {
	b := BudgetsFromConfig(config.TimeoutSettings{ToolExecution: 10})
	for _, tc := range []struct {
		elapsed time.Duration
		want    string
	}{
		{time.Second, LevelNormal}, {8 * time.Second, LevelWarn}, {10 * time.Second, LevelTimeout}, {12 * time.Second, LevelFail},
	} {
		if got := b.Level(KindToolExecution, tc.elapsed); got != tc.want {
			t.Errorf("Level(%s) = %s, want %s", tc.elapsed, got, tc.want)
		}
	}
	if got := b.Budget("unknown"); got != config.DefaultTimeout {
		t.Errorf("unknown kind budget = %s", got)
	}
}

// blockingGuard gives no verdict until released, ignoring its context as a
// local scanner would.
type blockingGuard struct{ release chan struct{} }

func (blockingGuard) FilterTools(_ context.Context, _ string, tools []*mcp.Tool) ([]*mcp.Tool, map[string]string) {
	return tools, nil
}

func (b blockingGuard) CheckCall(context.Context, string, string, json.RawMessage) (json.RawMessage, func(context.Context, *mcp.CallToolResult) (*mcp.CallToolResult, error), error) {
	<-b.release // ignores its context, as a local scanner would
	return nil, nil, errors.New("late")
}

// noSessions fails the test if the call reaches an upstream.
type noSessions struct{ t *testing.T }

func (n noSessions) Session(context.Context, string) (*mcp.ClientSession, error) {
	n.t.Error("the upstream was reached without a guardrail verdict")
	return nil, errors.New("unreachable")
}

func TestGuardrailTimeoutBlocksBeforeUpstream(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	tr := NewTimeoutTracker(BudgetsFromConfig(config.TimeoutSettings{Guardrail: 0.05}), nil)
	g := New(nil, noSessions{t}, &Options{Guard: blockingGuard{release}, Timeouts: tr})
	c := g.pipe.callRouted(context.Background(), route{server: "s", tool: "x"}, "s__x", json.RawMessage(`{}`), nil)
	res, oc, err := c.res, c.oc, c.err
	if err != nil || oc.outcome != OutcomeBlocked || oc.stage != "input" {
		t.Fatalf("outcome %+v, err %v", oc, err)
	}
	if txt := contentText(res); !res.IsError || !strings.Contains(txt, "guardrail_timeout") {
		t.Errorf("result %q", txt)
	}
	m, active := tr.Metrics()
	// The level is timeout, or fail when a loaded machine wakes the call
	// past 1.2 times its budget; either way one escalation, never less.
	if m.TimeoutOperations != 1 || m.EscalationCounts[LevelTimeout]+m.EscalationCounts[LevelFail] != 1 || m.OperationsByKind[KindGuardrail] != 1 || len(active) != 0 {
		t.Errorf("metrics %+v, active %v", m, active)
	}
	r := blockedCall(oc, map[string]any{})
	if r["status"] != "blocked_input" || r["code"] != CodeGuardTimeout {
		t.Errorf("blocked call %v", r)
	}
}

func TestParseToolCallsAliases(t *testing.T) {
	calls, err := parseToolCalls(json.RawMessage(`[{"function_name":"a","tool_args":{"x":1}},{"function_id":"b","params":"{\"y\":2}"},{"name":"c"},{"args":{}},{"name":"d","input":[1]}]`))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ name, args, err string }{{"a", `{"x":1}`, ""}, {"b", `{"y":2}`, ""}, {"c", `{}`, ""}, {"", `{}`, "names no tool"}, {"d", `[1]`, "JSON object"}}
	for i, w := range want {
		c := calls[i]
		if c.name != w.name || string(c.args) != w.args || !strings.Contains(c.err, w.err) || (w.err == "") != (c.err == "") {
			t.Errorf("call %d = %+v, want %+v", i, c, w)
		}
	}
	if _, err := parseToolCalls(json.RawMessage(`{"name":"a"}`)); err == nil {
		t.Error("a non-list tool_calls was accepted")
	}
}

func FuzzParseToolCalls(f *testing.F) {
	f.Add([]byte(`[{"name":"a","args":{}}]`))
	f.Add([]byte(`"[{\"tool\":\"b\",\"arguments\":\"{}\"}]"`))
	f.Fuzz(func(t *testing.T, b []byte) {
		calls, err := parseToolCalls(b)
		if err != nil {
			return
		}
		for _, c := range calls {
			if c.err == "" && (c.name == "" || !json.Valid(c.args)) {
				t.Fatalf("usable call without a name or with invalid args: %+v", c)
			}
		}
	})
}

func TestSafeServerEntryMasksSecrets(t *testing.T) {
	s := &config.Server{Name: "s", Config: config.ServerConfig{Command: "x", Args: []string{"--api-key", "A1", "--token=B2", "plain"},
		Env: map[string]string{"K": "C3"}}, OAuth: &config.OAuthConfig{ClientSecret: "D4"}}
	b, _ := json.Marshal(safeServerEntry(s))
	for _, leak := range []string{"A1", "B2", "C3", "D4"} {
		if strings.Contains(string(b), leak) {
			t.Errorf("%s leaked: %s", leak, b)
		}
	}
	if !strings.Contains(string(b), "plain") {
		t.Errorf("ordinary argument lost: %s", b)
	}
	if got := safeURL("https://u:p@h/x?k=v#f"); strings.Contains(got, "p@") || strings.Contains(got, "k=v") {
		t.Errorf("safeURL = %s", got)
	}
}
