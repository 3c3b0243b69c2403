package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
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
			"Each install gets its own key, so it can be revoked alone (user delete-api-key --api-key fp:...); installing\n" +
			"again for the same client and user disables the key it replaces (--keep-old-key keeps it working).\n" +
			"VS Code's .vscode/mcp.json lives in a workspace that is often committed, so it never holds the key: VS Code\n" +
			"prompts for it once (a password input) and stores it in its secret storage.\n\n" +
			"Config files: claude-desktop ~/Library/Application Support/Claude/claude_desktop_config.json (macOS),\n" +
			"  %APPDATA%\\Claude\\claude_desktop_config.json (Windows), ~/.config/Claude/claude_desktop_config.json (Linux);\n" +
			"  cursor ~/.cursor/mcp.json; windsurf ~/.codeium/windsurf/mcp_config.json; vscode ./.vscode/mcp.json;\n" +
			"  claude-code: registered with `claude mcp add`.\n\n" +
			"Example:\n  secure-mcp-gateway install --client claude-desktop\n  secure-mcp-gateway install --print zed",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "client", Usage: strings.Join(installClients, ", ") + " (claude = claude-desktop)"},
			&cli.StringFlag{Name: "email", Usage: "user the key is for (default: the only user)"},
			&cli.StringFlag{Name: "project-name", Usage: "project the key is for (default: the only project of the user)"},
			&cli.StringFlag{Name: "api-key", Usage: "reuse this existing gateway key instead of making a new one"},
			&cli.StringFlag{Name: "name", Value: DefaultInstallName, Usage: "server name in the client's config"},
			&cli.BoolFlag{Name: "dry-run", Usage: "print the client config that would be written, and write nothing"},
			&cli.BoolFlag{Name: "keep-old-key", Usage: "leave the key of an earlier install for this client and user working"},
			&cli.StringFlag{Name: "print", Usage: "for a client we do not edit (any name): issue a key and print the server entry to paste, changing no client file"},
			&cli.BoolFlag{Name: "hooks", Usage: "also add the guardrail hooks for the client's own tools and prompts (claude-code, cursor): secure-mcp-gateway-hook when it sits next to this binary, else secure-mcp-gateway hook"},
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
	// secretInput: the file is a workspace file, so the key goes into a
	// password input ("inputs") and the entry references it.
	secretInput bool
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
		return clientTarget{"Claude Desktop", filepath.Join(dir, "claude_desktop_config.json"), "mcpServers", false, false}, nil
	case "cursor":
		return clientTarget{"Cursor", filepath.Join(home, ".cursor", "mcp.json"), "mcpServers", false, false}, nil
	case "windsurf":
		return clientTarget{"Windsurf", filepath.Join(home, ".codeium", "windsurf", "mcp_config.json"), "mcpServers", false, false}, nil
	case "vscode":
		wd, err := os.Getwd()
		if err != nil {
			return clientTarget{}, fmt.Errorf("find the current folder: %w", err)
		}
		return clientTarget{"VS Code", filepath.Join(wd, ".vscode", "mcp.json"), "servers", true, true}, nil
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
	if client == "" && cmd.Args().Present() {
		client = cmd.Args().First() // install claude-code --hooks
	}
	printOnly := cmd.String("print")
	if printOnly != "" && cmd.Bool("hooks") {
		return usageError("--hooks edits the client's hooks file, so it does not go with --print")
	}
	if printOnly != "" {
		if client != "" {
			return usageError("give only one of --client and --print")
		}
		client = printOnly
	}
	if client == "" {
		return usageError("--client is required: one of %s\nhint: for another client, --print NAME prints the entry to paste", strings.Join(installClients, ", "))
	}
	target, err := clientTargetFor(client)
	if printOnly != "" {
		// Any client: the common "mcpServers" shape, unless we know its own.
		if err != nil || target.path == "" {
			target = clientTarget{label: printOnly, serverKey: "mcpServers"}
		}
		target.path, err = "", nil
	}
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
	installedFor := client + ":" + target.path
	if printOnly != "" {
		installedFor = "print:" + printOnly
	}
	oldKey := ""
	if target.path != "" {
		oldKey = clientEntryKey(target, name)
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
			c.APIKeys[stored].InstalledFor = installedFor
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

	if printOnly != "" {
		return printInstallEntry(cmd, target, name, entry, fp, who, exe)
	}
	var hooks *hookInstall
	if cmd.Bool("hooks") {
		if hooks, err = installClientHooks(client, exe, entry.Args, dry); err != nil {
			return revoke(err)
		}
	}
	if client == "claude-code" {
		if err := installClaudeCode(ctx, cmd, name, entry, dry, fp, who, revoke); err != nil {
			return err
		}
		if !cmd.Bool("json") {
			reportHooks(cmd.Root().Writer, hooks, dry)
		}
		if dry {
			return nil
		}
		return disableReplacedKeys(cmd, stored, installedFor, "")
	}
	keyInFile := key
	if target.secretInput {
		// The workspace file gets a reference; VS Code prompts for the key.
		entry.Env[authn.EnvKey] = "${input:" + vscodeInputID(name) + "}"
	}
	merged, backup, err := mergeClientConfig(target, name, entry, dry)
	if err != nil {
		return revoke(err)
	}
	w := cmd.Root().Writer
	if dry {
		_, err := fmt.Fprintf(w, "Dry run: would write %s (%s) for %s:\n%s", target.path, target.label, who, merged)
		reportHooks(w, hooks, dry)
		return err
	}
	v := map[string]any{"client": client, "path": target.path, "backup": backup, "server_name": name, "key_fingerprint": fp}
	if hooks != nil {
		v["hooks_path"], v["hooks_backup"] = hooks.path, hooks.backup
	}
	if err := out(cmd, v, func(w io.Writer) error {
		reportHooks(w, hooks, false)
		fmt.Fprintf(w, "Installed %q into %s: changed %s\n", name, target.label, target.path)
		if backup != "" {
			fmt.Fprintf(w, "Backup of the previous file: %s\n", backup)
		} else {
			fmt.Fprintf(w, "The file is new, so there was nothing to back up.\n")
		}
		if target.secretInput {
			fmt.Fprintf(w, "The file holds no key: VS Code asks for it (a password prompt) the first time it starts the server.\n"+
				"Paste this key there (shown once; only its hash is stored):\n  %s\n", keyInFile)
		}
		fmt.Fprintf(w, "Gateway key %s for %s; revoke it alone with:\n  %s user delete-api-key --api-key %s\nRestart %s to load it.\n",
			fp, who, exe, fp, target.label)
		return nil
	}); err != nil {
		return err
	}
	return disableReplacedKeys(cmd, stored, installedFor, oldKey)
}

// vscodeInputID is the id of the password input holding the key of the
// server name in .vscode/mcp.json.
func vscodeInputID(name string) string { return name + "-gateway-key" }

// clientEntryKey returns the gateway key in the env of the server entry
// name of the client's file, if there is one in plain text.
func clientEntryKey(t clientTarget, name string) string {
	b, err := os.ReadFile(t.path)
	if err != nil {
		return ""
	}
	var top map[string]map[string]struct {
		Env map[string]string `json:"env"`
	}
	if json.Unmarshal(b, &top) != nil {
		return ""
	}
	k := top[t.serverKey][name].Env[authn.EnvKey]
	if strings.HasPrefix(k, "${") {
		return ""
	}
	return k
}

// disableReplacedKeys disables, unless --keep-old-key, the keys an earlier
// install put where this one (stored) now is: those recorded as installed
// for the same client and file and user, and oldKey, the key the client's
// file held, when it is the same user's. It says what it did.
func disableReplacedKeys(cmd *cli.Command, stored, installedFor, oldKey string) error {
	w := cmd.Root().Writer
	var disabled []string
	keep := cmd.Bool("keep-old-key")
	var kept []string
	err := updateAdminConfig(cmd, func(c *config.Config) error {
		rec := c.APIKeys[stored]
		if rec == nil {
			return nil
		}
		old := map[string]bool{}
		for k, r := range c.APIKeys {
			if k != stored && r != nil && !r.Disabled && r.InstalledFor == installedFor && r.UserID == rec.UserID {
				old[k] = true
			}
		}
		if oldKey != "" {
			for _, k := range c.FindAPIKeys(oldKey, authn.HashKey) {
				if r := c.APIKeys[k]; k != stored && r != nil && !r.Disabled && r.UserID == rec.UserID {
					old[k] = true
				}
			}
		}
		for _, k := range slices.Sorted(maps.Keys(old)) {
			if keep {
				kept = append(kept, config.KeyFingerprint(k))
				continue
			}
			c.APIKeys[k].Disabled, c.APIKeys[k].DisabledAt = true, timestamp()
			disabled = append(disabled, config.KeyFingerprint(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if cmd.Bool("json") {
		return nil
	}
	if len(disabled) > 0 {
		fmt.Fprintf(w, "Disabled the key(s) this install replaces: %s (re-enable one with user enable-api-key --api-key FP, or pass --keep-old-key next time)\n", strings.Join(disabled, ", "))
	}
	if len(kept) > 0 {
		fmt.Fprintf(w, "Kept the earlier key(s) working (--keep-old-key): %s\n", strings.Join(kept, ", "))
	}
	return nil
}

// printInstallEntry prints the server entry for a client whose file we do
// not edit.
func printInstallEntry(cmd *cli.Command, t clientTarget, name string, e installEntry, fp, who, exe string) error {
	b, err := marshalIndentPlain(map[string]any{t.serverKey: map[string]any{name: e}}, "")
	if err != nil {
		return err
	}
	return out(cmd, map[string]any{"client": t.label, "server_name": name, "key_fingerprint": fp, "entry": json.RawMessage(b)}, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "Add this to %s's MCP config (it holds the key in plain text: keep the file private, out of git):\n%s\n"+
			"Gateway key %s for %s; revoke it alone with:\n  %s user delete-api-key --api-key %s\n", t.label, b, fp, who, exe, fp)
		return err
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
			return "", "", usageError("the config has %d users\nhint: pass --email to choose whose key the client uses", len(c.Users))
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
			return "", "", usageError("user %s is in %d projects\nhint: pass --project-name", userEmail(c, uid), len(projects))
		}
		pid = projects[0]
	}
	if c.Projects[pid].MCPConfigID == "" {
		return "", "", adminError("project %q has no MCP config, so its keys would be refused\nhint: run \"secure-mcp-gateway project assign-config --project-name %s --config-name NAME\" first", projectName(c, pid), projectName(c, pid))
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
	if t.secretInput {
		ib, err := mergeSecretInput(top["inputs"], vscodeInputID(name))
		if err != nil {
			return nil, "", adminError("%s config %s: %v; fix it, then run install again (it was not changed)", t.label, t.path, err)
		}
		top["inputs"] = ib
	}
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

// mergeSecretInput returns the "inputs" list raw with a password prompt of
// the given id, replacing an earlier input of that id and keeping others.
func mergeSecretInput(raw json.RawMessage, id string) (json.RawMessage, error) {
	var inputs []map[string]any
	if len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &inputs); err != nil {
			return nil, errors.New(`"inputs" is not a JSON array of objects`)
		}
	}
	inputs = slices.DeleteFunc(inputs, func(in map[string]any) bool { return in["id"] == id })
	inputs = append(inputs, map[string]any{"type": "promptString", "id": id, "password": true,
		"description": "Secure MCP Gateway key (printed once by secure-mcp-gateway install)"})
	return marshalIndentPlain(inputs, "  ")
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
