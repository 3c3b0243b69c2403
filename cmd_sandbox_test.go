package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/upstream"
)

// TestCLISandboxGolden: add-server --sandbox PRESET and
// config update-server-sandbox write the Python gateway's sandbox block,
// refuse a bad one naming the field and the fix, and remove it with "off".
func TestCLISandboxGolden(t *testing.T) {
	e := newCLIEnv(t)
	tr := newTranscript(e)
	seed(t, tr)
	tr.want(t, 0, "config", "add-server", "--config-name", "default_config", "--server-name", "files",
		"--server-command", "/usr/bin/files-server", "--sandbox", "strict")
	tr.want(t, 2, "config", "add-server", "--config-name", "default_config", "--server-name", "other",
		"--server-command", "/usr/bin/other", "--sandbox", "tight")
	tr.want(t, 0, "config", "update-server-sandbox", "--config-name", "default_config", "--server-name", "files",
		"--sandbox", `{"enabled":true,"runtime":"bwrap","network":"none","pids_limit":64,"memory_limit":"512m","extra_rw_binds":["/srv/data"]}`)
	tr.want(t, 2, "config", "update-server-sandbox", "--config-name", "default_config", "--server-name", "files",
		"--sandbox", `{"enabled":true,"runtime":"chroot","memory_limit":"lots","extra_ro_binds":["relative"]}`)
	tr.want(t, 2, "config", "update-server-sandbox", "--config-name", "default_config", "--server-name", "files")
	tr.want(t, 0, "config", "update-server-sandbox", "--config-name", "default_config", "--server-name", "echo_server",
		"--preset", "limits")
	tr.want(t, 0, "config", "update-server-sandbox", "--config-name", "default_config", "--server-name", "echo_server",
		"--preset", "off")
	tr.check(t, "cli_sandbox.txt")
}

func TestSandboxSpec(t *testing.T) {
	f := false
	stdio := config.ServerConfig{Command: "/bin/server"}
	tests := []struct {
		name     string
		server   config.Server
		defaults *config.SandboxDefaults
		want     *upstream.Sandbox
		invalid  bool
	}{
		{name: "no block, no defaults", server: config.Server{Config: stdio}},
		{name: "remote server", server: config.Server{Config: config.ServerConfig{URL: "https://x"},
			Sandbox: &config.Sandbox{Enabled: true}}},
		{name: "python block", server: config.Server{Config: stdio, Sandbox: &config.Sandbox{
			Enabled: true, Runtime: "bwrap", MemoryLimit: "512m", CPULimit: "1.5", PidsLimit: 64, Network: "none",
			ReadOnly: &f, AllowedEnv: []string{"TOKEN"}, ExtraROBinds: []string{"/a"}, ExtraRWBinds: []string{"/b"},
			UnsharePID: &f}},
			want: &upstream.Sandbox{Runtime: "bwrap", Limits: upstream.Limits{MemoryBytes: 512 << 20, CPUs: 1.5, Pids: 64},
				Network: "none", AllowedEnv: []string{"TOKEN"}, ROBinds: []string{"/a"}, RWBinds: []string{"/b"}, SharePID: true}},
		{name: "defaults fill in", server: config.Server{Config: stdio},
			defaults: &config.SandboxDefaults{Enabled: true, DefaultRuntime: "docker", DefaultNetwork: "bridge", DefaultPidsLimit: 32},
			want:     &upstream.Sandbox{Runtime: "docker", Network: "bridge", ReadOnly: true, Limits: upstream.Limits{Pids: 32}}},
		{name: "limits only", server: config.Server{Config: stdio, Sandbox: &config.Sandbox{PidsLimit: 10, NoFileLimit: 99}},
			want: &upstream.Sandbox{Network: "none", ReadOnly: true, Limits: upstream.Limits{Pids: 10, NoFile: 99}}},
		{name: "disabled, no limits", server: config.Server{Config: stdio, Sandbox: &config.Sandbox{Runtime: "bwrap"}}},
		{name: "bad memory fails closed", server: config.Server{Config: stdio, Sandbox: &config.Sandbox{Enabled: true, MemoryLimit: "x"}},
			invalid: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := sandboxSpec(&tt.server, tt.defaults)
			if tt.invalid {
				if got == nil || got.Invalid == nil {
					t.Fatalf("sandboxSpec = %+v, want an Invalid sandbox", got)
				}
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("sandboxSpec mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
