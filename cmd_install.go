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
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/internal/secret"
)

// DefaultInstallName is the server name the installers give the gateway in
// the client's config.
const DefaultInstallName = "secure-mcp-gateway"

// installClients are the clients install knows, in help order.
var installClients = []string{"claude-desktop", "cursor", "claude-code", "vscode", "windsurf"}

func installCommand() *cli.Command {
	return &cli.Command{
		Name:  "install",
		Usage: "add the gateway to an MCP client's config, with a new gateway key",
		Description: "Writes the absolute path of this binary, --config when the config is not the default one, and a\n" +
			"gateway key into the client's MCP config, keeping every other server there (the file is backed up first).\n" +
			"Each install gets its own key, so it can be revoked alone (user delete-api-key --api-key fp:...).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "client", Usage: strings.Join(installClients, ", ") + " (claude = claude-desktop)"},
			&cli.StringFlag{Name: "email", Usage: "user the key is for (default: the only user)"},
			&cli.StringFlag{Name: "project-name", Usage: "project the key is for (default: the only project of the user)"},
			&cli.StringFlag{Name: "api-key", Usage: "reuse this existing gateway key instead of making a new one"},
			&cli.StringFlag{Name: "name", Value: DefaultInstallName, Usage: "server name in the client's config"},
			&cli.BoolFlag{Name: "dry-run", Usage: "print the client config that would be written, and write nothing"},
			jsonFlag,
		},
		Action: runInstall,
	}
}

// clientTarget is where and how a client keeps its MCP servers.
type clientTarget struct {
	label     string // human name
	path      string // JSON file; empty for claude-code
	serverKey string // "mcpServers" or "servers"
	stdioType bool   // entries carry "type": "stdio"
}

// clientTargetFor returns the config file of client for the current user.
func clientTargetFor(client string) (clientTarget, error) {
	home, err := os.UserHomeDir()
	if err != nil && client != "vscode" && client != "claude-code" {
		return clientTarget{}, fmt.Errorf("find home directory: %w", err)
	}
	switch client {
	case "claude-desktop", "claude":
		var dir string
		switch runtime.GOOS {
		case "darwin":
			dir = filepath.Join(home, "Library", "Application Support", "Claude")
		case "windows":
			appData := os.Getenv("APPDATA")
			if appData == "" {
				appData = filepath.Join(home, "AppData", "Roaming")
			}
			dir = filepath.Join(appData, "Claude")
		default:
			dir = filepath.Join(home, ".config", "Claude")
		}
		return clientTarget{"Claude Desktop", filepath.Join(dir, "claude_desktop_config.json"), "mcpServers", false}, nil
	case "cursor":
		return clientTarget{"Cursor", filepath.Join(home, ".cursor", "mcp.json"), "mcpServers", false}, nil
	case "windsurf":
		return clientTarget{"Windsurf", filepath.Join(home, ".codeium", "windsurf", "mcp_config.json"), "mcpServers", false}, nil
	case "vscode":
		wd, err := os.Getwd()
		if err != nil {
			return clientTarget{}, fmt.Errorf("find the current folder: %w", err)
		}
		return clientTarget{"VS Code", filepath.Join(wd, ".vscode", "mcp.json"), "servers", true}, nil
	case "claude-code":
		return clientTarget{label: "Claude Code"}, nil
	}
	return clientTarget{}, usageError("--client %q: want one of %s", client, strings.Join(installClients, ", "))
}

// installEntry is the server entry written into a client's config.
type installEntry struct {
	Type    string            `json:"type,omitempty"`
	Command string            `json:"command"`
	Args    []string          `json:"args,omitempty"`
	Env     map[string]string `json:"env"`
}

// dryRunKey stands in for the key a dry run would have generated.
const dryRunKey = "<a new gateway key is generated when you install without --dry-run>"

func runInstall(ctx context.Context, cmd *cli.Command) error {
	client := cmd.String("client")
	if client == "" {
		return usageError("--client is required: one of %s", strings.Join(installClients, ", "))
	}
	target, err := clientTargetFor(client)
	if err != nil {
		return err
	}
	name := cmd.String("name")
	if name == "" {
		return usageError("--name must not be empty")
	}
	cfgPath, err := configPath(cmd)
	if err != nil {
		return configError(err)
	}
	if abs, err := filepath.Abs(cfgPath); err == nil {
		cfgPath = abs
	}
	exe, err := executablePath()
	if err != nil {
		return err
	}
	entry := installEntry{Command: exe, Env: map[string]string{}}
	if target.stdioType {
		entry.Type = "stdio"
	}
	if def, err := config.DefaultPath(); err != nil || filepath.Clean(def) != cfgPath {
		entry.Args = []string{"--config", cfgPath}
	}

	// The key: reuse --api-key, or issue a new one for --email/--project-name.
	dry := cmd.Bool("dry-run")
	var key, fp, stored, who string
	if k := cmd.String("api-key"); k != "" {
		c, _, err := loadAdminConfig(cmd)
		if err != nil {
			return err
		}
		p, err := authn.Authenticate(c, authn.Credentials{Key: secret.String(k)})
		if err != nil {
			return adminError("--api-key: %w", err)
		}
		key, fp, who = k, "fp:"+p.KeyFingerprint, fmt.Sprintf("%s in project %q", p.Email, p.ProjectName)
	} else if dry {
		c, _, err := loadAdminConfig(cmd)
		if err != nil {
			return err
		}
		uid, pid, err := installOwner(cmd, c)
		if err != nil {
			return err
		}
		key, who = dryRunKey, fmt.Sprintf("%s in project %q", userEmail(c, uid), projectName(c, pid))
	} else {
		err := updateAdminConfig(cmd, func(c *config.Config) error {
			uid, pid, err := installOwner(cmd, c)
			if err != nil {
				return err
			}
			if key, stored, err = issueKey(c, uid, pid, ""); err != nil {
				return err
			}
			fp, who = config.KeyFingerprint(stored), fmt.Sprintf("%s in project %q", userEmail(c, uid), projectName(c, pid))
			return nil
		})
		if err != nil {
			return err
		}
	}
	entry.Env[authn.EnvKey] = key

	// revoke undoes the new key when the client could not be configured.
	revoke := func(cause error) error {
		if stored == "" {
			return cause
		}
		err := updateAdminConfig(cmd, func(c *config.Config) error { delete(c.APIKeys, stored); return nil })
		return errors.Join(cause, err)
	}

	if client == "claude-code" {
		return installClaudeCode(ctx, cmd, name, entry, dry, fp, who, revoke)
	}
	merged, backup, err := mergeClientConfig(target, name, entry, dry)
	if err != nil {
		return revoke(err)
	}
	w := cmd.Root().Writer
	if dry {
		_, err := fmt.Fprintf(w, "Dry run: would write %s (%s) for %s:\n%s", target.path, target.label, who, merged)
		return err
	}
	v := map[string]any{"client": client, "path": target.path, "backup": backup, "server_name": name, "key_fingerprint": fp}
	return out(cmd, v, func(w io.Writer) error {
		fmt.Fprintf(w, "Installed %q into %s (%s)\n", name, target.label, target.path)
		if backup != "" {
			fmt.Fprintf(w, "Backup of the previous file: %s\n", backup)
		}
		fmt.Fprintf(w, "Gateway key %s for %s; revoke it alone with:\n  %s user delete-api-key --api-key %s\nRestart %s to load it.\n",
			fp, who, exe, fp, target.label)
		return nil
	})
}

// installOwner picks the user and project of a new install key: --email and
// --project-name, or the only user / the user's only project.
func installOwner(cmd *cli.Command, c *config.Config) (uid, pid string, err error) {
	if cmd.String("email") != "" {
		if uid, _, err = resolveUser(cmd, c); err != nil {
			return "", "", err
		}
	} else {
		if len(c.Users) != 1 {
			return "", "", usageError("the config has %d users; pass --email to choose whose key the client uses", len(c.Users))
		}
		for id := range c.Users {
			uid = id
		}
	}
	if cmd.String("project-name") != "" {
		if pid, _, err = resolveProject(cmd, c); err != nil {
			return "", "", err
		}
	} else {
		projects := c.ProjectsOf(uid)
		if len(projects) != 1 {
			return "", "", usageError("user %s is in %d projects; pass --project-name", userEmail(c, uid), len(projects))
		}
		pid = projects[0]
	}
	if c.Projects[pid].MCPConfigID == "" {
		return "", "", adminError("project %q has no MCP config, so its keys would be refused; run \"project assign-config\" first", projectName(c, pid))
	}
	return uid, pid, nil
}

// mergeClientConfig sets servers[name] = entry in the client's JSON file,
// keeping every other key and server. Unless dry, it backs up an existing
// file to <file>.bkp.<time> and writes the result atomically with mode
// 0600. It returns the merged JSON and the backup's path. A file that is not
// a JSON object is refused and left alone.
func mergeClientConfig(t clientTarget, name string, entry installEntry, dry bool) ([]byte, string, error) {
	top := map[string]json.RawMessage{}
	old, err := os.ReadFile(t.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		old = nil
	case err != nil:
		return nil, "", fmt.Errorf("read %s config %s: %w", t.label, t.path, err)
	case len(bytes.TrimSpace(old)) > 0:
		if err := json.Unmarshal(old, &top); err != nil || top == nil {
			return nil, "", adminError("%s config %s is not a JSON object (%v); fix or move it, then run install again (it was not changed)",
				t.label, t.path, err)
		}
	}
	servers := map[string]json.RawMessage{}
	if raw, ok := top[t.serverKey]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &servers); err != nil || servers == nil {
			return nil, "", adminError("%s config %s: %q is not a JSON object; fix it, then run install again (it was not changed)",
				t.label, t.path, t.serverKey)
		}
	}
	eb, err := marshalIndentPlain(entry, "    ")
	if err != nil {
		return nil, "", err
	}
	servers[name] = eb
	sb, err := marshalIndentPlain(servers, "  ")
	if err != nil {
		return nil, "", err
	}
	top[t.serverKey] = sb
	merged, err := marshalIndentPlain(top, "")
	if err != nil {
		return nil, "", err
	}
	merged = append(merged, '\n')
	if dry {
		return merged, "", nil
	}
	backup := ""
	if old != nil {
		backup = t.path + ".bkp." + time.Now().Format("20060102_150405.000000000")
		if err := writeFile0600(backup, old); err != nil {
			return nil, "", fmt.Errorf("back up %s config: %w", t.label, err)
		}
	}
	if err := writeFile0600(t.path, merged); err != nil {
		return nil, "", err
	}
	return merged, backup, nil
}

// marshalIndentPlain is json.MarshalIndent without HTML escaping.
func marshalIndentPlain(v any, prefix string) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent(prefix, "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// installClaudeCode registers the gateway with "claude mcp add" when the
// claude CLI is on PATH, else prints the command to run.
func installClaudeCode(ctx context.Context, cmd *cli.Command, name string, e installEntry, dry bool, fp, who string, revoke func(error) error) error {
	args := []string{"mcp", "add", "--transport", "stdio", "--scope", "user",
		"--env", authn.EnvKey + "=" + e.Env[authn.EnvKey], name, "--", e.Command}
	args = append(args, e.Args...)
	w := cmd.Root().Writer
	shown := "claude " + shellJoin(args)
	claude, err := exec.LookPath("claude")
	if dry || err != nil {
		why := "Dry run: would run"
		if !dry {
			why = "The claude CLI is not on PATH; run this to register the gateway (the key is shown only here)"
		}
		_, err := fmt.Fprintf(w, "%s:\n  %s\n", why, shown)
		return err
	}
	// Replace an earlier registration of the same name; a missing one is fine.
	_ = exec.CommandContext(ctx, claude, "mcp", "remove", name, "--scope", "user").Run()
	c := exec.CommandContext(ctx, claude, args...)
	var outBuf bytes.Buffer
	c.Stdout, c.Stderr = &outBuf, &outBuf
	if err := c.Run(); err != nil {
		return revoke(adminError("claude mcp add failed: %v\n%s", err, redactKey(outBuf.String(), e.Env[authn.EnvKey])))
	}
	return out(cmd, map[string]any{"client": "claude-code", "server_name": name, "key_fingerprint": fp}, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "Registered %q with Claude Code (user scope)\nGateway key %s for %s; revoke it alone with:\n  %s user delete-api-key --api-key %s\n",
			name, fp, who, e.Command, fp)
		return err
	})
}

// shellJoin quotes args for a POSIX shell.
func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:@,+", r))
		}) < 0 {
			out[i] = a
			continue
		}
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(out, " ")
}

// redactKey removes key from s.
func redactKey(s, key string) string {
	var r secret.Redactor
	r.Add(key)
	return r.Redact(s)
}
