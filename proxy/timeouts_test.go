package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/internal/config"
)

// lateGuard promises prompt checks but answers "allowed" only once its
// context has expired: the verdict comes after the budget.
type lateGuard struct{}

func (lateGuard) PromptCheckBytes() int { return 1 << 10 }

func (lateGuard) FilterTools(_ context.Context, _ string, tools []*mcp.Tool) ([]*mcp.Tool, map[string]string) {
	return tools, nil
}

func (lateGuard) CheckCall(ctx context.Context, _, _ string, args json.RawMessage) (json.RawMessage, func(context.Context, *mcp.CallToolResult) (*mcp.CallToolResult, error), error) {
	<-ctx.Done()
	return args, nil, nil
}

// TestPromptGuardLateVerdictBlocks runs a check on the calling goroutine
// (small arguments, a guard that promises prompt checks): an "allowed" that
// arrives after guardrail_timeout still blocks, before the upstream.
func TestPromptGuardLateVerdictBlocks(t *testing.T) {
	tr := NewTimeoutTracker(BudgetsFromConfig(config.TimeoutSettings{Guardrail: 0.05}), nil)
	g := New(nil, noSessions{t}, &Options{Guard: lateGuard{}, Timeouts: tr})
	c := g.pipe.callRouted(context.Background(), route{server: "s", tool: "x"}, "s__x", json.RawMessage(`{"a":1}`), nil)
	res, oc, err := c.res, c.oc, c.err
	if err != nil || oc.outcome != OutcomeBlocked || oc.stage != "input" {
		t.Fatalf("outcome %+v, err %v", oc, err)
	}
	if txt := contentText(res); !res.IsError || !strings.Contains(txt, "guardrail_timeout") {
		t.Errorf("result %q", txt)
	}
}

func TestResultBytes(t *testing.T) {
	big := strings.Repeat("x", 100)
	for _, tc := range []struct {
		name string
		res  *mcp.CallToolResult
		over bool // over a 64-byte limit
	}{
		{"empty", &mcp.CallToolResult{}, false},
		{"small text", &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "hello"}}}, false},
		{"big text", &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: big}}}, true},
		{"big image", &mcp.CallToolResult{Content: []mcp.Content{&mcp.ImageContent{Data: []byte(big), MIMEType: "image/png"}}}, true},
		{"big embedded resource", &mcp.CallToolResult{Content: []mcp.Content{&mcp.EmbeddedResource{Resource: &mcp.ResourceContents{URI: "file:///a", Text: big}}}}, true},
		{"small structured", &mcp.CallToolResult{StructuredContent: map[string]any{"a": []any{"b", 1.0, true, nil}}}, false},
		{"big structured key", &mcp.CallToolResult{StructuredContent: map[string]any{big: 1.0}}, true},
		{"big nested structured", &mcp.CallToolResult{StructuredContent: map[string]any{"a": []any{map[string]any{"b": big}}}}, true},
		{"typed structured counts as over", &mcp.CallToolResult{StructuredContent: struct{ A string }{"x"}}, true},
		{"big meta", &mcp.CallToolResult{Meta: mcp.Meta{"k": big}}, true},
		{"big content _meta", &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "a", Meta: mcp.Meta{"k": big}}}}, true},
		{"big annotation", &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "a", Annotations: &mcp.Annotations{LastModified: big}}}}, true},
		{"big icon", &mcp.CallToolResult{Content: []mcp.Content{&mcp.ResourceLink{URI: "file:///a", Name: "a", Icons: []mcp.Icon{{Source: big}}}}}, true},
		{"big embedded _meta", &mcp.CallToolResult{Content: []mcp.Content{&mcp.EmbeddedResource{Resource: &mcp.ResourceContents{URI: "file:///a", Meta: mcp.Meta{"k": big}}}}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := resultBytes(tc.res, 64) > 64; got != tc.over {
				t.Errorf("resultBytes = %d; over 64 = %v, want %v", resultBytes(tc.res, 64), got, tc.over)
			}
		})
	}
}

// TestUndecodableQuotesNothing: a reply that fails to decode is reported
// without the decoder's quote of it; other errors pass unchanged.
func TestUndecodableQuotesNothing(t *testing.T) {
	var v struct{ Content []string }
	err := json.Unmarshal([]byte(`{"Content": "sk-EXAMPLE-secret"}`), &v)
	if err == nil {
		t.Fatal("no decode error")
	}
	got := undecodable(fmt.Errorf("calling %q: %w", "tools/call", err))
	if strings.Contains(got.Error(), "sk-EXAMPLE") || !strings.Contains(got.Error(), "does not decode") {
		t.Errorf("undecodable = %q", got)
	}
	other := errors.New("connection refused")
	if undecodable(other) != other {
		t.Error("an unrelated error was replaced")
	}
}
