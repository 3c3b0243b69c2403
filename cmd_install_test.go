package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/internal/secret"
)

// clientFile is the parsed part of an MCP client's config that install writes.
type clientFile struct {
	Servers    map[string]installEntry `json:"servers"`
	MCPServers map[string]installEntry `json:"mcpServers"`
}

func (f clientFile) entries() map[string]installEntry {
	if f.Servers != nil {
		return f.Servers
	}
	return f.MCPServers
}

// skipUnlessLinux skips tests that know the Linux client config paths.
func skipUnlessLinux(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("client config paths are checked on Linux")
	}
}

// clientPath is where install writes on Linux, relative to a cliEnv.
func clientPath(t *testing.T, e *cliEnv, client string) string {
	skipUnlessLinux(t)
	switch client {
	case "claude-desktop":
		return filepath.Join(e.home, ".config", "Claude", "claude_desktop_config.json")
	case "cursor":
		return filepath.Join(e.home, ".cursor", "mcp.json")
	case "windsurf":
		return filepath.Join(e.home, ".codeium", "windsurf", "mcp_config.json")
	case "vscode":
		return filepath.Join(e.wd, ".vscode", "mcp.json")
	}
	panic(client)
}

// TestInstallMergesAndBacksUp installs into each file-based client's config
// that already holds another server and an unrelated top-level key: both
// survive, the old file is backed up, and the new key authenticates.
func TestInstallMergesAndBacksUp(t *testing.T) {
	for _, client := range []string{"claude-desktop", "cursor", "windsurf", "vscode"} {
		t.Run(client, func(t *testing.T) {
			e := newCLIEnv(t)
			e.must(t, "generate-config")
			path := clientPath(t, e, client)
			serverKey := "mcpServers"
			if client == "vscode" {
				serverKey = "servers"
			}
			old := `{"theme": "dark", "` + serverKey + `": {"other": {"command": "/usr/bin/other", "args": ["x"]}}}`
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
				t.Fatal(err)
			}
			keysBefore := len(e.load(t).APIKeys)
			out := e.must(t, "install", "--client", client)
			if !strings.Contains(out, path) {
				t.Errorf("output does not name %s:\n%s", path, out)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var top map[string]json.RawMessage
			if err := json.Unmarshal(data, &top); err != nil {
				t.Fatal(err)
			}
			if string(top["theme"]) != `"dark"` {
				t.Errorf("top-level key lost: %s", data)
			}
			var cf clientFile
			if err := json.Unmarshal(data, &cf); err != nil {
				t.Fatal(err)
			}
			entries := cf.entries()
			if got := entries["other"]; got.Command != "/usr/bin/other" || !slices.Equal(got.Args, []string{"x"}) {
				t.Errorf("other server changed: %+v", got)
			}
			gw := entries[DefaultInstallName]
			want := installEntry{Command: gatewayBin, Args: []string{"--config", e.cfg}, Env: gw.Env}
			if client == "vscode" {
				want.Type = "stdio"
			}
			if diff := cmp.Diff(want, gw); diff != "" {
				t.Errorf("entry (-want +got):\n%s", diff)
			}
			c := e.load(t)
			if len(c.APIKeys) != keysBefore+1 {
				t.Errorf("%d keys, want %d", len(c.APIKeys), keysBefore+1)
			}
			key := gw.Env[authn.EnvKey]
			if client == "vscode" {
				// The workspace file holds a reference to a password input;
				// the key is printed once for the prompt.
				if key != "${input:secure-mcp-gateway-gateway-key}" {
					t.Errorf("VS Code env key = %q, want the input reference", key)
				}
				var in struct {
					Inputs []map[string]any `json:"inputs"`
				}
				_ = json.Unmarshal(data, &in)
				if len(in.Inputs) != 1 || in.Inputs[0]["password"] != true || in.Inputs[0]["id"] != "secure-mcp-gateway-gateway-key" {
					t.Errorf("inputs = %v, want one password input", in.Inputs)
				}
				_, rest, _ := strings.Cut(out, "Paste this key there (shown once; only its hash is stored):\n  ")
				key, _, _ = strings.Cut(rest, "\n")
				if strings.Contains(string(data), key) {
					t.Error("the key is in the workspace file")
				}
			}
			if _, err := authn.Authenticate(c, authn.Credentials{Key: secret.String(key)}); err != nil {
				t.Errorf("installed key: %v", err)
			}
			backups, _ := filepath.Glob(path + ".bkp.*")
			if len(backups) != 1 {
				t.Fatalf("backups %v, want one", backups)
			}
			if b, _ := os.ReadFile(backups[0]); string(b) != old {
				t.Errorf("backup = %s, want the old file", b)
			}
			if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("mode %v %v, want 0600", fi.Mode().Perm(), err)
			}
		})
	}
}

// TestInstallEachKeyRevocable checks that two installs get two keys and
// deleting one leaves the other working.
func TestInstallEachKeyRevocable(t *testing.T) {
	e := newCLIEnv(t)
	e.must(t, "generate-config")
	keyOf := func(client string) string {
		data, err := os.ReadFile(clientPath(t, e, client))
		if err != nil {
			t.Fatal(err)
		}
		var cf clientFile
		if err := json.Unmarshal(data, &cf); err != nil {
			t.Fatal(err)
		}
		return cf.entries()[DefaultInstallName].Env[authn.EnvKey]
	}
	e.must(t, "install", "--client", "cursor", "--email", "default@example.com", "--project-name", "default_project")
	e.must(t, "install", "--client", "windsurf")
	a, b := keyOf("cursor"), keyOf("windsurf")
	if a == b || a == "" {
		t.Fatalf("keys %q %q, want two distinct keys", a, b)
	}
	e.must(t, "user", "delete-api-key", "--api-key", a)
	c := e.load(t)
	if _, err := authn.Authenticate(c, authn.Credentials{Key: secret.String(a)}); err == nil {
		t.Error("revoked key still accepted")
	}
	if _, err := authn.Authenticate(c, authn.Credentials{Key: secret.String(b)}); err != nil {
		t.Errorf("other install's key: %v", err)
	}
	// --api-key reuses a key instead of making one.
	n := len(c.APIKeys)
	e.must(t, "install", "--client", "cursor", "--api-key", b)
	if keyOf("cursor") != b || len(e.load(t).APIKeys) != n {
		t.Error("--api-key did not reuse the key")
	}
	if _, _, code := e.run(t, "install", "--client", "cursor", "--api-key", "not-a-key"); code != 1 {
		t.Errorf("unknown --api-key: exit %d, want 1", code)
	}
}

// TestInstallDryRunAndRefusals checks that --dry-run writes nothing, and
// that a malformed client file is refused, left alone, and costs no key.
func TestInstallDryRunAndRefusals(t *testing.T) {
	e := newCLIEnv(t)
	e.must(t, "generate-config")
	cfgBefore, _ := os.ReadFile(e.cfg)
	out := e.must(t, "install", "--client", "cursor", "--dry-run")
	if !strings.Contains(out, `"mcpServers"`) || !strings.Contains(out, gatewayBin) {
		t.Errorf("dry run output:\n%s", out)
	}
	if _, err := os.Stat(clientPath(t, e, "cursor")); !os.IsNotExist(err) {
		t.Errorf("dry run wrote the client file: %v", err)
	}
	if now, _ := os.ReadFile(e.cfg); string(now) != string(cfgBefore) {
		t.Error("dry run changed the gateway config")
	}

	path := clientPath(t, e, "cursor")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	const broken = `{"mcpServers": {"other": `
	if err := os.WriteFile(path, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := e.run(t, "install", "--client", "cursor")
	if code != 1 || !strings.Contains(stderr, path) {
		t.Errorf("malformed client file: exit %d, stderr %q", code, stderr)
	}
	if now, _ := os.ReadFile(path); string(now) != broken {
		t.Error("malformed client file was changed")
	}
	if n := len(e.load(t).APIKeys); n != 1 {
		t.Errorf("%d keys after a failed install, want 1 (the new key revoked)", n)
	}
	if _, _, code := e.run(t, "install", "--client", "emacs"); code != exitUsage {
		t.Errorf("unknown client: exit %d, want %d", code, exitUsage)
	}
	e.must(t, "user", "create", "--email", "two@example.com")
	if _, stderr, code := e.run(t, "install", "--client", "cursor", "--dry-run"); code != exitUsage || !strings.Contains(stderr, "--email") {
		t.Errorf("two users without --email: exit %d %q", code, stderr)
	}
}

// TestInstallDefaultConfigPathHasNoArgs checks that a config at the default
// path is not passed with --config.
func TestInstallDefaultConfigPathHasNoArgs(t *testing.T) {
	e := newCLIEnv(t)
	e.cfg = filepath.Join(e.home, ".enkrypt", "enkrypt_mcp_config.json")
	e.must(t, "generate-config")
	cmd := exec.Command(gatewayBin, "install", "--client", "cursor")
	cmd.Env = gatewayEnv("HOME=" + e.home)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	data, err := os.ReadFile(clientPath(t, e, "cursor"))
	if err != nil {
		t.Fatal(err)
	}
	var cf clientFile
	if err := json.Unmarshal(data, &cf); err != nil {
		t.Fatal(err)
	}
	if got := cf.entries()[DefaultInstallName]; got.Args != nil || got.Command != gatewayBin {
		t.Errorf("entry %+v, want the binary without args", got)
	}
}

// TestInstallClaudeCode checks both paths: without claude on PATH the
// command is printed; with it, claude receives exactly that command. The
// claude CLI is a third-party program, so a script stands in for it and
// records its arguments.
func TestInstallClaudeCode(t *testing.T) {
	e := newCLIEnv(t)
	e.must(t, "generate-config")
	out := e.must(t, "install", "--client", "claude-code")
	if !strings.Contains(out, "claude mcp add --transport stdio --scope user --env ENKRYPT_GATEWAY_KEY=") ||
		!strings.Contains(out, "secure-mcp-gateway -- "+gatewayBin+" --config "+e.cfg) {
		t.Errorf("printed command:\n%s", out)
	}

	bin := filepath.Join(e.home, "bin")
	if err := os.MkdirAll(bin, 0o700); err != nil {
		t.Fatal(err)
	}
	record := filepath.Join(e.home, "claude-args")
	script := "#!/bin/sh\nprintf '%s\\n' \"$*\" >> " + record + "\n"
	if err := os.WriteFile(filepath.Join(bin, "claude"), []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	out = e.must(t, "install", "--client", "claude-code")
	if !strings.Contains(out, "Registered") {
		t.Errorf("output:\n%s", out)
	}
	got, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(got)), "\n")
	if len(lines) != 2 || lines[0] != "mcp remove secure-mcp-gateway --scope user" ||
		!strings.HasPrefix(lines[1], "mcp add --transport stdio --scope user --env ENKRYPT_GATEWAY_KEY=") ||
		!strings.HasSuffix(lines[1], " secure-mcp-gateway -- "+gatewayBin+" --config "+e.cfg) {
		t.Errorf("claude was run with:\n%s", got)
	}
	key := strings.Fields(strings.TrimPrefix(lines[1], "mcp add --transport stdio --scope user --env ENKRYPT_GATEWAY_KEY="))[0]
	if _, err := authn.Authenticate(e.load(t), authn.Credentials{Key: secret.String(key)}); err != nil {
		t.Errorf("key given to claude: %v", err)
	}
}

// TestInstallGolden records the dry-run output of every client.
func TestInstallGolden(t *testing.T) {
	skipUnlessLinux(t)
	e := newCLIEnv(t)
	tr := newTranscript(e)
	seed(t, tr)
	for _, client := range installClients {
		tr.want(t, 0, "install", "--client", client, "--dry-run")
	}
	tr.want(t, 2, "install")
	tr.check(t, "install.txt")
}

// TestE2EInstallCursorThenRun installs into a temporary Cursor config and
// then starts the gateway exactly as Cursor would: the command, args and
// env that the file holds, over stdio, with a real MCP client.
func TestE2EInstallCursorThenRun(t *testing.T) {
	e := newCLIEnv(t)
	e.must(t, "generate-config")
	e.must(t, "install", "--client", "cursor")
	data, err := os.ReadFile(clientPath(t, e, "cursor"))
	if err != nil {
		t.Fatal(err)
	}
	var cf clientFile
	if err := json.Unmarshal(data, &cf); err != nil {
		t.Fatal(err)
	}
	entry, ok := cf.entries()[DefaultInstallName]
	if !ok {
		t.Fatalf("no %s entry in %s", DefaultInstallName, data)
	}
	if !filepath.IsAbs(entry.Command) {
		t.Errorf("command %q is not absolute", entry.Command)
	}
	cmd := exec.Command(entry.Command, entry.Args...)
	// A client starts the server with its own environment plus the entry's
	// env; PATH is empty so that nothing can depend on a PATH lookup.
	cmd.Env = gatewayEnv("HOME="+e.home, "PATH=")
	for k, v := range entry.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "cursor-e2e", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd, TerminateDuration: 5 * time.Second}, nil)
	if err != nil {
		t.Fatalf("connect: %v\nstderr:\n%s", err, stderr)
	}
	defer cs.Close()
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatalf("tools/list: %v\nstderr:\n%s", err, stderr)
	}
	var names []string
	for _, tool := range tools.Tools {
		names = append(names, tool.Name)
	}
	if !slices.Contains(names, "echo_server__echo") {
		t.Fatalf("tools/list = %v, want echo_server__echo", names)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo_server__echo", Arguments: map[string]any{"message": "installed"}})
	if err != nil || res.IsError || resultText(res) != "installed" {
		t.Fatalf("echo = %+v %v\nstderr:\n%s", res, err, stderr)
	}
}
