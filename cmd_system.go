package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/urfave/cli/v3"

	"secure-mcp-gateway/admin"
	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/upstream"
)

// backupVersion is the version of the file "system backup" writes, the
// Python gateway's {backup_version, timestamp, config}.
const backupVersion = "1.0"

// systemCommand is the "system" group: whole-file checks and maintenance.
func systemCommand() *cli.Command {
	return &cli.Command{
		Name:  "system",
		Usage: "check, back up, restore, reset the config file, and hash legacy keys",
		Commands: []*cli.Command{
			{Name: "health-check", Usage: "report broken references, duplicates and plaintext keys (exit 1 on issues)",
				Flags: []cli.Flag{jsonFlag, sandboxCheckFlag}, Action: systemHealthCheck},
			{Name: "backup", Usage: "write the whole config to a backup file", Flags: []cli.Flag{jsonFlag,
				&cli.StringFlag{Name: "output-file", Usage: "file to write (mode 0600)"}}, Action: systemBackup},
			{Name: "restore", Usage: "replace the config with a backup file (the current one is backed up first)", Flags: []cli.Flag{jsonFlag,
				&cli.StringFlag{Name: "input-file", Usage: "file written by system backup (or a plain config file)"}}, Action: systemRestore},
			{Name: "reset", Usage: "delete every MCP config, project, user and key (settings are kept)", Flags: []cli.Flag{jsonFlag,
				&cli.BoolFlag{Name: "confirm", Usage: "required: really reset"}}, Action: systemReset},
			{Name: "hash-keys", Usage: "replace legacy plaintext gateway keys with their sha256: hashes (the keys keep working)",
				Flags: []cli.Flag{jsonFlag}, Action: systemHashKeys},
		},
	}
}

// healthReport is the result of health-check.
type healthReport struct {
	Healthy  bool           `json:"healthy"`
	Issues   []string       `json:"issues"`
	Warnings []string       `json:"warnings"`
	Stats    map[string]int `json:"stats"`
	// Sandbox says which sandbox runtimes and containment mechanisms work
	// on this machine; present with --sandbox or when a server has a
	// sandbox or limits.
	Sandbox []upstream.Mechanism `json:"sandbox,omitempty"`
}

func systemHealthCheck(_ context.Context, cmd *cli.Command) error {
	path, err := configPath(cmd)
	if err != nil {
		return configError(err)
	}
	c, cr, err := checkConfigFile(cmd, path, "")
	if err != nil {
		return err
	}
	r := healthReport{Issues: cr.Errors, Warnings: cr.Warnings}
	if c == nil { // the file does not parse: its problems are the report
		c = &config.Config{}
	}
	emails := map[string][]string{}
	for _, id := range slices.Sorted(maps.Keys(c.Users)) {
		if u := c.Users[id]; u != nil {
			emails[strings.ToLower(u.Email)] = append(emails[strings.ToLower(u.Email)], id)
		}
	}
	for _, e := range slices.Sorted(maps.Keys(emails)) {
		if ids := emails[e]; len(ids) > 1 {
			r.Issues = append(r.Issues, fmt.Sprintf("email %s is used by %d users (%s); give each user a distinct email", e, len(ids), strings.Join(ids, ", ")))
		}
	}
	dupNames := func(kind string, byName map[string][]string) {
		for _, n := range slices.Sorted(maps.Keys(byName)) {
			if ids := byName[n]; len(ids) > 1 {
				r.Warnings = append(r.Warnings, fmt.Sprintf("%d %ss are named %q; refer to them by ID or rename one", len(ids), kind, n))
			}
		}
	}
	cfgNames, projNames := map[string][]string{}, map[string][]string{}
	for id, m := range c.MCPConfigs {
		if m != nil {
			cfgNames[m.Name] = append(cfgNames[m.Name], id)
		}
	}
	for id, p := range c.Projects {
		if p != nil {
			projNames[p.Name] = append(projNames[p.Name], id)
		}
	}
	dupNames("config", cfgNames)
	dupNames("project", projNames)
	for _, id := range sortedIDs(c.Projects, func(id string) string { return projectName(c, id) }) {
		if p := c.Projects[id]; p != nil && p.MCPConfigID == "" && len(c.APIKeysOf("", id)) > 0 {
			r.Warnings = append(r.Warnings, fmt.Sprintf("project %q has keys but no MCP config; its keys are refused\n  hint: project assign-config --project-name %s --config-name NAME", p.Name, p.Name))
		}
	}
	plain, disabled := 0, 0
	for _, k := range slices.Sorted(maps.Keys(c.APIKeys)) {
		rec := c.APIKeys[k]
		if !config.KeyHashed(k) {
			plain++
		}
		if rec == nil {
			continue
		}
		if rec.Disabled {
			disabled++
		}
		if p := c.Projects[rec.ProjectID]; p != nil && c.Users[rec.UserID] != nil && !slices.Contains(p.Users, rec.UserID) {
			r.Warnings = append(r.Warnings, fmt.Sprintf("key %s of %s belongs to project %q, which does not list the user\n  hint: project add-user, or user delete-api-key",
				config.KeyFingerprint(k), userEmail(c, rec.UserID), p.Name))
		}
	}
	if plain > 0 {
		r.Warnings = append(r.Warnings, fmt.Sprintf("%d gateway key(s) are stored in plain text\n  hint: secure-mcp-gateway system hash-keys", plain))
	}
	servers := 0
	for _, m := range c.MCPConfigs {
		if m != nil {
			servers += len(m.Servers)
		}
	}
	r.Stats = map[string]int{"mcp_configs": len(c.MCPConfigs), "servers": servers, "projects": len(c.Projects),
		"users": len(c.Users), "api_keys": len(c.APIKeys), "disabled_api_keys": disabled, "plaintext_api_keys": plain}
	sbIssues, mechs := sandboxHealth(c, cmd.Bool(sandboxCheckFlag.Name))
	r.Issues, r.Sandbox = append(r.Issues, sbIssues...), mechs
	r.Healthy = len(r.Issues) == 0
	err = out(cmd, r, func(w io.Writer) error {
		status := "healthy"
		if !r.Healthy {
			status = fmt.Sprintf("%d issue(s)", len(r.Issues))
		}
		fmt.Fprintf(w, "Config %s: %s\n", path, status)
		for _, s := range r.Issues {
			fmt.Fprintf(w, "issue: %s\n", s)
		}
		for _, s := range r.Warnings {
			fmt.Fprintf(w, "warning: %s\n", s)
		}
		var t [][]string
		for _, k := range slices.Sorted(maps.Keys(r.Stats)) {
			t = append(t, []string{k, fmt.Sprint(r.Stats[k])})
		}
		fmt.Fprintln(w)
		if err := printTable(w, []string{"STAT", "COUNT"}, t); err != nil || len(r.Sandbox) == 0 {
			return err
		}
		fmt.Fprintln(w)
		return printTable(w, []string{"SANDBOX", "WORKS", "DETAIL"}, mechanismRows(r.Sandbox))
	})
	if err != nil {
		return err
	}
	if !r.Healthy {
		return cli.Exit(fmt.Errorf("health check found %d issue(s)", len(r.Issues)), 1)
	}
	return nil
}

func systemBackup(_ context.Context, cmd *cli.Command) error {
	file := cmd.String("output-file")
	if file == "" {
		return usageError("--output-file is required")
	}
	c, _, err := loadAdminConfig(cmd)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(map[string]any{"backup_version": backupVersion, "timestamp": timestamp(), "config": c}, "", "  ")
	if err != nil {
		return fmt.Errorf("back up config: %w", err)
	}
	if err := writeFile0600(file, append(b, '\n')); err != nil {
		return err
	}
	return done(cmd, fmt.Sprintf("Backed up the config to %s (it holds key hashes and secrets; mode 0600)", file), map[string]any{"file": file})
}

func systemRestore(ctx context.Context, cmd *cli.Command) error {
	file := cmd.String("input-file")
	if file == "" {
		return usageError("--input-file is required")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return usageError("--input-file: %w", err)
	}
	var wrapper struct {
		Version string          `json:"backup_version"`
		Config  json.RawMessage `json:"config"`
	}
	if err := json.Unmarshal(data, &wrapper); err == nil && wrapper.Version != "" {
		if wrapper.Version != backupVersion {
			return adminError("restore %s: backup_version %q is not %q", file, wrapper.Version, backupVersion)
		}
		data = wrapper.Config
	}
	c, err := config.Parse(data)
	if err != nil {
		return adminError("restore %s: %w", file, err)
	}
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	var ie *admin.InvalidError
	if err := st.Restore(ctx, c); errors.As(err, &ie) {
		return adminError("restore %s: the backup is not a valid config:\n%w", file, ie.Err)
	} else if err != nil {
		return configError(err)
	}
	path := st.Path()
	return done(cmd, fmt.Sprintf("Restored %s from %s (the previous file was backed up beside it)", path, file), nil)
}

func systemReset(ctx context.Context, cmd *cli.Command) error {
	if !cmd.Bool("confirm") {
		return usageError("reset deletes every MCP config, project, user and gateway key\nhint: pass --confirm to do it (a backup is kept)")
	}
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	if err := st.Reset(ctx); err != nil {
		return cliError(err)
	}
	return done(cmd, "Reset the config: no MCP configs, projects, users or keys remain (settings kept; the old file is backed up)", nil)
}

func systemHashKeys(ctx context.Context, cmd *cli.Command) error {
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	n, err := st.HashKeys(ctx)
	if err != nil {
		return cliError(err)
	}
	return done(cmd, fmt.Sprintf("Hashed %d plaintext gateway key(s); clients keep using the same keys", n), map[string]any{"hashed": n})
}
