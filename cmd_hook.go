package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/urfave/cli/v3"

	"secure-mcp-gateway/hook"
	"secure-mcp-gateway/internal/config"
)

// hookCommand is `hook claude-code` and `hook cursor`: the command a client
// runs as a hook on its own tools and prompts. It reads the config (if
// any), one event from stdin, and answers on stdout; it starts no upstream,
// opens no cache and does no network I/O.
func hookCommand() *cli.Command {
	sub := func(client, label string) *cli.Command {
		return &cli.Command{
			Name:  client,
			Usage: "judge one " + label + " hook event from stdin and answer in " + label + "'s hook format",
			Action: func(ctx context.Context, cmd *cli.Command) error {
				return runHook(cmd, client)
			},
		}
	}
	return &cli.Command{
		Name:  "hook",
		Usage: "guardrails for an MCP client's own tools and prompts, run as a Claude Code or Cursor hook",
		Description: "The client runs this command with a hook event as JSON on stdin (a prompt, a shell command, a file\n" +
			"read or edit, a web fetch, an MCP call). The gateway's offline detectors check the event's fields under\n" +
			"the config's \"hooks\" block (built-in defaults without one), and the answer (allow, ask or block with\n" +
			"the guardrail and reason) is written in the client's format. Install with: install --client claude-code --hooks",
		Commands: []*cli.Command{sub(hook.ClaudeCode, "Claude Code"), sub(hook.Cursor, "Cursor")},
	}
}

func runHook(cmd *cli.Command, client string) error {
	hooks, cfgErr := hookConfig(cmd)
	h, err := hook.New(client, hooks)
	if err != nil {
		cfgErr = errors.Join(cfgErr, fmt.Errorf("hooks block: %w", err))
		h, _ = hook.New(client, nil)
	}
	var code int
	var msg string
	if cfgErr != nil {
		// Without a readable policy the event cannot be judged: the fail
		// mode of the built-in defaults applies.
		code, msg = h.Fail("", fmt.Errorf("read the hooks policy: %w", cfgErr))
	} else {
		code, msg = h.Run(os.Stdin, cmd.Root().Writer)
	}
	if code != 0 {
		return &exitError{code, errors.New(msg)}
	}
	if msg != "" {
		fmt.Fprintf(cmd.Root().ErrWriter, "secure-mcp-gateway: %s\n", msg)
	}
	return nil
}

// hookConfig returns the hooks block of the config: nil (the defaults)
// when there is no config file at the default path.
func hookConfig(cmd *cli.Command) (*config.Hooks, error) {
	explicit := cmd.Root().String("config") != ""
	p, err := configPath(cmd)
	if err != nil {
		return nil, err
	}
	c, err := config.Load(p)
	if err != nil {
		if !explicit && errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, errors.New(strings.TrimSpace(err.Error()))
	}
	return c.Hooks, nil
}
