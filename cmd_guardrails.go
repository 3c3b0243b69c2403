package main

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v3"

	"secure-mcp-gateway/guard"
	"secure-mcp-gateway/internal/atomicfile"
	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/proxy"
)

// checkDetectors makes config validation (Load, Save, Update, Validate)
// check every block list against guard's detector Registry, so a detector
// added there is known to validation at once. Package config cannot import
// guard (see deps_test.go); every command that reads or writes a config
// passes it.
var checkDetectors = config.WithDetectors(detectorTable())

// detectorTable is guard's detector Registry, in config's terms.
func detectorTable() *config.Detectors {
	return &config.Detectors{Offline: guard.OfflineDetectors, Model: guard.ModelDetectors}
}

// Guardrail presets for --guardrails and --preset.
const (
	presetStrict  = "strict"
	presetDefault = "default"
	presetOff     = "off"
)

// presetNames lists the presets in the order help shows them.
var presetNames = []string{presetStrict, presetDefault, presetOff}

// guardrailPreset returns the input, output and tool-definition policies of
// a preset. They use offline detectors only, so they work with no guardrail
// provider. "off" returns nil policies.
func guardrailPreset(name string) (in, out, tool *config.Policy, err error) {
	switch name {
	case presetDefault:
		return &config.Policy{Enabled: true, PolicyName: "Default Policy",
				AdditionalConfig: map[string]any{"pii_redaction": false},
				Block:            []string{"pii", "secrets", "injection_attack", "hidden_text", "sponge_attack"}},
			&config.Policy{Enabled: true, PolicyName: "Default Policy",
				Block: []string{"secrets", "injection_attack", "hidden_text"}},
			&config.Policy{Enabled: true, PolicyName: "Default Policy",
				Block: []string{"injection_attack", "hidden_text", "tool_poisoning"}},
			nil
	case presetStrict:
		return &config.Policy{Enabled: true, PolicyName: "Strict Policy",
				AdditionalConfig: map[string]any{"pii_redaction": false},
				Block: []string{"pii", "secrets", "injection_attack", "hidden_text", "sponge_attack",
					guard.DetectorPathTraversal, guard.DetectorSSRF}},
			&config.Policy{Enabled: true, PolicyName: "Strict Policy",
				Block: []string{"pii", "secrets", "injection_attack", "hidden_text", "sponge_attack"}},
			&config.Policy{Enabled: true, PolicyName: "Strict Policy",
				Block: []string{"injection_attack", "hidden_text", "tool_poisoning", "secrets"}},
			nil
	case presetOff:
		return nil, nil, nil, nil
	}
	return nil, nil, nil, usageError("unknown guardrails preset %q\nhint: use one of %s", name, strings.Join(presetNames, ", "))
}

// describePolicy is a one-line summary of a policy for command output.
func describePolicy(p *config.Policy) string {
	if p == nil || !p.Enabled {
		return "off"
	}
	if len(p.Block) == 0 {
		return "on, but its block list is empty: it blocks nothing"
	}
	s := "blocks " + strings.Join(p.Block, ", ")
	if v, _ := p.AdditionalConfig["pii_redaction"].(bool); v {
		s += "; redacts PII"
	}
	return s
}

// providerProblem is a policy that lists detectors needing a guardrail
// provider the gateway cannot use: such a policy fails closed (every call,
// result or tool it checks is blocked), so it must be reported.
type providerProblem struct {
	Config    string   `json:"mcp_config"`
	Server    string   `json:"server"`
	Policy    string   `json:"policy"`
	Detectors []string `json:"detectors"`
	Why       string   `json:"why"`
	Fix       string   `json:"fix"`
	// Line is the problem as one line for logs, validate and instructions.
	Line string `json:"-"`
}

// providerProblems finds the policies of the servers of MCP config
// cfgName that cannot run because of the guardrail provider.
func providerProblems(cfg *config.Config, cfgName string, servers []*config.Server) []providerProblem {
	prov, perr := guard.NewProvider(cfg.Plugins.Guardrails, nil)
	var out []providerProblem
	for _, s := range servers {
		if s == nil {
			continue
		}
		for _, pp := range []struct {
			key, cmd string
			p        *config.Policy
		}{
			{"input_guardrails_policy", "update-server-input-guardrails", s.InputGuardrailsPolicy},
			{"output_guardrails_policy", "update-server-output-guardrails", s.OutputGuardrailsPolicy},
			{"tool_guardrails_policy", "update-server-tool-guardrails", s.ToolGuardrailsPolicy},
		} {
			if pp.p == nil || !pp.p.Enabled {
				continue
			}
			var model []string
			for _, d := range pp.p.Block {
				if d = strings.TrimSpace(d); guard.IsModelDetector(d) && !slices.Contains(model, d) {
					model = append(model, d)
				}
			}
			if len(model) == 0 {
				continue
			}
			offline := fmt.Sprintf("secure-mcp-gateway config %s --config-name %s --server-name %s --preset default",
				pp.cmd, shellJoin([]string{cfgName}), shellJoin([]string{s.Name}))
			p := providerProblem{Config: cfgName, Server: s.Name, Policy: pp.key, Detectors: model}
			switch {
			case pp.key == "tool_guardrails_policy":
				p.Why = "which tool-definition checks do not run (they are offline only), so every tool of the server is withheld"
				p.Fix = "switch the policy to the offline detectors: " + offline
			case perr != nil:
				p.Why = "which need a remote guardrail provider, and there is none: " + strings.TrimPrefix(perr.Error(), guard.ErrNoProvider.Error()+": ")
				p.Fix = "switch the policy to the offline detectors: " + offline + " (or configure the provider in plugins.guardrails)"
			default:
				var unsupported []string
				for _, d := range model {
					if !prov.Supports(d) {
						unsupported = append(unsupported, d)
					}
				}
				if len(unsupported) == 0 {
					continue
				}
				p.Detectors = unsupported
				p.Why = fmt.Sprintf("which guardrail provider %q cannot run", prov.Name())
				p.Fix = "switch the policy to the offline detectors: " + offline + " (or use provider \"enkrypt\")"
			}
			p.Line = fmt.Sprintf("server %q (MCP config %q): %s lists %s, %s; it fails closed until fixed", p.Server, p.Config, p.Policy, strings.Join(p.Detectors, ", "), p.Why)
			out = append(out, p)
		}
	}
	return out
}

// sessionInstructions are the initialize instructions of a session whose
// servers have provider problems: the default text, then each problem
// with its fix, so the client shows why tools are missing or calls fail.
func sessionInstructions(problems []providerProblem) string {
	if len(problems) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(proxy.DefaultInstructions)
	b.WriteString("\n\nGuardrail configuration problems (the gateway fails closed on these):")
	for _, p := range problems {
		fmt.Fprintf(&b, "\n- %s. Fix: %s", p.Line, p.Fix)
	}
	return b.String()
}

// logConfigWarnings logs, once at start, every unknown key of the config
// file and one line per server whose policy fails closed for want of a
// guardrail provider.
func logConfigWarnings(cfg *config.Config, path string, log *zerolog.Logger) {
	for _, u := range cfg.UnknownKeys() {
		log.Warn().Str("file", path).Str("path", u.Path).Str("hint", u.Fix).Msg(u.Problem)
	}
	for _, id := range slices.Sorted(maps.Keys(cfg.MCPConfigs)) {
		m := cfg.MCPConfigs[id]
		if m == nil {
			continue
		}
		for _, p := range providerProblems(cfg, m.Name, m.Servers) {
			log.Warn().Str("server", p.Server).Str("mcp_config", p.Config).Str("policy", p.Policy).Str("hint", p.Fix).Msg(p.Line)
		}
	}
}

// strictUnknownKeys refuses a config with unknown keys when --strict is
// given.
func strictUnknownKeys(cmd *cli.Command, cfg *config.Config, path string) error {
	unknown := cfg.UnknownKeys()
	if !cmd.Bool("strict") || len(unknown) == 0 {
		return nil
	}
	return cli.Exit(&config.FileError{Path: path, Err: &config.ValidationError{Problems: unknown}}, exitConfig)
}

// writeSchemaBeside writes the config's JSON Schema next to the config file
// at path, where the "$schema": "./enkrypt_mcp_config.schema.json" of a
// generated config finds it.
func writeSchemaBeside(path string) error {
	b, err := config.Schema(detectorTable())
	if err != nil {
		return err
	}
	p := filepath.Join(filepath.Dir(path), config.SchemaFileName)
	if err := atomicfile.WriteFile(p, b, 0o644); err != nil {
		return fmt.Errorf("write config schema %s: %w", p, err)
	}
	return nil
}
