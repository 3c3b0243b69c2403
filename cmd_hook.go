package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"secure-mcp-gateway/guard"
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
			"the guardrail and reason) is written in the client's format. Install with: install --client claude-code --hooks\n\n" +
			"Detectors a hook's \"block\" list may name (hooks run offline ones only):\n" + guard.RegistryText(true),
		Commands: []*cli.Command{sub(hook.ClaudeCode, "Claude Code"), sub(hook.Cursor, "Cursor")},
	}
}

func runHook(cmd *cli.Command, client string) error {
	var hooks *config.Hooks
	var auditCfg *config.Audit
	p, err := configPath(cmd)
	if err == nil {
		// Without --config (or ENKRYPT_CONFIG_PATH), no file at the
		// default path means the built-in defaults.
		hooks, auditCfg, err = hook.LoadHooks(p, cmd.Root().String("config") == "")
	}
	log, aerr := hook.OpenAudit(auditCfg)
	err = errors.Join(err, aerr)
	code, msg := hook.Exec(client, hooks, err, log, os.Stdin, cmd.Root().Writer)
	if log != nil {
		if cerr := log.Close(); cerr != nil {
			fmt.Fprintf(cmd.Root().ErrWriter, "secure-mcp-gateway: audit log: %v\n", cerr)
		}
	}
	if code != 0 {
		return cli.Exit(errors.New(msg), code)
	}
	if msg != "" {
		fmt.Fprintf(cmd.Root().ErrWriter, "secure-mcp-gateway: %s\n", msg)
	}
	return nil
}

// hookEvents are the events `install --hooks` registers, per client: the
// ones the hook judges by default.
var hookEvents = map[string][]string{
	hook.ClaudeCode: {"UserPromptSubmit", "PreToolUse", "PostToolUse"},
	hook.Cursor:     {"beforeSubmitPrompt", "beforeShellExecution", "beforeMCPExecution", "afterMCPExecution", "beforeReadFile", "afterFileEdit"},
}

// hookBinaryName is the file name of the lean hook program
// (cmd/secure-mcp-gateway-hook), without the ".exe" of Windows.
const hookBinaryName = "secure-mcp-gateway-hook"

// hookCommandLine is the command a client runs as the hook of client: the
// lean hook program when it sits next to the gateway binary exe (it starts
// in about half the time), else the gateway's own `hook` command. args are
// the global flags (--config PATH), which both accept.
func hookCommandLine(exe string, args []string, client string) string {
	name := hookBinaryName
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	lean := filepath.Join(filepath.Dir(exe), name)
	if st, err := os.Stat(lean); err == nil && st.Mode().IsRegular() && (runtime.GOOS == "windows" || st.Mode().Perm()&0o111 != 0) {
		return shellJoin(append(append([]string{lean}, args...), client))
	}
	return shellJoin(append(append([]string{exe}, args...), "hook", client))
}

// hookInstall is the result of installing a client's hook entries.
type hookInstall struct {
	path, backup string
	merged       []byte
}

// hooksFile is the file that holds a client's hooks for the current user:
// Claude Code's user settings, Cursor's global hooks.json.
func hooksFile(client string) (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find home directory: %w", err)
	}
	switch client {
	case hook.ClaudeCode:
		return filepath.Join(home, ".claude", "settings.json"), nil
	case hook.Cursor:
		return filepath.Join(home, ".cursor", "hooks.json"), nil
	}
	return "", usageError("--hooks: %q has no hooks; use it with %s", client, strings.Join(hook.Clients, " or "))
}

// installClientHooks merges the hook entries running hookCommandLine (the
// lean hook program next to exe, else `<exe> [args] hook <client>`) into
// the client's hooks file, keeping every other hook and key, and replacing
// an earlier entry of this gateway in either form. Unless dry, an existing
// file is backed up first and the result written with mode 0600.
func installClientHooks(client, exe string, args []string, dry bool) (*hookInstall, error) {
	path, err := hooksFile(client)
	if err != nil {
		return nil, err
	}
	command := hookCommandLine(exe, args, client)
	top := map[string]json.RawMessage{}
	old, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		old = nil
	case err != nil:
		return nil, fmt.Errorf("read %s: %w", path, err)
	case len(bytes.TrimSpace(old)) > 0:
		if err := json.Unmarshal(old, &top); err != nil || top == nil {
			return nil, adminError("%s is not a JSON object (%v); fix or move it, then run install again (it was not changed)", path, err)
		}
	}
	events := map[string][]map[string]any{}
	if raw, ok := top["hooks"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &events); err != nil {
			return nil, adminError("%s: \"hooks\" is not an object of event lists (%v); fix it, then run install again (it was not changed)", path, err)
		}
	}
	ours := func(c any) bool {
		s, _ := c.(string)
		return s == command || strings.Contains(s, "secure-mcp-gateway") && strings.HasSuffix(s, " hook "+client) ||
			strings.Contains(s, hookBinaryName) && strings.HasSuffix(s, " "+client)
	}
	for _, ev := range hookEvents[client] {
		var kept []map[string]any
		for _, entry := range events[ev] {
			if client == hook.Cursor {
				if !ours(entry["command"]) {
					kept = append(kept, entry)
				}
				continue
			}
			// Claude Code: a matcher group holding a list of hooks.
			inner, _ := entry["hooks"].([]any)
			var rest []any
			for _, h := range inner {
				if m, ok := h.(map[string]any); !ok || !ours(m["command"]) {
					rest = append(rest, h)
				}
			}
			if len(rest) > 0 || len(inner) == 0 {
				entry["hooks"] = rest
				kept = append(kept, entry)
			}
		}
		if client == hook.Cursor {
			kept = append(kept, map[string]any{"command": command})
		} else {
			group := map[string]any{"hooks": []any{map[string]any{"type": "command", "command": command}}}
			if ev != "UserPromptSubmit" {
				group["matcher"] = "*"
			}
			kept = append(kept, group)
		}
		events[ev] = kept
	}
	eb, err := marshalIndentPlain(events, "  ")
	if err != nil {
		return nil, err
	}
	top["hooks"] = eb
	if _, ok := top["version"]; client == hook.Cursor && !ok {
		top["version"] = json.RawMessage("1")
	}
	merged, err := marshalIndentPlain(top, "")
	if err != nil {
		return nil, err
	}
	res := &hookInstall{path: path, merged: append(merged, '\n')}
	if dry {
		return res, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	if old != nil {
		res.backup = path + ".bkp." + time.Now().Format("20060102_150405.000000000")
		if err := writeFile0600(res.backup, old); err != nil {
			return nil, fmt.Errorf("back up %s: %w", path, err)
		}
	}
	if err := writeFile0600(path, res.merged); err != nil {
		return nil, err
	}
	return res, nil
}

// reportHooks writes what installClientHooks did, or would do.
func reportHooks(w io.Writer, h *hookInstall, dry bool) {
	if h == nil {
		return
	}
	if dry {
		fmt.Fprintf(w, "Dry run: would write the hooks to %s:\n%s", h.path, h.merged)
		return
	}
	fmt.Fprintf(w, "Installed the guardrail hooks into %s\n", h.path)
	if h.backup != "" {
		fmt.Fprintf(w, "Backup of the previous hooks file: %s\n", h.backup)
	}
}
