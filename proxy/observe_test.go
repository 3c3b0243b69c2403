package proxy

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/guard"
	"secure-mcp-gateway/internal/config"
)

// blockGuard blocks the arguments of tool "bad" for a PII finding.
type blockGuard struct{}

func (blockGuard) FilterTools(_ context.Context, _ string, tools []*mcp.Tool) ([]*mcp.Tool, map[string]string) {
	return tools, nil
}

func (blockGuard) CheckCall(_ context.Context, server, tool string, args json.RawMessage) (json.RawMessage, func(context.Context, *mcp.CallToolResult) (*mcp.CallToolResult, error), error) {
	if tool == "bad" {
		return nil, nil, &guard.BlockedError{Server: server, Tool: tool, Stage: "input", Reasons: []string{"pii (email)"},
			Violations: []guard.Violation{{Stage: "input", Detector: guard.DetectorPII, Rule: "email", Action: guard.ActionBlock}}}
	}
	return args, nil, nil
}

// eventLog collects CallEvents.
type eventLog struct {
	mu  sync.Mutex
	evs []CallEvent
}

func (l *eventLog) ObserveCall(ev *CallEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evs = append(l.evs, *ev)
}

func TestObserverOneEventPerCall(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	principal := &authn.Principal{ProjectID: "p", UserID: "u", MCPConfigID: "c", MCPConfig: &config.MCPConfig{Servers: []*config.Server{{Name: "up"}}}}
	sessions := &memSessions{tools: []string{"good", "bad"}}
	t.Cleanup(sessions.close)
	var onCall []string
	log := &eventLog{}
	g := New(principal, sessions, &Options{Guard: blockGuard{}, Observers: []Observer{log},
		OnCall: func(server, tool, outcome string, _ time.Duration) {
			onCall = append(onCall, server+"/"+tool+"/"+outcome)
		}})
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

	tests := []struct {
		tool, server, outcome, detector string
		rpcErr                          bool
	}{
		{"up__good", "up", OutcomeOK, "", false},
		{"up__bad", "up", OutcomeBlocked, guard.DetectorPII, false},
		{"up__none", "", OutcomeUnknownTool, "", true},
	}
	for i, tt := range tests {
		_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tt.tool, Arguments: map[string]any{}})
		if (err != nil) != tt.rpcErr {
			t.Fatalf("%s: err %v", tt.tool, err)
		}
		log.mu.Lock()
		evs := append([]CallEvent(nil), log.evs...)
		log.mu.Unlock()
		if len(evs) != i+1 {
			t.Fatalf("after %s: %d events, want %d", tt.tool, len(evs), i+1)
		}
		ev := evs[i]
		if ev.Method != "tools/call" || ev.Tool != tt.tool || ev.Server != tt.server || ev.Outcome != tt.outcome ||
			ev.Project != "p" || ev.User != "u" || ev.MCPConfig != "c" || ev.ArgBytes == 0 {
			t.Errorf("%s: event %+v", tt.tool, ev)
		}
		if tt.detector != "" {
			if len(ev.Verdicts) != 1 || !ev.Verdicts[0].Blocked() || ev.Verdicts[0].Violations[0].Detector != tt.detector {
				t.Errorf("%s: verdicts %+v, want a block by %s", tt.tool, ev.Verdicts, tt.detector)
			}
		}
		if (ev.Outcome == OutcomeOK) != (ev.Err == "") || (ev.Outcome == OutcomeOK && ev.ResultBytes == 0) {
			t.Errorf("%s: err %q, result bytes %d", tt.tool, ev.Err, ev.ResultBytes)
		}
		if tt.outcome == OutcomeUnknownTool && !strings.Contains(ev.Err, "unknown tool") {
			t.Errorf("%s: err %q", tt.tool, ev.Err)
		}
	}
	want := []string{"up/up__good/ok", "up/up__bad/blocked", "/up__none/unknown_tool"}
	if strings.Join(onCall, " ") != strings.Join(want, " ") {
		t.Errorf("OnCall saw %v, want %v", onCall, want)
	}
}
