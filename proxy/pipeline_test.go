package proxy

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/internal/config"
)

// stageNames returns the names of ev's stages, joined by spaces.
func stageNames(ev CallEvent) string {
	var names []string
	for _, s := range ev.Stages {
		if s.Duration < 0 {
			names = append(names, s.Name+"(negative)")
			continue
		}
		names = append(names, s.Name)
	}
	return strings.Join(names, " ")
}

// TestPipelineStages: every request's CallEvent names the pipeline stages
// it went through, in order: a forwarded tool call all of them, a call the
// input guard blocks none after it, an unknown tool only authorise; a
// resources/read and a prompts/get are events of their own method.
func TestPipelineStages(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	principal := &authn.Principal{MCPConfig: &config.MCPConfig{Servers: []*config.Server{{Name: "up"}}}}
	sessions := &memSessions{tools: []string{"good", "bad"}, setup: func(s *mcp.Server) {
		s.AddResource(&mcp.Resource{URI: "mem://r", Name: "r"}, func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: "hello"}}}, nil
		})
		s.AddPrompt(&mcp.Prompt{Name: "p"}, func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: "hi"}}}}, nil
		})
	}}
	t.Cleanup(sessions.close)
	log := &eventLog{}
	g := New(principal, sessions, &Options{Guard: blockGuard{}, Observers: []Observer{log}})
	ct, st := mcp.NewInMemoryTransports()
	ss, err := g.Server().Connect(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "client", Version: "1"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { cs.Close(); ss.Wait() }()

	all := strings.Join([]string{StageAuthorise, StageDenyPin, StageInputGuard, StageForward, StageOutputGuard}, " ")
	tests := []struct {
		name                          string
		do                            func() error
		method, server, tool, outcome string
		stages                        string
	}{
		{"forwarded", func() error {
			_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "up__good", Arguments: map[string]any{}})
			return err
		}, "tools/call", "up", "up__good", OutcomeOK, all},
		{"blocked at the input guard", func() error {
			_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "up__bad", Arguments: map[string]any{}})
			return err
		}, "tools/call", "up", "up__bad", OutcomeBlocked, strings.Join([]string{StageAuthorise, StageDenyPin, StageInputGuard}, " ")},
		{"unknown tool", func() error {
			if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "up__none", Arguments: map[string]any{}}); err == nil {
				t.Error("an unknown tool was called")
			}
			return nil
		}, "tools/call", "", "up__none", OutcomeUnknownTool, StageAuthorise},
		{"resource read", func() error {
			_, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "mem://r"})
			return err
		}, "resources/read", "up", "mem://r", OutcomeOK, strings.Join([]string{StageAuthorise, StageInputGuard, StageForward}, " ")},
		{"unknown resource", func() error {
			if _, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "mem://none"}); err == nil {
				t.Error("an unknown resource was read")
			}
			return nil
		}, "resources/read", "", "mem://none", OutcomeUnknownTool, StageAuthorise},
		{"prompt get", func() error {
			_, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "up__p"})
			return err
		}, "prompts/get", "up", "up__p", OutcomeOK, strings.Join([]string{StageAuthorise, StageForward}, " ")},
	}
	for i, tt := range tests {
		if err := tt.do(); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		log.mu.Lock()
		evs := append([]CallEvent(nil), log.evs...)
		log.mu.Unlock()
		if len(evs) != i+1 {
			t.Fatalf("after %s: %d events, want %d", tt.name, len(evs), i+1)
		}
		ev := evs[i]
		if ev.Method != tt.method || ev.Server != tt.server || ev.Tool != tt.tool || ev.Outcome != tt.outcome {
			t.Errorf("%s: event %s %q %q %s, want %s %q %q %s", tt.name, ev.Method, ev.Server, ev.Tool, ev.Outcome, tt.method, tt.server, tt.tool, tt.outcome)
		}
		if got := stageNames(ev); got != tt.stages {
			t.Errorf("%s: stages %q, want %q", tt.name, got, tt.stages)
		}
		if tt.outcome == OutcomeOK && ev.ResultBytes == 0 {
			t.Errorf("%s: no result size", tt.name)
		}
	}
}
