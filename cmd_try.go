package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/urfave/cli/v3"

	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/internal/config"
)

func tryCommand() *cli.Command {
	return &cli.Command{
		Name:  "try",
		Usage: "show the gateway working end to end on a throwaway config (never touches ~/.enkrypt)",
		Description: "Writes a temporary config with bundled example servers (echo, and a hostile one with poisoned\n" +
			"tools), starts this binary as an MCP client would (stdio, key in the environment), connects a real MCP\n" +
			"client to it, lists the tools and calls one; then shows a call blocked for a secret in its arguments,\n" +
			"PII redacted from a result, a poisoned tool withheld, and a wrong key refused.\n\n" +
			"Example:\n  secure-mcp-gateway try\n  go run . try",
		Action: runTry,
	}
}

func runTry(ctx context.Context, cmd *cli.Command) error {
	w := cmd.Root().Writer
	exe, err := executablePath()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "secure-mcp-gateway-try-")
	if err != nil {
		return fmt.Errorf("make a temporary config dir: %w", err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, config.DefaultFileName)
	cfg, key, err := newDefaultConfig(exe, time.Now())
	if err != nil {
		return err
	}
	addTryServers(cfg, exe)
	if err := config.Save(path, cfg, checkDetectors); err != nil {
		return err
	}
	fmt.Fprintf(w, "1. Wrote a temporary config %s with three servers (default offline guardrails):\n"+
		"   echo_server = %s example-server echo\n"+
		"   pii_demo    = the same echo server, whose output policy redacts PII\n"+
		"   poison      = example-server tool_poisoning, a hostile server with poisoned tool descriptions\n\n", path, exe)

	gateway := exec.Command(exe, "--config", path)
	gateway.Env = append(cleanEnv(), authn.EnvKey+"="+key.Reveal())
	var stderr bytes.Buffer
	gateway.Stderr = &stderr
	client := mcp.NewClient(&mcp.Implementation{Name: "try-client", Version: version}, nil)
	start := time.Now()
	cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: gateway}, nil)
	if err != nil {
		return fmt.Errorf("connect to the gateway: %w\n%s", err, stderr.String())
	}
	defer cs.Close()
	init := cs.InitializeResult()
	fmt.Fprintf(w, "2. Started the gateway over stdio with %s set; initialize answered in %s\n   server: %s %s, protocol %s\n\n",
		authn.EnvKey, time.Since(start).Round(time.Millisecond), init.ServerInfo.Name, init.ServerInfo.Version, init.ProtocolVersion)

	start = time.Now()
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		return fmt.Errorf("tools/list: %w", err)
	}
	fmt.Fprintf(w, "3. tools/list (the gateway started the three upstreams now, lazily) in %s:\n", time.Since(start).Round(time.Millisecond))
	for _, t := range tools.Tools {
		fmt.Fprintf(w, "   - %-28s %s\n", t.Name, t.Description)
	}
	fmt.Fprintln(w)

	args := map[string]any{"message": "hello through the gateway"}
	start = time.Now()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo_server__echo", Arguments: args})
	if err != nil {
		return fmt.Errorf("tools/call: %w", err)
	}
	a, _ := json.Marshal(args)
	fmt.Fprintf(w, "4. tools/call echo_server__echo %s in %s:\n   isError=%v  %s\n\n", a, time.Since(start).Round(time.Microsecond), res.IsError, contentText(res.Content))

	// The security, in three calls.
	secretArgs := map[string]any{"message": "deploy with AWS key AKIA" + "IOSFODNN7EXAMPLE"}
	if res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo_server__echo", Arguments: secretArgs}); err != nil {
		return fmt.Errorf("tools/call: %w", err)
	}
	fmt.Fprintf(w, "5. A call with a secret in its arguments is blocked before it reaches the server:\n   tools/call echo_server__echo {\"message\":\"deploy with AWS key AKIA…\"}\n   isError=%v  %s\n\n", res.IsError, contentText(res.Content))

	piiArgs := map[string]any{"message": "Call Jane at jane.doe@example.com"}
	if res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "pii_demo__echo", Arguments: piiArgs}); err != nil {
		return fmt.Errorf("tools/call: %w", err)
	}
	a, _ = json.Marshal(piiArgs)
	fmt.Fprintf(w, "6. PII in a result is redacted on its way back to the client:\n   tools/call pii_demo__echo %s\n   isError=%v  %s\n\n", a, res.IsError, contentText(res.Content))

	var listed []string
	for _, t := range tools.Tools {
		if strings.HasPrefix(t.Name, "poison__") {
			listed = append(listed, t.Name)
		}
	}
	if res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "poison__calculate_statistics", Arguments: map[string]any{}}); err != nil {
		return fmt.Errorf("tools/call: %w", err)
	}
	fmt.Fprintf(w, "7. Poisoned tools are withheld: server poison offers 3 tools, the client sees only %s.\n   tools/call poison__calculate_statistics\n   isError=%v  %s\n\n",
		strings.Join(listed, ", "), res.IsError, contentText(res.Content))
	cs.Close()

	bad := exec.CommandContext(ctx, exe, "--config", path)
	bad.Env = append(cleanEnv(), authn.EnvKey+"=not-a-valid-key")
	bad.Stdin = strings.NewReader("")
	var badOut, badErr bytes.Buffer
	bad.Stdout, bad.Stderr = &badOut, &badErr
	err = bad.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return fmt.Errorf("expected the gateway to refuse a wrong key, got %v", err)
	}
	fmt.Fprintf(w, "8. The same gateway with a wrong key exits %d before starting anything; stdout had %d bytes; stderr:\n   %s\n",
		ee.ExitCode(), badOut.Len(), strings.TrimSpace(badErr.String()))
	return trySandbox(ctx, w, exe, dir)
}

// addTryServers adds the demonstration servers of try to the only MCP
// config of cfg: pii_demo (echo whose output policy redacts PII) and
// poison (the hostile tool_poisoning example), both with the default
// offline guardrails.
func addTryServers(cfg *config.Config, exe string) {
	for _, m := range cfg.MCPConfigs {
		in, out, tool, _ := guardrailPreset(presetDefault)
		poison := &config.Server{Name: "poison", Description: "Bundled hostile example: poisoned tool descriptions",
			Config: config.ServerConfig{Command: exe, Args: []string{"example-server", "tool_poisoning"}},
			Tools:  map[string]json.RawMessage{}, InputGuardrailsPolicy: in, OutputGuardrailsPolicy: out, ToolGuardrailsPolicy: tool}
		_, _, tool2, _ := guardrailPreset(presetDefault)
		pii := &config.Server{Name: "pii_demo", Description: "Bundled echo example whose results have PII redacted",
			Config:                config.ServerConfig{Command: exe, Args: []string{"example-server", "echo"}},
			Tools:                 map[string]json.RawMessage{},
			InputGuardrailsPolicy: &config.Policy{Enabled: true, PolicyName: "Try PII", Block: []string{"secrets", "injection_attack"}},
			OutputGuardrailsPolicy: &config.Policy{Enabled: true, PolicyName: "Try PII", Block: []string{"pii", "secrets"},
				AdditionalConfig: map[string]any{"redact": true}},
			ToolGuardrailsPolicy: tool2}
		m.Servers = append(m.Servers, pii, poison)
	}
}

// cleanEnv is the current environment without any gateway credentials.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "ENKRYPT_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func contentText(cs []mcp.Content) string {
	var parts []string
	for _, c := range cs {
		if t, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, t.Text)
			continue
		}
		b, _ := json.Marshal(c)
		parts = append(parts, string(b))
	}
	return strings.Join(parts, " | ")
}
