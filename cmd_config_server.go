package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/urfave/cli/v3"

	"secure-mcp-gateway/admin"
	"secure-mcp-gateway/internal/config"
)

// This file holds the server commands of the "config" group: flags to
// admin requests, results to text or JSON.

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

func serverTable(w io.Writer, servers []*config.Server) error {
	var t [][]string
	for _, s := range servers {
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

func configListServers(ctx context.Context, cmd *cli.Command) error {
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	servers, err := st.ListServers(ctx, configRef(cmd))
	if err != nil {
		return cliError(err)
	}
	return out(cmd, servers, func(w io.Writer) error { return serverTable(w, servers) })
}

func configGetServer(ctx context.Context, cmd *cli.Command) error {
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	s, err := st.GetServer(ctx, serverRef(cmd))
	if err != nil {
		return cliError(err)
	}
	// The server entry is nested JSON either way; text output is the same
	// indented JSON, with secrets masked.
	return printJSON(cmd.Root().Writer, s)
}

// serverFields reads the server flags the command was given.
func serverFields(cmd *cli.Command) (admin.ServerFields, error) {
	var f admin.ServerFields
	str := func(flag string) *string {
		if !cmd.IsSet(flag) {
			return nil
		}
		v := cmd.String(flag)
		return &v
	}
	f.Command, f.URL, f.Description = str("server-command"), str("server-url"), str("description")
	if cmd.IsSet("args") || cmd.IsSet("arg") {
		args := []string{}
		if a := cmd.String("args"); a != "" {
			for _, part := range strings.Split(a, ",") {
				args = append(args, strings.TrimSpace(part))
			}
		}
		args = append(args, cmd.StringSlice("arg")...)
		f.Args = &args
	}
	if cmd.IsSet("env") {
		var env map[string]string
		if _, err := readJSONFlag(cmd, "env", "", &env); err != nil {
			return f, err
		}
		f.Env = &env
	}
	if cmd.IsSet("tools") {
		var tools map[string]json.RawMessage
		if _, err := readJSONFlag(cmd, "tools", "", &tools); err != nil {
			return f, err
		}
		f.Tools = &tools
	}
	if cmd.IsSet("denied-tools") {
		var denied []config.DeniedTool
		if _, err := readJSONFlag(cmd, "denied-tools", "", &denied); err != nil {
			return f, err
		}
		f.DeniedTools = &denied
	}
	for _, p := range []struct {
		flag string
		dst  **config.Policy
	}{{"input-guardrails-policy", &f.InputGuardrailsPolicy}, {"output-guardrails-policy", &f.OutputGuardrailsPolicy}, {"tool-guardrails-policy", &f.ToolGuardrailsPolicy}} {
		if !slices.ContainsFunc(cmd.Flags, func(fl cli.Flag) bool { return slices.Contains(fl.Names(), p.flag) }) {
			continue
		}
		var pol config.Policy
		ok, err := readJSONFlag(cmd, p.flag, "", &pol)
		if err != nil {
			return f, err
		}
		if ok {
			*p.dst = &pol
		}
	}
	return f, nil
}

func configAddServer(ctx context.Context, cmd *cli.Command) error {
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
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	req := admin.AddServerRequest{ServerRef: serverRef(cmd)}
	if req.ServerFields, err = serverFields(cmd); err != nil {
		return err
	}
	req.InputGuardrailsPolicy = cmp.Or(req.InputGuardrailsPolicy, in)
	req.OutputGuardrailsPolicy = cmp.Or(req.OutputGuardrailsPolicy, outp)
	req.ToolGuardrailsPolicy = cmp.Or(req.ToolGuardrailsPolicy, tool)
	if p := cmd.String("sandbox"); p != "" && cmd.String("server-command") != "" {
		if req.Sandbox, err = sandboxPreset(p); err != nil {
			return err
		}
	}
	r, err := st.AddServer(ctx, req)
	if err != nil {
		return cliError(err)
	}
	added := r.Server
	msg := fmt.Sprintf("Added server %q to MCP config %q\nGuardrails (preset %q):\n  input:            %s\n  output:           %s\n  tool definitions: %s",
		name, r.ConfigName, preset, describePolicy(added.InputGuardrailsPolicy), describePolicy(added.OutputGuardrailsPolicy), describePolicy(added.ToolGuardrailsPolicy))
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

func configUpdateServer(ctx context.Context, cmd *cli.Command) error {
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	req := admin.UpdateServerRequest{ServerRef: serverRef(cmd)}
	if req.ServerFields, err = serverFields(cmd); err != nil {
		return err
	}
	r, err := st.UpdateServer(ctx, req)
	if err != nil {
		return cliError(err)
	}
	return done(cmd, fmt.Sprintf("Updated server %q of MCP config %q", cmd.String("server-name"), r.ConfigName), nil)
}

func configRemoveServer(ctx context.Context, cmd *cli.Command) error {
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	cfgName, err := st.RemoveServer(ctx, serverRef(cmd))
	if err != nil {
		return cliError(err)
	}
	return done(cmd, fmt.Sprintf("Removed server %q from MCP config %q", cmd.String("server-name"), cfgName), nil)
}

func configRemoveAllServers(ctx context.Context, cmd *cli.Command) error {
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	n, cfgName, err := st.RemoveAllServers(ctx, configRef(cmd))
	if err != nil {
		return cliError(err)
	}
	return done(cmd, fmt.Sprintf("Removed %d server(s) from MCP config %q", n, cfgName), map[string]any{"removed": n})
}

// configUpdatePolicy sets a server's guardrail policies; which is "input",
// "output", "tool" or "both".
func configUpdatePolicy(which string) cli.ActionFunc {
	return func(ctx context.Context, cmd *cli.Command) error {
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
		st, err := adminStore(cmd)
		if err != nil {
			return err
		}
		r, err := st.SetServerPolicies(ctx, admin.SetPoliciesRequest{ServerRef: serverRef(cmd),
			InputGuardrailsPolicy: policies["input"], OutputGuardrailsPolicy: policies["output"], ToolGuardrailsPolicy: policies["tool"]})
		if err != nil {
			return cliError(err)
		}
		dirs := slices.Sorted(maps.Keys(policies))
		var lines []string
		for _, d := range dirs {
			lines = append(lines, fmt.Sprintf("  %s: %s", d, describePolicy(policies[d])))
		}
		return done(cmd, fmt.Sprintf("Updated %s guardrails policy of server %q\n%s", strings.Join(dirs, " and "), r.Server.Name, strings.Join(lines, "\n")), nil)
	}
}
