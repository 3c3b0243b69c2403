package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"secure-mcp-gateway/audit"
	"secure-mcp-gateway/audit/auditproxy"
	"secure-mcp-gateway/guard"
	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/proxy"
)

// writeAuditLog writes a closed audit log of a few calls to dir, through
// the proxy observer, and returns its one file.
func writeAuditLog(t *testing.T, dir string, key string) string {
	t.Helper()
	l, err := audit.New(audit.Options{Dir: dir, HMACKey: []byte(key)})
	if err != nil {
		t.Fatal(err)
	}
	obs := auditproxy.Observer(l)
	for i := range 6 {
		ev := &proxy.CallEvent{Method: "tools/call", Project: "p", User: "u", Server: "echo_server", Tool: fmt.Sprintf("echo%d", i), ArgBytes: 10, Outcome: "ok"}
		if i == 2 {
			ev.Server, ev.Tool, ev.Outcome = "fs", "read", "blocked"
			ev.Verdicts = []guard.Verdict{{Stage: "input", Violations: []guard.Violation{{Stage: "input", Detector: "pii", Action: guard.ActionBlock}}}}
		}
		obs.ObserveCall(ev)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	files, err := audit.ListFiles([]string{dir})
	if err != nil || len(files) != 1 {
		t.Fatalf("files %v, %v", files, err)
	}
	return files[0]
}

func runAudit(t *testing.T, key string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(gatewayBin, append([]string{"--config", filepath.Join(t.TempDir(), "none.json"), "audit"}, args...)...)
	cmd.Env = append(os.Environ(), config.AuditHMACKeyEnv+"="+key)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

func TestE2EAuditVerifyAndRead(t *testing.T) {
	dir := t.TempDir()
	file := writeAuditLog(t, dir, "")
	out, code := runAudit(t, "", "verify", dir)
	if code != 0 || !strings.Contains(out, "ok "+file+" (8 records, closed, chained)") {
		t.Fatalf("verify exit %d:\n%s", code, out)
	}
	out, code = runAudit(t, "", "query", "--kind", "block", "--json", dir)
	var r audit.Record
	if code != 0 || json.Unmarshal([]byte(strings.TrimSpace(out)), &r) != nil || r.Tool != "read" || r.Verdict != "block" {
		t.Fatalf("query exit %d:\n%s", code, out)
	}
	out, code = runAudit(t, "", "query", "--server", "echo_server", "--since", "1h", dir)
	if code != 0 || strings.Count(out, "echo_server") != 5 {
		t.Fatalf("query --server exit %d: want 5 rows:\n%s", code, out)
	}
	out, code = runAudit(t, "", "tail", "-n", "2", dir)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 || !strings.Contains(lines[1], `"kind":"close"`) {
		t.Fatalf("tail exit %d:\n%s", code, out)
	}
}

func TestE2EAuditTamperMatrix(t *testing.T) {
	for _, key := range []string{"", "audit-key"} {
		for _, tc := range audit.TamperCases() {
			t.Run(fmt.Sprintf("%s/hmac=%v", tc.Name, key != ""), func(t *testing.T) {
				dir := t.TempDir()
				file := writeAuditLog(t, dir, key)
				if _, code := runAudit(t, key, "verify", file); code != 0 {
					t.Fatalf("untouched file fails verify (exit %d)", code)
				}
				data, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				changed, err := tc.Apply(data)
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Equal(changed, data) {
					t.Fatal("tamper changed nothing")
				}
				if err := os.WriteFile(file, changed, 0o600); err != nil {
					t.Fatal(err)
				}
				out, code := runAudit(t, key, "verify", dir)
				want := fmt.Sprintf("FAIL %s:%d: %s:", file, tc.Line, tc.Kind)
				if tc.Line == 0 {
					want = ": " + tc.Kind + ":"
				}
				if code != 1 || !strings.Contains(out, want) || !strings.Contains(out, file) {
					t.Fatalf("verify exit %d, want 1 and %q:\n%s", code, want, out)
				}
			})
		}
	}
}

// TestE2EAuditRecordsRealCalls: a stdio gateway with the audit block on
// writes one record per call of a real client, a block names its detector,
// the file verifies as closed and chained once the client goes away, and the
// blocked secret appears nowhere in it.
func TestE2EAuditRecordsRealCalls(t *testing.T) {
	const secretArg = "AKIAIOSFODNN7EXAMPLE"
	s := exampleServer("echo_server", "echo", nil)
	s.InputGuardrailsPolicy = &config.Policy{Enabled: true, Block: []string{"secrets", "pii"}, AdditionalConfig: map[string]any{"pii_redaction": true}}
	f := newFixture(t, s)
	dir := t.TempDir()
	f.cfg.Audit = &config.Audit{Enabled: true, Path: dir}
	f.save(t)

	g := startGateway(t, f)
	if res := g.call(t, "echo_server__echo", map[string]any{"message": "hello"}); res.IsError {
		t.Fatalf("echo: %s", resultText(res))
	}
	if res := g.call(t, "echo_server__echo", map[string]any{"message": "key " + secretArg}); !res.IsError {
		t.Fatalf("a call with an AWS key was forwarded: %s", resultText(res))
	}
	if res := g.call(t, "echo_server__echo", map[string]any{"message": "mail alice@example.com"}); res.IsError {
		t.Fatalf("a call with an email to redact: %s", resultText(res))
	}
	if err := g.cs.Close(); err != nil {
		t.Logf("close: %v", err)
	}

	out, code := runAudit(t, "", "verify", dir)
	if code != 0 || !strings.Contains(out, "closed, chained") {
		t.Fatalf("verify exit %d:\n%s", code, out)
	}
	out, code = runAudit(t, "", "query", "--json", dir)
	if code != 0 {
		t.Fatalf("query exit %d:\n%s", code, out)
	}
	var calls, blocks, redactions []audit.Record
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r audit.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("query line %q: %v", line, err)
		}
		switch r.Kind {
		case audit.KindToolCall:
			calls = append(calls, r)
		case audit.KindBlock:
			blocks = append(blocks, r)
		case audit.KindRedaction:
			redactions = append(redactions, r)
		}
	}
	if len(calls) != 1 || calls[0].Tool != "echo_server__echo" || calls[0].Server != "echo_server" || calls[0].Outcome != proxy.OutcomeOK {
		t.Fatalf("tool_call records = %+v; want one ok call of echo_server__echo", calls)
	}
	if c := calls[0]; len(c.ArgSHA256) != 64 || len(c.ResultSHA256) != 64 || c.ArgBytes == 0 || c.ResultBytes == 0 {
		t.Errorf("tool_call record lacks argument/result hashes and sizes: %+v", c)
	}
	if len(blocks) != 1 || !slices.ContainsFunc(blocks[0].Detectors, func(d string) bool { return strings.Contains(d, "secrets") }) {
		t.Errorf("block records = %+v; want one naming the secrets detector", blocks)
	}
	if len(redactions) != 1 || !slices.Contains(redactions[0].Detectors, "input:pii/email:redact") || redactions[0].Verdict != "redact" {
		t.Errorf("redaction records = %+v; want one naming input:pii/email:redact", redactions)
	}
	files, err := audit.ListFiles([]string{dir})
	if err != nil || len(files) != 1 {
		t.Fatalf("audit files %v, %v", files, err)
	}
	raw, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(secretArg)) || bytes.Contains(raw, []byte(f.key)) || bytes.Contains(raw, []byte("alice@example.com")) {
		t.Errorf("the audit file holds the blocked secret or the gateway key:\n%s", raw)
	}
}
