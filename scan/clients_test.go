package scan

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestConfigFormats reads each client's config format.
func TestConfigFormats(t *testing.T) {
	home, ws := t.TempDir(), t.TempDir()
	p := Paths{Home: home, ConfigDir: filepath.Join(home, "cfg"), Workspace: ws}
	writeFile(t, filepath.Join(home, "cfg", "Claude", "claude_desktop_config.json"), `{"mcpServers":{"fs":{"command":"npx","args":["-y","@modelcontextprotocol/server-filesystem"],"env":{"K":"v"}}}}`)
	writeFile(t, filepath.Join(ws, ".vscode", "mcp.json"), `{
  // VS Code allows comments and trailing commas
  "servers": {
    "gh": {"type": "http", "url": "https://user:pw@api.example.com/mcp?token=abc", "headers": {"Authorization": "Bearer x"},},
  },
}`)
	writeFile(t, filepath.Join(home, ".claude.json"), `{"mcpServers":{"top":{"command":"a"}},"projects":{"/src/app":{"mcpServers":{"local":{"command":"b"}}}}}`)
	writeFile(t, filepath.Join(home, ".codeium", "windsurf", "mcp_config.json"), `{"mcpServers":{"remote":{"serverUrl":"https://w.example/mcp"}}}`)
	writeFile(t, filepath.Join(home, ".cursor", "mcp.json"), `{"mcpServers":{"gw":{"command":"/usr/local/bin/secure-mcp-gateway","env":{"ENKRYPT_GATEWAY_KEY":"k"}}}}`)
	writeFile(t, filepath.Join(ws, ".mcp.json"), `not json`)

	files, err := ConfigFiles(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ Client, Name, Target string }
	var got []row
	var gateway []string
	var readErrs int
	for _, f := range files {
		ss, err := f.Servers()
		var re *ReadError
		if errors.As(err, &re) {
			readErrs++
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range ss {
			got = append(got, row{s.Client, s.Name, s.Target()})
			if s.ViaGateway {
				gateway = append(gateway, s.Name)
			}
		}
	}
	want := []row{
		{ClientClaudeDesktop, "fs", "npx"},
		{ClientCursor, "gw", "secure-mcp-gateway"},
		{ClientVSCode, "gh", "https://api.example.com/mcp"},
		{ClientClaudeCode, "top", "a"},
		{ClientClaudeCode, "app:local", "b"},
		{ClientWindsurf, "remote", "https://w.example/mcp"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("servers (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"gw"}, gateway); d != "" {
		t.Errorf("gateway entries (-want +got):\n%s", d)
	}
	if readErrs != 1 {
		t.Errorf("%d unreadable configs, want 1 (.mcp.json)", readErrs)
	}
	if _, err := ConfigFiles(p, []string{"notepad"}); err == nil {
		t.Error("unknown --client accepted")
	}
}

// TestMask: an error message never carries an env or header value.
func TestMask(t *testing.T) {
	s := &Server{Env: map[string]string{"K": "s3cret-value"}, Headers: map[string]string{"Authorization": "Bearer tok123"}, URL: "https://u:p@h.example/x?k=1"}
	got := mask("failed with s3cret-value and Bearer tok123 at https://u:p@h.example/x?k=1", s)
	if want := "failed with *** and *** at https://h.example/x"; got != want {
		t.Errorf("mask = %q, want %q", got, want)
	}
}

// TestGatewayConfigOfEntry: the config a gateway entry runs with.
func TestGatewayConfigOfEntry(t *testing.T) {
	for _, c := range []struct {
		s    Server
		want string
	}{
		{Server{Args: []string{"--config", "/a.json"}}, "/a.json"},
		{Server{Args: []string{"--config=/b.json"}}, "/b.json"},
		{Server{Env: map[string]string{"ENKRYPT_CONFIG_PATH": "/c.json"}}, "/c.json"},
		{Server{}, ""},
	} {
		if got := c.s.GatewayConfig(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.s, got, c.want)
		}
	}
}
