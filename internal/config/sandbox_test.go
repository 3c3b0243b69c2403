package config

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseMemoryLimit(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		bad  bool
	}{
		{"", 0, false}, {"512m", 512 << 20, false}, {"1g", 1 << 30, false}, {"1G", 1 << 30, false},
		{"64k", 64 << 10, false}, {"1048576", 1 << 20, false}, {"100b", 100, false}, {"1.5g", 3 << 29, false},
		{"lots", 0, true}, {"-1m", 0, true}, {"0", 0, true}, {"m", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseMemoryLimit(tt.in)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("ParseMemoryLimit(%q) = %d, %v; want %d, bad=%v", tt.in, got, err, tt.want, tt.bad)
		}
	}
	for in, bad := range map[string]bool{"": false, "1.0": false, "0.25": false, "0": true, "x": true, "-2": true} {
		if _, err := ParseCPULimit(in); (err != nil) != bad {
			t.Errorf("ParseCPULimit(%q) err = %v, want bad=%v", in, err, bad)
		}
	}
}

// TestSandboxBlockRoundTrip: the Python gateway's sandbox block, with a key
// this gateway does not know, is read and written back unchanged.
func TestSandboxBlockRoundTrip(t *testing.T) {
	in := `{"allowed_env":["API_KEY"],"cpu_limit":"1.0","enabled":true,"extra_ro_binds":["/data"],` +
		`"extra_rw_binds":["/out"],"future_key":{"x":1},"image":"python:3.12-slim","memory_limit":"512m",` +
		`"network":"none","pids_limit":64,"read_only":true,"runtime":"docker","unshare_pid":true}`
	var sb Sandbox
	if err := json.Unmarshal([]byte(in), &sb); err != nil {
		t.Fatal(err)
	}
	if sb.Runtime != "docker" || sb.PidsLimit != 64 || sb.ReadOnly == nil || !*sb.ReadOnly || sb.CPULimit != "1.0" {
		t.Errorf("decoded %+v", sb)
	}
	out, err := json.Marshal(sb)
	if err != nil {
		t.Fatal(err)
	}
	var a, b map[string]any
	_ = json.Unmarshal([]byte(in), &a)
	_ = json.Unmarshal(out, &b)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("round trip mismatch (-in +out):\n%s", diff)
	}
	if p := sb.Problems("sandbox"); len(p) != 0 {
		t.Errorf("problems of a valid block: %v", p)
	}
}

// TestValidateSandbox: a bad sandbox block is a validation problem with its
// path, found by config validate before any server starts.
func TestValidateSandbox(t *testing.T) {
	tests := []struct {
		name    string
		sandbox *Sandbox
		paths   []string
	}{
		{"none", nil, nil},
		{"ok", &Sandbox{Enabled: true, Runtime: SandboxBwrap, MemoryLimit: "512m", PidsLimit: 64}, nil},
		{"typos", &Sandbox{Enabled: true, Runtime: "bwarp", Network: "nonе", MemoryLimit: "lots"},
			[]string{".sandbox.runtime", ".sandbox.network", ".sandbox.memory_limit"}},
		{"relative bind", &Sandbox{Enabled: true, ExtraRWBinds: []string{"work"}}, []string{".sandbox.extra_rw_binds[0]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := minimalConfig()
			c.MCPConfigs["c"].Servers = []*Server{{Name: "a", Config: ServerConfig{Command: "x"}, Sandbox: tt.sandbox}}
			err := c.Validate()
			if len(tt.paths) == 0 {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Validate = %v, want a *ValidationError", err)
			}
			var got []string
			for _, p := range ve.Problems {
				got = append(got, strings.TrimPrefix(p.Path, "mcp_configs.c.mcp_config[0]"))
			}
			if strings.Join(got, ",") != strings.Join(tt.paths, ",") {
				t.Errorf("problem paths = %v, want %v\n%v", got, tt.paths, err)
			}
		})
	}
}
