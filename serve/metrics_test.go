package serve

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"secure-mcp-gateway/guard"
	"secure-mcp-gateway/proxy"
	"secure-mcp-gateway/upstream"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestMetricsStagesViolationsUpstream checks the series the dashboard
// draws besides the calls: stage latency, violations by detector, and
// upstream lifecycle events; and that a resource read is no tool call.
func TestMetricsStagesViolationsUpstream(t *testing.T) {
	m := NewMetrics()
	m.ObserveCall(&proxy.CallEvent{Method: "tools/call", Server: "s", Tool: "s__t", Outcome: proxy.OutcomeBlocked,
		Stages:   []proxy.StageTiming{{Name: "input_guard", Duration: time.Millisecond}},
		Verdicts: []guard.Verdict{{Violations: []guard.Violation{{Stage: "input", Detector: "secrets", Action: guard.ActionBlock}}}}})
	m.ObserveCall(&proxy.CallEvent{Method: "resources/read", Server: "s", Tool: "file:///x", Outcome: proxy.OutcomeOK})
	m.UpstreamEvent(upstream.Event{Server: "s", Kind: upstream.EventStarted})
	m.UpstreamEvent(upstream.Event{Server: "s", Kind: upstream.EventExited})
	text := scrape(t, m)
	for _, want := range []string{
		`smg_stage_duration_seconds_count{stage="input_guard"} 1`,
		`smg_guard_violations_total{action="block",detector="secrets",stage="input"} 1`,
		`smg_upstream_events_total{event="started",server="s"} 1`,
		`smg_upstream_events_total{event="exited",server="s"} 1`,
		`smg_tool_calls_total{outcome="blocked",server="s",tool="s__t"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "file:///x") {
		t.Error("a resource read became a tool-call series")
	}
}

// TestMetricsObserveCall checks that calls reported through the OnCall
// adapter appear on /metrics with the documented series and labels, and
// that a tool name on an unknown server is not a label value.
func TestMetricsObserveCall(t *testing.T) {
	tests := []struct {
		name, server, tool, outcome string
		want, absent                string
	}{
		{"known server", "echo", "echo", "ok",
			`smg_tool_calls_total{outcome="ok",server="echo",tool="echo"} 1`, ""},
		{"unknown name", "", "made_up_secret", "unavailable",
			`smg_tool_calls_total{outcome="unavailable",server="",tool=""} 1`, "made_up_secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMetrics()
			m.ObserveCall(&proxy.CallEvent{Method: "tools/call", Server: tt.server, Tool: tt.tool, Outcome: tt.outcome, Duration: 3 * time.Millisecond})
			srv := httptest.NewServer(m.Handler())
			defer srv.Close()
			resp, err := http.Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			text := string(b)
			if !strings.Contains(text, tt.want) {
				t.Errorf("/metrics lacks %q:\n%s", tt.want, text)
			}
			if !strings.Contains(text, `smg_tool_call_duration_seconds_count{server="`+tt.server+`"} 1`) {
				t.Errorf("/metrics lacks the call's latency sample:\n%s", text)
			}
			if tt.absent != "" && strings.Contains(text, tt.absent) {
				t.Errorf("/metrics carries %q", tt.absent)
			}
		})
	}
}
