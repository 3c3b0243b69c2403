// Command secure-mcp-gateway-hook is the gateway's hook for Claude Code
// and Cursor as a small program of its own: it does exactly what
// `secure-mcp-gateway hook claude-code|cursor` does (the same code in
// package hook, the same config file and answers), without loading the
// gateway's MCP, HTTP and CLI packages, so the client's agent waits less on
// every tool call and prompt.
//
// Usage:
//
//	secure-mcp-gateway-hook [--config PATH] claude-code|cursor < event.json
//
// The config file is --config, else $ENKRYPT_CONFIG_PATH, else
// ~/.enkrypt/enkrypt_mcp_config.json (which may be absent: the built-in
// defaults apply). `secure-mcp-gateway install … --hooks` writes this
// program's path when it sits next to the gateway binary.
//
// Its dependency closure must not gain net/http, the go-sdk or urfave/cli
// (deps_hook_test.go in the module root checks it).
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"secure-mcp-gateway/hook"
	"secure-mcp-gateway/internal/config"
)

// envConfigPath overrides the default config path, as --config does (the
// gateway's EnvConfigPath).
const envConfigPath = "ENKRYPT_CONFIG_PATH"

// exitUsage is the gateway's exit code for bad flags or arguments.
const exitUsage = 2

const usage = `usage: secure-mcp-gateway-hook [--config PATH] claude-code|cursor < event.json

Judges one Claude Code or Cursor hook event from stdin with the gateway's offline
detectors and answers in the client's hook format; the same as
"secure-mcp-gateway [--config PATH] hook claude-code|cursor".
`

func main() {
	os.Exit(run(os.Args[1:], os.Getenv(envConfigPath), os.Stdin, os.Stdout, os.Stderr))
}

// run is the whole program: it returns the exit code.
func run(args []string, envConfig string, stdin io.Reader, stdout, stderr io.Writer) int {
	cfgPath, client, help, err := parseArgs(args)
	if help {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "secure-mcp-gateway-hook: %v\n\n%s", err, usage)
		return exitUsage
	}
	if cfgPath == "" {
		cfgPath = envConfig
	}
	var hooks *config.Hooks
	var auditCfg *config.Audit
	optional := cfgPath == ""
	if optional {
		cfgPath, err = config.DefaultPath()
		if err != nil {
			err = fmt.Errorf("find the default config path: %w (pass --config)", err)
		}
	}
	if err == nil {
		hooks, auditCfg, err = hook.LoadHooks(cfgPath, optional)
	}
	log, aerr := hook.OpenAudit(auditCfg)
	err = errors.Join(err, aerr)
	code, msg := hook.Exec(client, hooks, err, log, stdin, stdout)
	if msg != "" {
		// The gateway's prefix, so the client shows the same message from
		// either program.
		fmt.Fprintf(stderr, "secure-mcp-gateway: %s\n", msg)
	}
	if log != nil {
		if cerr := log.Close(); cerr != nil {
			fmt.Fprintf(stderr, "secure-mcp-gateway: audit log: %v\n", cerr)
		}
	}
	return code
}

// parseArgs reads [--config PATH | --config=PATH] CLIENT, or a help flag.
func parseArgs(args []string) (cfgPath, client string, help bool, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-h" || a == "--help" || a == "help":
			return "", "", true, nil
		case a == "--config" || a == "-config":
			if i+1 >= len(args) || args[i+1] == "" {
				return "", "", false, fmt.Errorf("%s needs a path", a)
			}
			i++
			cfgPath = args[i]
		case strings.HasPrefix(a, "--config=") || strings.HasPrefix(a, "-config="):
			if cfgPath = a[strings.IndexByte(a, '=')+1:]; cfgPath == "" {
				return "", "", false, fmt.Errorf("--config needs a path")
			}
		case strings.HasPrefix(a, "-"):
			return "", "", false, fmt.Errorf("unknown flag %s", a)
		case client != "":
			return "", "", false, fmt.Errorf("one client only, got %q and %q", client, a)
		default:
			client = a
		}
	}
	switch client {
	case hook.ClaudeCode, hook.Cursor:
		return cfgPath, client, false, nil
	case "":
		return "", "", false, fmt.Errorf("name the client: %s", strings.Join(hook.Clients, " or "))
	}
	return "", "", false, fmt.Errorf("unknown client %q (want %s)", client, strings.Join(hook.Clients, " or "))
}
