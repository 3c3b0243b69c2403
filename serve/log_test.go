package serve

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"secure-mcp-gateway/guard"
	"secure-mcp-gateway/proxy"
)

// TestCallLog: the log observer writes one debug line per request with its
// stages and verdicts, nothing at info level, and never the error text.
func TestCallLog(t *testing.T) {
	ev := &proxy.CallEvent{Method: "tools/call", Server: "s", Tool: "s__t", Outcome: proxy.OutcomeBlocked, Duration: 3 * time.Millisecond,
		Stages:   []proxy.StageTiming{{Name: proxy.StageInputGuard, Duration: time.Millisecond}},
		Verdicts: []guard.Verdict{{Violations: []guard.Violation{{Stage: "input", Detector: "secrets", Rule: "aws_access_key_id", Field: "arguments.cmd", Action: guard.ActionBlock}}}},
		Err:      "AKIA-what-the-client-saw"}
	for _, tt := range []struct {
		level zerolog.Level
		want  bool
	}{{zerolog.DebugLevel, true}, {zerolog.InfoLevel, false}} {
		var buf bytes.Buffer
		callLog{zerolog.New(&buf).Level(tt.level)}.ObserveCall(ev)
		if !tt.want {
			if buf.Len() != 0 {
				t.Errorf("level %s: logged %s", tt.level, buf.String())
			}
			continue
		}
		var line map[string]any
		if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
			t.Fatalf("%v: %s", err, buf.String())
		}
		if line["outcome"] != "blocked" || line["tool"] != "s__t" || line["message"] != "request" {
			t.Errorf("line = %v", line)
		}
		if ds, _ := line["detectors"].([]any); len(ds) != 1 || ds[0] != "input:secrets/aws_access_key_id@arguments.cmd:block" {
			t.Errorf("detectors = %v", line["detectors"])
		}
		if st, _ := line["stages"].(map[string]any); st[proxy.StageInputGuard] == nil {
			t.Errorf("stages = %v", line["stages"])
		}
		if bytes.Contains(buf.Bytes(), []byte("AKIA")) {
			t.Error("the line holds the error text")
		}
	}
}
