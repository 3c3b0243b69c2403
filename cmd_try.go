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
		Description: "Writes a temporary config whose only server is the bundled echo example, starts this binary\n" +
			"as an MCP client would (stdio, key in the environment), connects a real MCP client to it, lists\n" +
			"the tools, calls one, and then shows a wrong key being refused.",
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
	if err := config.Save(path, cfg); err != nil {
		return err
	}
	fmt.Fprintf(w, "1. Wrote a temporary config %s\n   with one server, echo_server = %s example-server echo\n\n", path, exe)

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
	fmt.Fprintf(w, "3. tools/list (the gateway started the echo upstream now, lazily) in %s:\n", time.Since(start).Round(time.Millisecond))
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
	fmt.Fprintf(w, "5. The same gateway with a wrong key exits %d before starting anything; stdout had %d bytes; stderr:\n   %s\n",
		ee.ExitCode(), badOut.Len(), strings.TrimSpace(badErr.String()))
	return trySandbox(ctx, w, exe, dir)
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
