package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/urfave/cli/v3"

	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/internal/secret"
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

func policyFlag(name string) cli.Flag {
	return &cli.StringFlag{Name: name, Usage: `policy JSON, e.g. {"enabled":true,"policy_name":"Sample Policy","block":["pii"]}`}
}

func policyFileFlag(name string) cli.Flag {
	return &cli.StringFlag{Name: name, Usage: "file holding the policy JSON"}
}

func presetFlag() cli.Flag {
	return &cli.StringFlag{Name: "preset", Usage: "use a preset policy instead of JSON: " + strings.Join(presetNames, ", ") + " (offline detectors only)"}
}

// serverFlags are the flags of add-server (required=true) and update-server.
func serverFlags(add bool) []cli.Flag {
	fs := []cli.Flag{
		&cli.StringFlag{Name: "server-name", Usage: "the server's name (becomes the tool prefix)"},
		&cli.StringFlag{Name: "server-command", Usage: "executable of a stdio server (an absolute path is safest)"},
		&cli.StringFlag{Name: "server-url", Usage: "URL of a remote (streamable HTTP) server, instead of --server-command"},
		&cli.StringFlag{Name: "args", Usage: "comma-separated arguments"},
		&cli.StringSliceFlag{Name: "arg", Usage: "one argument, kept whole even with commas (repeatable; appended after --args)"},
		&cli.StringFlag{Name: "env", Usage: `environment JSON object, e.g. {"API_TOKEN":"..."}`},
		&cli.StringFlag{Name: "tools", Usage: `tool allow-list JSON object, e.g. {"echo":{}}; {} allows every tool`},
		&cli.StringFlag{Name: "description", Usage: "description shown to the client"},
		&cli.StringFlag{Name: "denied-tools", Usage: `tools never listed nor callable, JSON: ["name", "glob_*", {"name":"...","reason":"..."}]; "*" denies all but --tools`},
	}
	if add {
		fs = append(fs,
			&cli.StringFlag{Name: "guardrails", Value: presetDefault, Usage: "guardrails preset for the new server: " + strings.Join(presetNames, ", ")},
			&cli.StringFlag{Name: "input-guardrails-policy", Usage: "input policy JSON (replaces the preset's)"},
			&cli.StringFlag{Name: "output-guardrails-policy", Usage: "output policy JSON (replaces the preset's)"},
			&cli.StringFlag{Name: "tool-guardrails-policy", Usage: "tool-definition policy JSON (replaces the preset's)"},
			sandboxPresetFlag)
	}
	return fs
}

// configRow is the JSON form of an MCP config in listings.
type configRow struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Servers  []string `json:"servers"`
	Projects []string `json:"projects"`
}

func configRowOf(c *config.Config, id string) configRow {
	m := c.MCPConfigs[id]
	r := configRow{ID: id, Name: m.Name, Servers: []string{}, Projects: []string{}}
	for _, s := range m.Servers {
		if s != nil {
			r.Servers = append(r.Servers, s.Name)
		}
	}
	for _, p := range c.ProjectsUsing(id) {
		r.Projects = append(r.Projects, projectName(c, p))
	}
	slices.Sort(r.Projects)
	return r
}

func configList(_ context.Context, cmd *cli.Command) error {
	c, _, err := loadAdminConfig(cmd)
	if err != nil {
		return err
	}
	rows := []configRow{}
	for _, id := range sortedIDs(c.MCPConfigs, func(id string) string { return configName(c, id) }) {
		if c.MCPConfigs[id] != nil {
			rows = append(rows, configRowOf(c, id))
		}
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

// newConfigName checks that name is usable for a new MCP config.
func newConfigName(c *config.Config, flag, name string) error {
	if strings.TrimSpace(name) == "" {
		return usageError("--%s is required", flag)
	}
	if ids := c.MCPConfigIDsByName(name); len(ids) > 0 {
		return adminError("an MCP config named %q already exists (ID %s); choose another name", name, ids[0])
	}
	return nil
}

func configAdd(_ context.Context, cmd *cli.Command) error {
	name, id := cmd.String("config-name"), newUUID()
	err := updateAdminConfig(cmd, func(c *config.Config) error {
		if err := newConfigName(c, "config-name", name); err != nil {
			return err
		}
		if c.MCPConfigs == nil {
			c.MCPConfigs = map[string]*config.MCPConfig{}
		}
		c.MCPConfigs[id] = &config.MCPConfig{Name: name, Servers: []*config.Server{}}
		return nil
	})
	if err != nil {
		return err
	}
	return done(cmd, fmt.Sprintf("Created MCP config %q (ID %s)", name, id), map[string]any{"id": id, "name": name})
}

// cloneMCPConfig deep-copies m through JSON, keeping unknown keys.
func cloneMCPConfig(m *config.MCPConfig) (*config.MCPConfig, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("copy config: %w", err)
	}
	var cp config.MCPConfig
	if err := json.Unmarshal(b, &cp); err != nil {
		return nil, fmt.Errorf("copy config: %w", err)
	}
	return &cp, nil
}

func configCopy(_ context.Context, cmd *cli.Command) error {
	target, id := cmd.String("target-config"), newUUID()
	var source string
	err := updateAdminConfig(cmd, func(c *config.Config) error {
		src, err := resolveConfigRef(c, "source-config", cmd.String("source-config"))
		if err != nil {
			return err
		}
		if err := newConfigName(c, "target-config", target); err != nil {
			return err
		}
		cp, err := cloneMCPConfig(c.MCPConfigs[src])
		if err != nil {
			return err
		}
		source = c.MCPConfigs[src].Name
		cp.Name = target
		c.MCPConfigs[id] = cp
		return nil
	})
	if err != nil {
		return err
	}
	return done(cmd, fmt.Sprintf("Copied MCP config %q to %q (ID %s)", source, target, id), map[string]any{"id": id, "name": target})
}

func configRename(_ context.Context, cmd *cli.Command) error {
	newName := cmd.String("new-name")
	var old, id string
	err := updateAdminConfig(cmd, func(c *config.Config) error {
		var m *config.MCPConfig
		var err error
		if id, m, err = resolveConfig(cmd, c); err != nil {
			return err
		}
		if err := newConfigName(c, "new-name", newName); err != nil {
			return err
		}
		old, m.Name = m.Name, newName
		return nil
	})
	if err != nil {
		return err
	}
	return done(cmd, fmt.Sprintf("Renamed MCP config %q to %q", old, newName), map[string]any{"id": id, "name": newName})
}

// shownServer returns a copy of s that is safe to print: env and header
// values and OAuth secrets are masked.
func shownServer(s *config.Server) *config.Server {
	cp := *s
	cp.Config.Env = maskMap(s.Config.Env)
	cp.Config.Headers = maskMap(s.Config.Headers)
	cp.OAuth = s.OAuth.Redacted()
	cp.OAuthLogin = s.OAuthLogin.Redacted()
	return &cp
}

func maskMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k := range m {
		out[k] = secret.Masked
	}
	return out
}

func configGet(_ context.Context, cmd *cli.Command) error {
	c, _, err := loadAdminConfig(cmd)
	if err != nil {
		return err
	}
	id, m, err := resolveConfig(cmd, c)
	if err != nil {
		return err
	}
	row := configRowOf(c, id)
	servers := []*config.Server{}
	for _, s := range m.Servers {
		if s != nil {
			servers = append(servers, shownServer(s))
		}
	}
	v := map[string]any{"id": id, "name": m.Name, "projects": row.Projects, "servers": servers}
	return out(cmd, v, func(w io.Writer) error {
		fmt.Fprintf(w, "Name:      %s\nID:        %s\nProjects:  %s\n\n", m.Name, id, orDash(strings.Join(row.Projects, ", ")))
		return serverTable(w, m)
	})
}

func serverTable(w io.Writer, m *config.MCPConfig) error {
	var t [][]string
	for _, s := range m.Servers {
		if s == nil {
			continue
		}
		target := s.Config.URL
		if target == "" {
			target = strings.TrimSpace(s.Config.Command + " " + strings.Join(s.Config.Args, " "))
		}
		tools := "all"
		if len(s.Tools) > 0 {
			tools = strings.Join(slices.Sorted(maps.Keys(s.Tools)), ", ")
		}
		guards := []string{}
		if s.InputGuardrailsPolicy != nil && s.InputGuardrailsPolicy.Enabled {
			guards = append(guards, "input")
		}
		if s.OutputGuardrailsPolicy != nil && s.OutputGuardrailsPolicy.Enabled {
			guards = append(guards, "output")
		}
		t = append(t, []string{s.Name, target, tools, orDash(strings.Join(guards, "+")), orDash(s.Description)})
	}
	return printTable(w, []string{"SERVER", "COMMAND/URL", "TOOLS", "GUARDRAILS", "DESCRIPTION"}, t)
}

func configRemove(_ context.Context, cmd *cli.Command) error {
	var name string
	err := updateAdminConfig(cmd, func(c *config.Config) error {
		id, m, err := resolveConfig(cmd, c)
		if err != nil {
			return err
		}
		if users := c.ProjectsUsing(id); len(users) > 0 {
			return adminError("MCP config %q is used by project(s) %s; assign them another config or run \"project unassign-config\" first",
				m.Name, names(users, func(id string) string { return projectName(c, id) }))
		}
		name = m.Name
		delete(c.MCPConfigs, id)
		return nil
	})
	if err != nil {
		return err
	}
	return done(cmd, fmt.Sprintf("Removed MCP config %q", name), nil)
}

func configListProjects(_ context.Context, cmd *cli.Command) error {
	c, _, err := loadAdminConfig(cmd)
	if err != nil {
		return err
	}
	id, _, err := resolveConfig(cmd, c)
	if err != nil {
		return err
	}
	rows := []projectRow{}
	for _, p := range sortedIDs(sliceSet(c.ProjectsUsing(id)), func(id string) string { return projectName(c, id) }) {
		rows = append(rows, projectRowOf(c, p))
	}
	return out(cmd, rows, func(w io.Writer) error { return projectTable(w, rows) })
}

func sliceSet(ids []string) map[string]bool {
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}

func configListServers(_ context.Context, cmd *cli.Command) error {
	c, _, err := loadAdminConfig(cmd)
	if err != nil {
		return err
	}
	_, m, err := resolveConfig(cmd, c)
	if err != nil {
		return err
	}
	servers := []*config.Server{}
	for _, s := range m.Servers {
		if s != nil {
			servers = append(servers, shownServer(s))
		}
	}
	return out(cmd, servers, func(w io.Writer) error { return serverTable(w, m) })
}

// findServer returns the index of --server-name in m.
func findServer(cmd *cli.Command, m *config.MCPConfig) (int, error) {
	name := cmd.String("server-name")
	if name == "" {
		return 0, usageError("--server-name is required")
	}
	for i, s := range m.Servers {
		if s != nil && s.Name == name {
			return i, nil
		}
	}
	return 0, adminError("server %q not found in MCP config %q", name, m.Name)
}

func configGetServer(_ context.Context, cmd *cli.Command) error {
	c, _, err := loadAdminConfig(cmd)
	if err != nil {
		return err
	}
	_, m, err := resolveConfig(cmd, c)
	if err != nil {
		return err
	}
	i, err := findServer(cmd, m)
	if err != nil {
		return err
	}
	// The server entry is nested JSON either way; text output is the same
	// indented JSON, with secrets masked.
	return printJSON(cmd.Root().Writer, shownServer(m.Servers[i]))
}

// applyServerFlags sets the fields of s that the command's flags give.
func applyServerFlags(cmd *cli.Command, s *config.Server) error {
	if cmd.IsSet("server-command") && cmd.IsSet("server-url") {
		return usageError("give only one of --server-command and --server-url")
	}
	if cmd.IsSet("server-command") {
		s.Config.Command, s.Config.URL = cmd.String("server-command"), ""
	}
	if cmd.IsSet("server-url") {
		s.Config.URL, s.Config.Command = cmd.String("server-url"), ""
	}
	if cmd.IsSet("args") || cmd.IsSet("arg") {
		args := []string{}
		if a := cmd.String("args"); a != "" {
			for _, part := range strings.Split(a, ",") {
				args = append(args, strings.TrimSpace(part))
			}
		}
		s.Config.Args = append(args, cmd.StringSlice("arg")...)
	}
	if cmd.IsSet("env") {
		var env map[string]string
		if _, err := readJSONFlag(cmd, "env", "", &env); err != nil {
			return err
		}
		s.Config.Env = env
	}
	if cmd.IsSet("tools") {
		var tools map[string]json.RawMessage
		if _, err := readJSONFlag(cmd, "tools", "", &tools); err != nil {
			return err
		}
		if tools == nil {
			tools = map[string]json.RawMessage{}
		}
		s.Tools = tools
	}
	if cmd.IsSet("description") {
		s.Description = cmd.String("description")
	}
	if cmd.IsSet("denied-tools") {
		var denied []config.DeniedTool
		if _, err := readJSONFlag(cmd, "denied-tools", "", &denied); err != nil {
			return err
		}
		s.DeniedTools = denied
	}
	for _, p := range []struct {
		flag string
		dst  **config.Policy
	}{{"input-guardrails-policy", &s.InputGuardrailsPolicy}, {"output-guardrails-policy", &s.OutputGuardrailsPolicy}, {"tool-guardrails-policy", &s.ToolGuardrailsPolicy}} {
		if !slices.ContainsFunc(cmd.Flags, func(f cli.Flag) bool { return slices.Contains(f.Names(), p.flag) }) {
			continue
		}
		var pol config.Policy
		ok, err := readJSONFlag(cmd, p.flag, "", &pol)
		if err != nil {
			return err
		}
		if ok {
			*p.dst = &pol
		}
	}
	return nil
}

func configAddServer(_ context.Context, cmd *cli.Command) error {
	name := cmd.String("server-name")
	if name == "" {
		return usageError("--server-name is required")
	}
	if cmd.String("server-command") == "" && cmd.String("server-url") == "" {
		return usageError("--server-command (or --server-url) is required")
	}
	preset := cmd.String("guardrails")
	in, outp, tool, err := guardrailPreset(preset)
	if err != nil {
		return err
	}
	var cfgName string
	var added *config.Server
	err = updateAdminConfig(cmd, func(c *config.Config) error {
		_, m, err := resolveConfig(cmd, c)
		if err != nil {
			return err
		}
		if _, exists := m.Server(name); exists {
			return adminError("MCP config %q already has a server named %q\nhint: use config update-server to change it", m.Name, name)
		}
		s := &config.Server{Name: name, Tools: map[string]json.RawMessage{}, CreatedAt: timestamp(),
			InputGuardrailsPolicy: in, OutputGuardrailsPolicy: outp, ToolGuardrailsPolicy: tool}
		if err := applyServerFlags(cmd, s); err != nil {
			return err
		}
		if p := cmd.String("sandbox"); p != "" && s.Config.Command != "" {
			if s.Sandbox, err = sandboxPreset(p); err != nil {
				return err
			}
		}
		m.Servers = append(m.Servers, s)
		cfgName, added = m.Name, s
		return nil
	})
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("Added server %q to MCP config %q\nGuardrails (preset %q):\n  input:            %s\n  output:           %s\n  tool definitions: %s",
		name, cfgName, preset, describePolicy(added.InputGuardrailsPolicy), describePolicy(added.OutputGuardrailsPolicy), describePolicy(added.ToolGuardrailsPolicy))
	if preset == presetOff {
		msg += "\nWarning: calls to this server are not checked; turn guardrails on with config update-server-guardrails --preset default"
	}
	if n := len(added.DeniedTools); n > 0 {
		msg += fmt.Sprintf("\nDenied tools: %d pattern(s)", n)
	}
	return done(cmd, msg, map[string]any{"server_name": name, "guardrails": map[string]any{"preset": preset,
		"input_guardrails_policy": added.InputGuardrailsPolicy, "output_guardrails_policy": added.OutputGuardrailsPolicy,
		"tool_guardrails_policy": added.ToolGuardrailsPolicy}})
}

func configUpdateServer(_ context.Context, cmd *cli.Command) error {
	var cfgName string
	err := updateAdminConfig(cmd, func(c *config.Config) error {
		_, m, err := resolveConfig(cmd, c)
		if err != nil {
			return err
		}
		i, err := findServer(cmd, m)
		if err != nil {
			return err
		}
		if err := applyServerFlags(cmd, m.Servers[i]); err != nil {
			return err
		}
		m.Servers[i].UpdatedAt = timestamp()
		cfgName = m.Name
		return nil
	})
	if err != nil {
		return err
	}
	return done(cmd, fmt.Sprintf("Updated server %q of MCP config %q", cmd.String("server-name"), cfgName), nil)
}

func configRemoveServer(_ context.Context, cmd *cli.Command) error {
	var cfgName string
	err := updateAdminConfig(cmd, func(c *config.Config) error {
		_, m, err := resolveConfig(cmd, c)
		if err != nil {
			return err
		}
		i, err := findServer(cmd, m)
		if err != nil {
			return err
		}
		m.Servers = slices.Delete(m.Servers, i, i+1)
		cfgName = m.Name
		return nil
	})
	if err != nil {
		return err
	}
	return done(cmd, fmt.Sprintf("Removed server %q from MCP config %q", cmd.String("server-name"), cfgName), nil)
}

func configRemoveAllServers(_ context.Context, cmd *cli.Command) error {
	var cfgName string
	var n int
	err := updateAdminConfig(cmd, func(c *config.Config) error {
		_, m, err := resolveConfig(cmd, c)
		if err != nil {
			return err
		}
		n, cfgName, m.Servers = len(m.Servers), m.Name, []*config.Server{}
		return nil
	})
	if err != nil {
		return err
	}
	return done(cmd, fmt.Sprintf("Removed %d server(s) from MCP config %q", n, cfgName), map[string]any{"removed": n})
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
			r.Errors = append(r.Errors, p.String()+"\n  hint: "+p.Fix)
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
			return &exitError{1, err}
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
		return &exitError{1, fmt.Errorf("%s has %d problem(s); it is refused until they are fixed", scope, len(r.Errors))}
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

func configExport(_ context.Context, cmd *cli.Command) error {
	file := cmd.String("output-file")
	if file == "" {
		return usageError("--output-file is required")
	}
	c, _, err := loadAdminConfig(cmd)
	if err != nil {
		return err
	}
	_, m, err := resolveConfig(cmd, c)
	if err != nil {
		return err
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

func configImport(_ context.Context, cmd *cli.Command) error {
	file, name, id := cmd.String("input-file"), cmd.String("config-name"), newUUID()
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
	err = updateAdminConfig(cmd, func(c *config.Config) error {
		if err := newConfigName(c, "config-name", name); err != nil {
			return err
		}
		m.Name = name
		if c.MCPConfigs == nil {
			c.MCPConfigs = map[string]*config.MCPConfig{}
		}
		c.MCPConfigs[id] = &m
		return nil
	})
	if err != nil {
		return err
	}
	return done(cmd, fmt.Sprintf("Imported MCP config %q (ID %s) with %d server(s)", name, id, len(m.Servers)), map[string]any{"id": id, "name": name})
}

// searchHit is one search result.
type searchHit struct {
	Type  string `json:"type"`
	ID    string `json:"id"`
	Name  string `json:"name"`
	Match string `json:"match"`
}

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

func configSearch(_ context.Context, cmd *cli.Command) error {
	term, err := searchTerm(cmd)
	if err != nil {
		return err
	}
	c, _, err := loadAdminConfig(cmd)
	if err != nil {
		return err
	}
	var hits []searchHit
	for _, id := range sortedIDs(c.MCPConfigs, func(id string) string { return configName(c, id) }) {
		m := c.MCPConfigs[id]
		if m == nil {
			continue
		}
		if strings.Contains(strings.ToLower(m.Name), term) || strings.HasPrefix(id, term) {
			hits = append(hits, searchHit{"config", id, m.Name, "name"})
		}
		for _, s := range m.Servers {
			if s == nil {
				continue
			}
			for _, f := range []struct{ what, val string }{
				{"server name", s.Name}, {"description", s.Description}, {"command", s.Config.Command}, {"url", s.Config.URL},
			} {
				if f.val != "" && strings.Contains(strings.ToLower(f.val), term) {
					hits = append(hits, searchHit{"server", id, m.Name + "/" + s.Name, f.what})
					break
				}
			}
		}
	}
	return searchTable(cmd, hits)
}

// configUpdatePolicy sets a server's guardrail policies; which is "input",
// "output" or "both".
func configUpdatePolicy(which string) cli.ActionFunc {
	return func(_ context.Context, cmd *cli.Command) error {
		type src struct{ flag, file, dir string }
		var srcs []src
		switch which {
		case "input":
			srcs = []src{{"policy", "policy-file", "input"}}
		case "output":
			srcs = []src{{"policy", "policy-file", "output"}}
		case "tool":
			srcs = []src{{"policy", "policy-file", "tool"}}
		default:
			srcs = []src{{"input-policy", "input-policy-file", "input"}, {"output-policy", "output-policy-file", "output"}}
		}
		policies := map[string]*config.Policy{}
		if p := cmd.String("preset"); p != "" {
			in, out, tool, err := guardrailPreset(p)
			if err != nil {
				return err
			}
			presets := map[string]*config.Policy{"input": in, "output": out, "tool": tool}
			for _, s := range srcs {
				pol := presets[s.dir]
				if pol == nil { // "off": a disabled policy, kept in the file so it says so
					pol = &config.Policy{Enabled: false, PolicyName: "Off", Block: []string{}}
				}
				policies[s.dir] = pol
			}
		}
		for _, s := range srcs {
			var p config.Policy
			ok, err := readJSONFlag(cmd, s.flag, s.file, &p)
			if err != nil {
				return err
			}
			if ok {
				policies[s.dir] = &p
			}
		}
		if len(policies) == 0 {
			return usageError("give a policy: --%s, --%s or --preset\nhint: --preset default applies the offline detectors", srcs[0].flag, srcs[0].file)
		}
		var server string
		err := updateAdminConfig(cmd, func(c *config.Config) error {
			_, m, err := resolveConfig(cmd, c)
			if err != nil {
				return err
			}
			i, err := findServer(cmd, m)
			if err != nil {
				return err
			}
			s := m.Servers[i]
			if p := policies["input"]; p != nil {
				s.InputGuardrailsPolicy = p
			}
			if p := policies["output"]; p != nil {
				s.OutputGuardrailsPolicy = p
			}
			if p := policies["tool"]; p != nil {
				s.ToolGuardrailsPolicy = p
			}
			s.UpdatedAt, server = timestamp(), s.Name
			return nil
		})
		if err != nil {
			return err
		}
		dirs := slices.Sorted(maps.Keys(policies))
		var lines []string
		for _, d := range dirs {
			lines = append(lines, fmt.Sprintf("  %s: %s", d, describePolicy(policies[d])))
		}
		return done(cmd, fmt.Sprintf("Updated %s guardrails policy of server %q\n%s", strings.Join(dirs, " and "), server, strings.Join(lines, "\n")), nil)
	}
}
