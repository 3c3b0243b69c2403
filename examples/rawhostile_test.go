package examples

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRawHostile drives raw_hostile over pipes: a hostile error, a sampling
// request answered by the test, and the record of what it received.
func TestRawHostile(t *testing.T) {
	record := filepath.Join(t.TempDir(), "record.jsonl")
	t.Setenv(EnvRecordFile, record)
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- runRawHostile(t.Context(), inR, outW); outW.Close() }()
	lines := bufio.NewScanner(outR)
	send := func(s string) {
		t.Helper()
		if _, err := io.WriteString(inW, s+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	next := func() map[string]any {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("no line: %v", lines.Err())
		}
		var m map[string]any
		if err := json.Unmarshal(lines.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", lines.Text(), err)
		}
		return m
	}
	send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25"}}`)
	if m := next(); m["result"].(map[string]any)["instructions"] != RawInstructions {
		t.Errorf("initialize: %v", m)
	}
	send(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"fail"}}`)
	m := next()
	e, _ := m["error"].(map[string]any)
	if msg, _ := e["message"].(string); !strings.Contains(msg, RawSecret) || !strings.Contains(msg, RawInjection) {
		t.Errorf("fail: %v", m)
	}
	send(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"sample"}}`)
	req := next()
	if req["method"] != "sampling/createMessage" {
		t.Fatalf("want a sampling request, got %v", req)
	}
	b, _ := json.Marshal(req["id"])
	send(`{"jsonrpc":"2.0","id":` + string(b) + `,"result":{"role":"assistant","content":{"type":"text","text":"sunny"},"model":"m"}}`)
	if m := next(); m["id"] != 3.0 || m["result"] == nil {
		t.Errorf("sample: %v", m)
	}
	inW.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(got), `"sunny"`) || strings.Count(string(got), "\n") != 4 {
		t.Errorf("record:\n%s", got)
	}
}
