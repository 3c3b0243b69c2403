package serve

import (
	"io"
	"net/http"
	"net/http/httptest"
	"secure-mcp-gateway/proxy"
	"strings"
	"testing"
	"time"
)

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
