package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"secure-mcp-gateway/guard"
	"secure-mcp-gateway/scan"
)

// scanHome is a temporary home directory with MCP client configs.
type scanHome struct {
	home, workspace string
}

func newScanHome(t *testing.T) *scanHome {
	t.Helper()
	h := &scanHome{home: t.TempDir(), workspace: t.TempDir()}
	return h
}

// clientEntry is a client config entry that runs a bundled example.
func clientEntry(example string, env map[string]string) map[string]any {
	if env == nil {
		env = map[string]string{}
	}
	if raceEnabled {
		env["GORACE"] = "atexit_sleep_ms=0"
	}
	return map[string]any{"command": gatewayBin, "args": []string{"example-server", example}, "env": env}
}

// write writes an mcpServers config at rel under the home directory.
func (h *scanHome) write(t *testing.T, rel string, servers map[string]any) {
	t.Helper()
	p := filepath.Join(h.home, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(map[string]any{"mcpServers": servers})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// claudeDesktopPath is where Claude Desktop keeps its config, relative to
// the home directory (APPDATA is pointed inside the home on Windows).
func claudeDesktopPath() string {
	switch runtime.GOOS {
	case "darwin":
		return filepath.Join("Library", "Application Support", "Claude", "claude_desktop_config.json")
	case "windows":
		return filepath.Join("AppData", "Roaming", "Claude", "claude_desktop_config.json")
	}
	return filepath.Join(".config", "Claude", "claude_desktop_config.json")
}

// run runs `secure-mcp-gateway scan args...` with the home directory and
// no gateway config, and returns stdout, stderr and the exit code.
func (h *scanHome) run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(gatewayBin, append([]string{"--config", filepath.Join(h.home, "no-gateway-config.json"), "scan", "--workspace", h.workspace}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+h.home, "USERPROFILE="+h.home, "APPDATA="+filepath.Join(h.home, "AppData", "Roaming"), "XDG_CONFIG_HOME=")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run scan: %v", err)
	}
	return out.String(), errb.String(), code
}

// TestScanReportsHostileServers: a Claude Desktop config with a benign
// server and the tool_poisoning example, and a Cursor config with the
// schema_only_poisoning example; the scan names the hostile tools with
// rules and fields, nothing of the benign server, never the env secret,
// and exits 1.
func TestScanReportsHostileServers(t *testing.T) {
	t.Parallel()
	h := newScanHome(t)
	const secret = "sk-live-do-not-print-4f9a8b7c6d5e"
	h.write(t, claudeDesktopPath(), map[string]any{
		"echo":   clientEntry("echo", map[string]string{"API_KEY": secret}),
		"poison": clientEntry("tool_poisoning", nil),
	})
	h.write(t, filepath.Join(".cursor", "mcp.json"), map[string]any{"schema": clientEntry("schema_only_poisoning", nil)})

	out, stderr, code := h.run(t, "--json")
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s\nstdout:\n%s", code, stderr, out)
	}
	if strings.Contains(out+stderr, secret) {
		t.Fatal("the scan printed an env value")
	}
	var rep scan.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("decode report: %v\n%s", err, out)
	}
	if rep.Version != scan.SchemaVersion || len(rep.Servers) != 3 {
		t.Fatalf("version %d, %d servers, want %d and 3: %+v", rep.Version, len(rep.Servers), scan.SchemaVersion, rep.Servers)
	}
	for _, s := range rep.Servers {
		if s.Status != "ok" || s.Tools == 0 {
			t.Errorf("server %s/%s: status %q (%s), %d tools", s.Client, s.Name, s.Status, s.Error, s.Tools)
		}
	}
	byServer := map[string][]scan.Finding{}
	for _, f := range rep.Findings {
		byServer[f.Client+"/"+f.Server] = append(byServer[f.Client+"/"+f.Server], f)
		if f.Rule == "" || f.Field == "" || f.Severity == "" || f.Name == "" {
			t.Errorf("finding without rule, field, severity or tool: %+v", f)
		}
	}
	if fs := byServer["claude-desktop/echo"]; len(fs) > 0 {
		t.Errorf("benign echo server has findings: %+v", fs)
	}
	if !hasBlock(byServer["claude-desktop/poison"], "description") {
		t.Errorf("tool_poisoning example: no block finding in a description: %+v", byServer["claude-desktop/poison"])
	}
	if !hasBlock(byServer["cursor/schema"], "inputSchema.properties.") {
		t.Errorf("schema_only_poisoning example: no block finding in a property: %+v", byServer["cursor/schema"])
	}

	table, _, code := h.run(t)
	if code != 1 || !strings.Contains(table, "CLIENT") || !strings.Contains(table, "SEVERITY") || !strings.Contains(table, "poison") {
		t.Errorf("table run: exit %d, output:\n%s", code, table)
	}
}

func hasBlock(fs []scan.Finding, fieldPrefix string) bool {
	for _, f := range fs {
		if f.Severity == "block" && strings.HasPrefix(f.Field, fieldPrefix) {
			return true
		}
	}
	return false
}

// TestScanBenignOnlyExitsZero: only benign servers in Claude Desktop and
// Cursor: no findings, exit 0.
func TestScanBenignOnlyExitsZero(t *testing.T) {
	t.Parallel()
	h := newScanHome(t)
	h.write(t, claudeDesktopPath(), map[string]any{"echo": clientEntry("echo", nil)})
	h.write(t, filepath.Join(".cursor", "mcp.json"), map[string]any{"probe": clientEntry("probe", nil)})
	out, stderr, code := h.run(t)
	if code != 0 {
		t.Fatalf("exit %d, want 0; stderr:\n%s\nstdout:\n%s", code, stderr, out)
	}
	if !strings.Contains(out, "No findings.") || strings.Count(out, " ok ") < 2 {
		t.Errorf("output:\n%s", out)
	}
}

// TestScanUnstartableServer: a server whose command does not exist is
// reported with its error (env value masked) beside the others, and the
// scan exits 2.
func TestScanUnstartableServer(t *testing.T) {
	t.Parallel()
	h := newScanHome(t)
	const secret = "ghp_abcdefghijklmnopqrstuvwxyz0123456789"
	h.write(t, claudeDesktopPath(), map[string]any{
		"echo":   clientEntry("echo", nil),
		"broken": map[string]any{"command": filepath.Join(h.home, "no-such-server"), "env": map[string]string{"GITHUB_TOKEN": secret}},
	})
	out, stderr, code := h.run(t, "--json")
	if code != 2 {
		t.Fatalf("exit %d, want 2; stderr:\n%s\nstdout:\n%s", code, stderr, out)
	}
	if strings.Contains(out+stderr, secret) {
		t.Fatal("the scan printed an env value")
	}
	var rep scan.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	status := map[string]string{}
	for _, s := range rep.Servers {
		status[s.Name] = s.Status
	}
	if status["echo"] != "ok" || status["broken"] != "error" {
		t.Errorf("statuses %v, want echo ok and broken error", status)
	}
}

// TestScanGatewayConfigFile: --file with the gateway's own config scans
// its upstreams, and compares them with the pins beside it.
func TestScanGatewayConfigFile(t *testing.T) {
	t.Parallel()
	f := newFixture(t, exampleServer("echo", "echo", nil), exampleServer("mpma", "mpma", nil))
	h := newScanHome(t)
	out, stderr, code := h.run(t, "--json", "--file", f.path)
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s\nstdout:\n%s", code, stderr, out)
	}
	var rep scan.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, x := range rep.Findings {
		got[x.Server]++
		if x.Client != scan.ClientGateway {
			t.Errorf("finding of client %q, want %q", x.Client, scan.ClientGateway)
		}
	}
	if got["mpma"] == 0 || got["echo"] != 0 {
		t.Errorf("findings per server %v, want mpma only", got)
	}

	// A pin that differs from what echo lists now is reported.
	pins := `{"servers": {"echo": {"echo": {"sha256": "0000", "definition": {}, "pinned_at": "2026-01-01T00:00:00Z"}}}}`
	if err := os.WriteFile(filepath.Join(f.dir, guard.PinFileName), []byte(pins), 0o600); err != nil {
		t.Fatal(err)
	}
	out, stderr, code = h.run(t, "--json", "--file", f.path)
	if code != 1 {
		t.Fatalf("with pins: exit %d, want 1; stderr:\n%s", code, stderr)
	}
	rep = scan.Report{}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	changed := false
	for _, x := range rep.Findings {
		if x.Server == "echo" && x.Name == "echo" && x.Detector == "pin" && x.Rule == "definition_changed" {
			changed = true
		}
	}
	if !changed {
		t.Errorf("no pin/definition_changed finding for echo: %+v", rep.Findings)
	}
}

// TestScanFollowsGatewayEntry: a Cursor entry that runs the gateway with
// its own config is not spawned; the upstreams of that config are scanned.
func TestScanFollowsGatewayEntry(t *testing.T) {
	t.Parallel()
	f := newFixture(t, exampleServer("poison", "tool_poisoning", nil))
	h := newScanHome(t)
	h.write(t, filepath.Join(".cursor", "mcp.json"), map[string]any{
		"gw": map[string]any{"command": gatewayBin, "args": []string{"--config", f.path}, "env": map[string]string{"ENKRYPT_GATEWAY_KEY": f.key}},
	})
	out, stderr, code := h.run(t, "--json")
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s\nstdout:\n%s", code, stderr, out)
	}
	if strings.Contains(out+stderr, f.key) {
		t.Fatal("the scan printed the gateway key")
	}
	var rep scan.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	status := map[string]string{}
	for _, s := range rep.Servers {
		status[s.Client+"/"+s.Name] = s.Status
	}
	if status["cursor/gw"] != "gateway" || status["gateway/poison"] != "ok" {
		t.Errorf("servers %v, want cursor/gw gateway and gateway/poison ok", status)
	}
	if !hasBlock(rep.Findings, "description") {
		t.Errorf("no block finding for the gateway's upstream: %+v", rep.Findings)
	}
}
