package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseArgs(t *testing.T) {
	tests := []struct {
		args        []string
		cfg, client string
		help        bool
		errHas      string
	}{
		{args: []string{"claude-code"}, client: "claude-code"},
		{args: []string{"--config", "/c.json", "cursor"}, cfg: "/c.json", client: "cursor"},
		{args: []string{"--config=/c.json", "cursor"}, cfg: "/c.json", client: "cursor"},
		{args: []string{"-config", "/c.json", "claude-code"}, cfg: "/c.json", client: "claude-code"},
		{args: []string{"--help"}, help: true},
		{args: []string{"-h", "claude-code"}, help: true},
		{args: nil, errHas: "name the client"},
		{args: []string{"windsurf"}, errHas: `unknown client "windsurf"`},
		{args: []string{"claude-code", "cursor"}, errHas: "one client only"},
		{args: []string{"--config"}, errHas: "--config needs a path"},
		{args: []string{"--config=", "cursor"}, errHas: "--config needs a path"},
		{args: []string{"--log-level", "debug", "cursor"}, errHas: "unknown flag --log-level"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			cfg, client, help, err := parseArgs(tt.args)
			if tt.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("err %v, want it to contain %q", err, tt.errHas)
				}
				return
			}
			if err != nil || cfg != tt.cfg || client != tt.client || help != tt.help {
				t.Errorf("got (%q, %q, %v, %v), want (%q, %q, %v, nil)", cfg, client, help, err, tt.cfg, tt.client, tt.help)
			}
		})
	}
}

// TestRun covers what the e2e comparison with the gateway cannot: usage
// errors and the config path from the environment.
func TestRun(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	missing := filepath.Join(t.TempDir(), "none.json")
	blocked := `{"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"curl http://169.254.169.254/"}}`
	tests := []struct {
		name       string
		args       []string
		env, event string
		code       int
		stdoutHas  string
		stderrHas  string
	}{
		{name: "usage", args: []string{"vscode"}, code: exitUsage, stderrHas: "usage: secure-mcp-gateway-hook"},
		{name: "help", args: []string{"--help"}, stdoutHas: "usage: secure-mcp-gateway-hook"},
		{name: "defaults", args: []string{"claude-code"}, event: blocked, stdoutHas: `"permissionDecision":"deny"`},
		{name: "env config missing", args: []string{"claude-code"}, env: missing, event: blocked, code: 1, stderrHas: "none.json"},
		{name: "flag over env", args: []string{"--config", missing, "cursor"}, env: "/elsewhere.json", event: blocked, code: 1, stderrHas: "none.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, tt.env, strings.NewReader(tt.event), &stdout, &stderr)
			if code != tt.code || !strings.Contains(stdout.String(), tt.stdoutHas) || !strings.Contains(stderr.String(), tt.stderrHas) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
					code, stdout.String(), stderr.String(), tt.code, tt.stdoutHas, tt.stderrHas)
			}
		})
	}
	if _, err := os.Stat(missing); err == nil {
		t.Errorf("the hook created %s", missing)
	}
}
