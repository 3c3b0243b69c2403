package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/urfave/cli/v3"

	"secure-mcp-gateway/admin"
	"secure-mcp-gateway/internal/config"
)

//go:generate go run . config schema --output-file docs/config.schema.json

// configCommand is the "config" group: MCP configs and their servers.
func configCommand() *cli.Command {
	withRef := func(flags ...cli.Flag) []cli.Flag {
		return append(append(configRefFlags(), jsonFlag), flags...)
	}
	serverName := &cli.StringFlag{Name: "server-name", Usage: "the server's name (becomes the tool prefix)"}
	return &cli.Command{
		Name:  "config",
		Usage: "manage MCP configs: named lists of upstream servers assigned to projects",
		Commands: []*cli.Command{
			{Name: "list", Usage: "list MCP configs", Flags: []cli.Flag{jsonFlag}, Action: configList},
			{Name: "add", Usage: "create an empty MCP config", Flags: []cli.Flag{jsonFlag,
				&cli.StringFlag{Name: "config-name", Usage: "the new config's name"}}, Action: configAdd},
			{Name: "copy", Usage: "copy an MCP config and its servers under a new name", Flags: []cli.Flag{jsonFlag,
				&cli.StringFlag{Name: "source-config", Usage: "name or ID of the config to copy"},
				&cli.StringFlag{Name: "target-config", Usage: "name of the new config"}}, Action: configCopy},
			{Name: "rename", Usage: "rename an MCP config", Flags: withRef(
				&cli.StringFlag{Name: "new-name", Usage: "the config's new name"}), Action: configRename},
			{Name: "get", Usage: "show an MCP config", Flags: withRef(), Action: configGet},
			{Name: "remove", Usage: "delete an MCP config no project uses", Flags: withRef(), Action: configRemove},
			{Name: "list-projects", Usage: "list the projects that use an MCP config", Flags: withRef(), Action: configListProjects},
			{Name: "list-servers", Usage: "list the servers of an MCP config", Flags: withRef(), Action: configListServers},
			{Name: "get-server", Usage: "show one server (secrets masked)", Flags: withRef(serverName), Action: configGetServer},
			{Name: "add-server", Usage: "add a server to an MCP config, with the default offline guardrails unless --guardrails off",
				Description: "Example:\n  secure-mcp-gateway config add-server --config-name default_config --server-name github \\\n" +
					"    --server-command /usr/local/bin/github-mcp-server --arg stdio --env '{\"GITHUB_TOKEN\":\"...\"}' \\\n" +
					"    --denied-tools '[\"delete_*\",{\"name\":\"merge_pull_request\",\"reason\":\"needs review\"}]'",
				Flags: withRef(serverFlags(true)...), DisableSliceFlagSeparator: true, Action: configAddServer},
			{Name: "update-server", Usage: "change the given fields of a server", Flags: withRef(serverFlags(false)...),
				DisableSliceFlagSeparator: true, Action: configUpdateServer},
			configUpdateServerSandboxCommand(serverName),
			{Name: "remove-server", Usage: "remove a server from an MCP config", Flags: withRef(serverName), Action: configRemoveServer},
			{Name: "remove-all-servers", Usage: "remove every server of an MCP config", Flags: withRef(), Action: configRemoveAllServers},
			{Name: "validate", Usage: "check the whole config file (or one MCP config) and report every problem (exit 1 on errors)",
				Description: "Reports unknown detector names, policies that fail closed for want of a guardrail provider (with the\n" +
					"command that fixes each), and keys the gateway does not know (warnings; errors with --strict).\n\n" +
					"Example:\n  secure-mcp-gateway config validate\n  secure-mcp-gateway config validate --config-name default_config --strict",
				Flags: withRef(), Action: configValidate},
			{Name: "schema", Usage: "print the JSON Schema of the config file (the one in docs/config.schema.json)",
				Description: "Editors that read \"$schema\" flag unknown keys and detector names while you type.\n\n" +
					"Example:\n  secure-mcp-gateway config schema --output-file ~/.enkrypt/" + config.SchemaFileName,
				Flags:  []cli.Flag{&cli.StringFlag{Name: "output-file", Usage: "write it to this file instead of stdout"}},
				Action: configSchema},
			{Name: "export", Usage: "write an MCP config to a file", Flags: withRef(
				&cli.StringFlag{Name: "output-file", Usage: "file to write (mode 0600)"}), Action: configExport},
			{Name: "import", Usage: "add an MCP config from a file written by export", Flags: []cli.Flag{jsonFlag,
				&cli.StringFlag{Name: "input-file", Usage: "file to read"},
				&cli.StringFlag{Name: "config-name", Usage: "name of the new config"}}, Action: configImport},
			{Name: "search", Usage: "find configs and servers by name, description or command", Flags: []cli.Flag{jsonFlag,
				&cli.StringFlag{Name: "search-term", Usage: "text to look for (case-insensitive)"}}, Action: configSearch},
			{Name: "update-server-input-guardrails", Usage: "set a server's input guardrails policy",
				Flags: withRef(serverName, policyFlag("policy"), policyFileFlag("policy-file"), presetFlag()), Action: configUpdatePolicy("input")},
			{Name: "update-server-output-guardrails", Usage: "set a server's output guardrails policy",
				Flags: withRef(serverName, policyFlag("policy"), policyFileFlag("policy-file"), presetFlag()), Action: configUpdatePolicy("output")},
			{Name: "update-server-tool-guardrails", Usage: "set a server's tool-definition guardrails policy (tool_guardrails_policy)",
				Description: "Tool-definition checks run offline; detectors that need a provider are not allowed here.\n\n" +
					"Example:\n  secure-mcp-gateway config update-server-tool-guardrails --config-name default_config --server-name github --preset default",
				Flags: withRef(serverName, policyFlag("policy"), policyFileFlag("policy-file"), presetFlag()), Action: configUpdatePolicy("tool")},
			{Name: "update-server-guardrails", Usage: "set a server's input and output guardrails policies",
				Flags: withRef(serverName, policyFlag("input-policy"), policyFileFlag("input-policy-file"),
					policyFlag("output-policy"), policyFileFlag("output-policy-file"), presetFlag()), Action: configUpdatePolicy("both")},
		},
	}
}

func configList(ctx context.Context, cmd *cli.Command) error {
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	rows, err := st.ListConfigs(ctx)
	if err != nil {
		return cliError(err)
	}
	return out(cmd, rows, func(w io.Writer) error {
		var t [][]string
		for _, r := range rows {
			t = append(t, []string{r.Name, r.ID, orDash(strings.Join(r.Servers, ", ")), orDash(strings.Join(r.Projects, ", "))})
		}
		return printTable(w, []string{"NAME", "ID", "SERVERS", "PROJECTS"}, t)
	})
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func configAdd(ctx context.Context, cmd *cli.Command) error {
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	r, err := st.AddConfig(ctx, admin.AddConfigRequest{ConfigName: cmd.String("config-name")})
	if err != nil {
		return cliError(err)
	}
	return done(cmd, fmt.Sprintf("Created MCP config %q (ID %s)", r.Name, r.ID), map[string]any{"id": r.ID, "name": r.Name})
}

func configCopy(ctx context.Context, cmd *cli.Command) error {
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	r, err := st.CopyConfig(ctx, admin.CopyConfigRequest{SourceConfig: cmd.String("source-config"), TargetConfig: cmd.String("target-config")})
	if err != nil {
		return cliError(err)
	}
	return done(cmd, fmt.Sprintf("Copied MCP config %q to %q (ID %s)", r.SourceName, r.Name, r.ID), map[string]any{"id": r.ID, "name": r.Name})
}

func configRename(ctx context.Context, cmd *cli.Command) error {
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	r, err := st.RenameConfig(ctx, admin.RenameConfigRequest{Config: configRef(cmd), NewName: cmd.String("new-name")})
	if err != nil {
		return cliError(err)
	}
	return done(cmd, fmt.Sprintf("Renamed MCP config %q to %q", r.OldName, r.Name), map[string]any{"id": r.ID, "name": r.Name})
}

// shownServer returns a copy of s that is safe to print; see admin.ShownServer.
func shownServer(s *config.Server) *config.Server { return admin.ShownServer(s) }

func configGet(ctx context.Context, cmd *cli.Command) error {
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	d, err := st.GetConfig(ctx, configRef(cmd))
	if err != nil {
		return cliError(err)
	}
	v := map[string]any{"id": d.ID, "name": d.Name, "projects": d.Projects, "servers": d.Servers}
	return out(cmd, v, func(w io.Writer) error {
		fmt.Fprintf(w, "Name:      %s\nID:        %s\nProjects:  %s\n\n", d.Name, d.ID, orDash(strings.Join(d.Projects, ", ")))
		return serverTable(w, d.Servers)
	})
}

func configRemove(ctx context.Context, cmd *cli.Command) error {
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	name, err := st.RemoveConfig(ctx, configRef(cmd))
	if err != nil {
		return cliError(err)
	}
	return done(cmd, fmt.Sprintf("Removed MCP config %q", name), nil)
}

func configListProjects(ctx context.Context, cmd *cli.Command) error {
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	c, ids, err := st.ConfigProjects(ctx, configRef(cmd))
	if err != nil {
		return cliError(err)
	}
	rows := []projectRow{}
	for _, p := range ids {
		rows = append(rows, projectRowOf(c, p))
	}
	return out(cmd, rows, func(w io.Writer) error { return projectTable(w, rows) })
}

// checkReport is what validate and health-check find in a config file.
type checkReport struct {
	Errors   []string          `json:"errors"`
	Warnings []string          `json:"warnings"`
	Provider []providerProblem `json:"provider_problems"`
}

// checkConfigFile reads path and collects every problem: the file's
// structure and meaning (unknown detector names among them), policies that
// fail closed for want of a guardrail provider, and unknown keys
// (warnings, or errors with --strict). only, when not empty, limits the
// per-server checks to that MCP config ID. A file that cannot be parsed
// yields its parse problems as errors and a nil config.
func checkConfigFile(cmd *cli.Command, path, only string) (*config.Config, *checkReport, error) {
	r := &checkReport{Errors: []string{}, Warnings: []string{}, Provider: []providerProblem{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		err = fmt.Errorf("%w\nhint: run \"secure-mcp-gateway generate-config\" or pass --config PATH", fs.ErrNotExist)
	}
	if err != nil {
		return nil, nil, configError(&config.FileError{Path: path, Err: err})
	}
	c, err := config.Parse(data)
	var ve *config.ValidationError
	if errors.As(err, &ve) {
		for _, p := range ve.Problems {
			r.Errors = append(r.Errors, p.Error())
		}
		return nil, r, nil
	}
	if err != nil {
		r.Errors = append(r.Errors, err.Error())
		return nil, r, nil
	}
	if err := c.Validate(checkDetectors); errors.As(err, &ve) {
		for _, p := range ve.Problems {
			r.Errors = append(r.Errors, p.Error())
		}
	}
	for _, u := range c.UnknownKeys() {
		if cmd.Bool("strict") {
			r.Errors = append(r.Errors, u.Error())
		} else {
			r.Warnings = append(r.Warnings, u.Error())
		}
	}
	for _, id := range sortedIDs(c.MCPConfigs, func(id string) string { return configName(c, id) }) {
		m := c.MCPConfigs[id]
		if m == nil || only != "" && id != only {
			continue
		}
		for _, p := range providerProblems(c, m.Name, m.Servers) {
			r.Provider = append(r.Provider, p)
			r.Errors = append(r.Errors, p.Line+"\n  hint: "+p.Fix)
		}
		for i, s := range m.Servers {
			if s != nil && s.Config.Command != "" && !strings.ContainsAny(s.Config.Command, `/\`) {
				r.Warnings = append(r.Warnings, fmt.Sprintf("MCP config %q, mcp_config[%d] (%s): command %q is looked up on PATH\n  hint: give its absolute path with config update-server --server-command", m.Name, i, s.Name, s.Config.Command))
			}
		}
	}
	return c, r, nil
}

func configValidate(_ context.Context, cmd *cli.Command) error {
	path, err := configPath(cmd)
	if err != nil {
		return configError(err)
	}
	only, scope := "", "config file "+path
	if cmd.IsSet("config-name") || cmd.IsSet("config-id") {
		// A named MCP config still needs a file that reads, to find it.
		c, err := config.Load(path, checkDetectors)
		if err != nil {
			return cli.Exit(err, 1)
		}
		id, m, err := resolveConfig(cmd, c)
		if err != nil {
			return err
		}
		only, scope = id, fmt.Sprintf("MCP config %q", m.Name)
	}
	c, r, err := checkConfigFile(cmd, path, only)
	if err != nil {
		return err
	}
	servers := 0
	if c != nil {
		for id, m := range c.MCPConfigs {
			if m != nil && (only == "" || id == only) {
				servers += len(m.Servers)
			}
		}
	}
	v := map[string]any{"file": path, "valid": len(r.Errors) == 0, "errors": r.Errors, "warnings": r.Warnings, "provider_problems": r.Provider}
	if err := out(cmd, v, func(w io.Writer) error {
		if len(r.Errors) == 0 {
			fmt.Fprintf(w, "%s is valid (%d server(s))\n", upperFirst(scope), servers)
		}
		for _, p := range r.Errors {
			fmt.Fprintf(w, "error: %s\n", p)
		}
		for _, p := range r.Warnings {
			fmt.Fprintf(w, "warning: %s\n", p)
		}
		return nil
	}); err != nil {
		return err
	}
	if len(r.Errors) > 0 {
		return cli.Exit(fmt.Errorf("%s has %d problem(s); it is refused until they are fixed", scope, len(r.Errors)), 1)
	}
	return nil
}

func configSchema(_ context.Context, cmd *cli.Command) error {
	b, err := config.Schema(detectorTable())
	if err != nil {
		return err
	}
	if f := cmd.String("output-file"); f != "" {
		if err := os.WriteFile(f, b, 0o644); err != nil {
			return fmt.Errorf("write schema: %w", err)
		}
		return nil
	}
	_, err = cmd.Root().Writer.Write(b)
	return err
}

// upperFirst capitalises the first letter of s.
func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func configExport(ctx context.Context, cmd *cli.Command) error {
	file := cmd.String("output-file")
	if file == "" {
		return usageError("--output-file is required")
	}
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	m, err := st.ExportConfig(ctx, configRef(cmd))
	if err != nil {
		return cliError(err)
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("export config: %w", err)
	}
	if err := writeFile0600(file, append(data, '\n')); err != nil {
		return err
	}
	return done(cmd, fmt.Sprintf("Exported MCP config %q to %s (it may hold secrets in env values; mode 0600)", m.Name, file), map[string]any{"file": file})
}

func configImport(ctx context.Context, cmd *cli.Command) error {
	file := cmd.String("input-file")
	if file == "" {
		return usageError("--input-file is required")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return usageError("--input-file: %w", err)
	}
	var m config.MCPConfig
	if err := json.Unmarshal(data, &m); err != nil {
		return adminError("import %s: not an exported MCP config: %w", file, err)
	}
	if m.Servers == nil {
		return adminError("import %s: no \"mcp_config\" server list\nhint: pass a file written by \"config export\"", file)
	}
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	r, err := st.ImportConfig(ctx, admin.ImportConfigRequest{ConfigName: cmd.String("config-name"), Config: &m})
	if err != nil {
		return cliError(err)
	}
	return done(cmd, fmt.Sprintf("Imported MCP config %q (ID %s) with %d server(s)", r.Name, r.ID, len(m.Servers)), map[string]any{"id": r.ID, "name": r.Name})
}

// searchHit is one search result.
type searchHit = admin.SearchHit

func searchTable(cmd *cli.Command, hits []searchHit) error {
	if hits == nil {
		hits = []searchHit{}
	}
	return out(cmd, hits, func(w io.Writer) error {
		var t [][]string
		for _, h := range hits {
			t = append(t, []string{h.Type, h.Name, h.ID, h.Match})
		}
		return printTable(w, []string{"TYPE", "NAME", "ID", "MATCH"}, t)
	})
}

func searchTerm(cmd *cli.Command) (string, error) {
	term := strings.ToLower(strings.TrimSpace(cmd.String("search-term")))
	if term == "" {
		return "", usageError("--search-term is required")
	}
	return term, nil
}

func configSearch(ctx context.Context, cmd *cli.Command) error {
	term, err := searchTerm(cmd)
	if err != nil {
		return err
	}
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	hits, err := st.SearchConfigs(ctx, term)
	if err != nil {
		return cliError(err)
	}
	return searchTable(cmd, hits)
}
