package auditproxy

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"secure-mcp-gateway/audit"
	"secure-mcp-gateway/guard"
	"secure-mcp-gateway/proxy"
)

const canary = "CANARY-audit-secret-4c1d"

func TestAuditObserverRecords(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name      string
		ev        proxy.CallEvent
		kind      string
		verdict   string
		detectors []string
	}{
		{"allowed", proxy.CallEvent{Method: "tools/call", Server: "echo", Tool: "echo", ArgBytes: 12, ResultBytes: 30, Outcome: "ok"},
			audit.KindToolCall, "allow", nil},
		{"blocked", proxy.CallEvent{Method: "tools/call", Server: "fs", Tool: "read", Outcome: "blocked", Err: "blocked: " + canary,
			Verdicts: []guard.Verdict{{Stage: "input", Violations: []guard.Violation{{Stage: "input", Detector: "pii", Rule: "email", Field: "arguments.to", Action: guard.ActionBlock}}}}},
			audit.KindBlock, "block", []string{"input:pii/email:block"}},
		{"redacted", proxy.CallEvent{Method: "tools/call", Server: "fs", Tool: "read", Outcome: "ok",
			Verdicts: []guard.Verdict{{Stage: "output", Violations: []guard.Violation{{Stage: "output", Detector: "secrets", Action: guard.ActionRedact}, {Stage: "output", Detector: "toxicity", Action: guard.ActionWarn}}}}},
			audit.KindRedaction, "redact", []string{"output:secrets:redact", "output:toxicity:warn"}},
	}
	dir := t.TempDir()
	l, err := audit.New(audit.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	obs := Observer(l)
	PinChanged(l)(guard.PinChange{Server: "wx", Tool: "get_weather", Before: "aa", After: "bb"})
	for _, tt := range tests {
		tt.ev.Project, tt.ev.User, tt.ev.Start = "proj", "user", start
		r := Record(&tt.ev)
		if r.Kind != tt.kind || r.Verdict != tt.verdict || !slices.Equal(r.Detectors, tt.detectors) ||
			r.Project != "proj" || r.Server != tt.ev.Server || r.ArgBytes != tt.ev.ArgBytes || !r.Time.Equal(start) {
			t.Errorf("%s: record %+v", tt.name, r)
		}
		obs.ObserveCall(&tt.ev)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := audit.ListFiles([]string{dir})
	var kinds []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), canary) {
			t.Fatalf("the canary secret reached the audit file:\n%s", b)
		}
	}
	audit.ReadRecords(files, func(_ string, r audit.Record) bool {
		kinds = append(kinds, r.Kind)
		if r.Kind == audit.KindPinChange && (r.Server != "wx" || r.Tool != "get_weather" || r.BeforeSHA256 != "aa" || r.AfterSHA256 != "bb") {
			t.Errorf("pin change record %+v", r)
		}
		return true
	})
	want := []string{audit.KindGenesis, audit.KindPinChange, audit.KindToolCall, audit.KindBlock, audit.KindRedaction, audit.KindClose}
	if !slices.Equal(kinds, want) {
		t.Fatalf("kinds %v, want %v", kinds, want)
	}
}

func BenchmarkAuditObserveCall(b *testing.B) {
	l, err := audit.New(audit.Options{Dir: b.TempDir(), QueueSize: 1 << 16})
	if err != nil {
		b.Fatal(err)
	}
	obs := Observer(l)
	ev := &proxy.CallEvent{Method: "tools/call", Project: "p", User: "u", Server: "echo", Tool: "echo", ArgBytes: 12, ResultBytes: 40, Outcome: "ok",
		Verdicts: []guard.Verdict{{Stage: "input"}, {Stage: "output"}}}
	b.ReportAllocs()
	for b.Loop() {
		obs.ObserveCall(ev)
	}
	b.StopTimer()
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(l.Dropped()), "dropped")
}
